"""How the command-line imports pace their writes (#14, #18): short batches with a pause only
while a running bot shares a SQLite database; bulk batches otherwise. The import's result is
the same whatever the pacing."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app as cli
from bot.cli.csvio import BULK_IMPORT_BATCH, import_pacing
from bot.config import LimitsSection, load_settings
from storage.lock import InstanceLock
from storage.uow import Store

runner = CliRunner()


def test_no_running_bot_means_bulk_batches_without_pause(store: Store) -> None:
    size, pause = import_pacing(LimitsSection(), store)
    assert (size, pause()) == (BULK_IMPORT_BATCH, 0.0)


def test_a_running_bot_is_seen_without_taking_its_lock(store: Store) -> None:
    bot = InstanceLock(store.database)
    other = InstanceLock(store.database)
    assert not other.held_elsewhere()
    assert bot.acquire()
    try:
        assert other.held_elsewhere()
        assert other.held_elsewhere()  # asking twice does not take the lock
    finally:
        bot.release()
    assert not other.held_elsewhere()
    assert other.acquire()  # the probe left the lock free
    other.release()


def test_a_bot_on_the_same_sqlite_database_gets_short_batches_and_pauses(
    store: Store, db_url: str
) -> None:
    limits = load_settings(None, limits={"import_batch": 50, "import_pause": 0.05}).limits
    bot = InstanceLock(store.database)
    assert bot.acquire()
    try:
        size, pause = import_pacing(limits, store)
        paused = pause()
    finally:
        bot.release()
    if db_url.startswith("sqlite"):
        assert (size, paused) == (50, 0.05)
        assert pause() == 0.0  # the bot stopped: no more pauses
    else:  # PostgreSQL has no database-wide write lock: nobody is starved
        assert (size, paused) == (BULK_IMPORT_BATCH, 0.0)


def test_a_bot_started_during_a_bulk_import_gets_the_pauses(store: Store, db_url: str) -> None:
    limits = load_settings(None, limits={"import_pause": 0.05}).limits
    size, pause = import_pacing(limits, store)
    assert (size, pause()) == (BULK_IMPORT_BATCH, 0.0)
    bot = InstanceLock(store.database)
    assert bot.acquire()
    try:
        assert pause() == (0.05 if db_url.startswith("sqlite") else 0.0)
    finally:
        bot.release()


def test_import_result_does_not_depend_on_pacing(
    store: Store, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PIXBOT_CONFIG", raising=False)
    monkeypatch.setenv("PIXBOT_BOT__DATABASE_URL", db_url)
    monkeypatch.setenv("PIXBOT_LIMITS__IMPORT_BATCH", "7")
    monkeypatch.setenv("PIXBOT_LIMITS__IMPORT_PAUSE", "0")
    path = tmp_path / "agents.csv"
    lines = [f"@a{n}:console,Agent {n},DNUM,a{n}@x.gouv.fr" for n in range(30)]
    path.write_text("id,display_name,service,email\n" + "\n".join(lines) + "\n", encoding="utf-8")
    bot = InstanceLock(store.database)
    assert bot.acquire()
    try:  # short batches of 7 on SQLite
        first = runner.invoke(cli, ["agents", "import", str(path)])
    finally:
        bot.release()
    second = runner.invoke(cli, ["agents", "import", str(path)])  # bulk
    assert first.exit_code == 0, first.output
    assert "30 agents importés (30 nouveaux, 0 mis à jour)." in first.output
    assert "30 agents importés (0 nouveau, 30 mis à jour)." in second.output
    with store.transaction() as uow:
        assert len(uow.people.in_service("DNUM")) == 30
        assert uow.people.by_email("A29@x.gouv.fr") is not None
