"""Shared fixtures: databases (SQLite and PostgreSQL), a console bot with a fake clock."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bot.app import App
from bot.core import FakeClock
from storage.uow import Store
from tests.helpers.bot import Bot, RecordingConsole, make_settings, point_cli_at
from tests.helpers.pgserver import PrivatePostgres, private_postgres_server
from tests.helpers.synapse import synapse  # noqa: F401  (one Synapse for the whole session)

POSTGRES_URL = os.environ.get(
    "PIXBOT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
POSTGRES_REQUIRED = os.environ.get("PIXBOT_TEST_POSTGRES_REQUIRED") == "1"


def _postgres_problem() -> str | None:
    try:
        engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("select 1"))
        engine.dispose()
    except Exception as exc:
        return f"no PostgreSQL server answers at {POSTGRES_URL}: {type(exc).__name__}"
    return None


_PG_PROBLEM: str | bool | None = False


def postgres_problem() -> str | None:
    global _PG_PROBLEM
    if _PG_PROBLEM is False:
        _PG_PROBLEM = _postgres_problem()
    return _PG_PROBLEM  # type: ignore[return-value]


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh schema in the PostgreSQL test database, dropped afterwards."""
    problem = postgres_problem()
    if problem:
        if POSTGRES_REQUIRED:
            pytest.fail(problem)
        pytest.skip(problem)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'pixbot.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'pixbot.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    store = Store.from_url(db_url)
    store.upgrade()
    yield store
    store.close()


@pytest.fixture
def clock() -> FakeClock:
    # Monday 23 November 2026, 10:00 in Paris.
    return FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))


@pytest.fixture
def bot(store: Store, clock: FakeClock, tmp_path: Path, db_url: str) -> Bot:
    settings = make_settings(db_url, admins=["@admin:console"])
    platform = RecordingConsole(journal_path=tmp_path / "console.jsonl")
    platform.journal.load()
    app = App(settings, store, platform, clock=clock)
    return Bot(app, platform, clock)


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, db_url: str, tmp_path: Path) -> Path:
    """The ``pixbot`` CLI run in-process on the test database, in ``tmp_path``, with live
    figures (the CLI runs on the real clock, the bot on a fake one)."""
    point_cli_at(monkeypatch, tmp_path, db_url)
    monkeypatch.setenv("PIXBOT_STATS__REFRESH", "live")
    return tmp_path


@pytest.fixture(scope="module")
def private_pg() -> Iterator[PrivatePostgres]:
    """A PostgreSQL server of the module's own (initdb, own port) that tests may stop and
    restart; never the shared one."""
    yield from private_postgres_server()


@pytest.fixture
def pg_url(private_pg: PrivatePostgres) -> str:
    """A fresh database on the private server."""
    return private_pg.create_database(f"t_{uuid.uuid4().hex[:10]}")


@pytest.fixture(autouse=True)
def _operator_language_back_to_french() -> Iterator[None]:
    """``pixbot --lang en`` run in-process (CliRunner) sets the operator's language for the
    process: each test starts and ends in pixbot's default, French."""
    from bot import translation

    translation.set_language("fr")
    yield
    translation.set_language("fr")
