"""Fixtures shared by the integration tests."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.uow import Store
from tests.helpers.bot import point_cli_at
from tests.helpers.slack import fake_slack  # noqa: F401  (the fake Slack Web API)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sqlite_url: str) -> str:
    """The in-process CLI on a SQLite database in ``tmp_path``; returns its URL."""
    point_cli_at(monkeypatch, tmp_path, sqlite_url)
    return sqlite_url


@pytest.fixture
def week_store(sqlite_url: str) -> Iterator[Store]:
    """A migrated SQLite database for the first-week scenarios (tests/integration/first_week.py)."""
    store = Store.from_url(sqlite_url)
    store.upgrade()
    yield store
    store.close()
