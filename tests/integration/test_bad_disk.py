"""A SQLite file that cannot be written (disk full, read-only): a clear error, no partial state,
and the message is handled once space (or the permission) comes back (issue #17)."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from bot.app import App
from bot.core import FakeClock
from storage.uow import Store
from tests.helpers.bot import Bot, RecordingConsole, make_settings
from tests.helpers.campaigns import AGENTS, launched

# SQLite refusing every write: "attempt to write a readonly database".
FAULTS = {"read-only": "PRAGMA query_only = ON"}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("fault", sorted(FAULTS))
async def test_unwritable_sqlite_file_waits_and_recovers(
    bot: Bot, fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    await launched(bot)
    engine = bot.store.database.engine
    broken = {"on": True}

    @event.listens_for(engine, "connect")
    def _refuse_writes(dbapi_connection: Any, _record: Any) -> None:
        if broken["on"]:
            dbapi_connection.execute(FAULTS[fault])

    engine.dispose()  # every new connection gets the fault
    before = bot.platform.journal.messages[:]
    handling = asyncio.ensure_future(bot.say(AGENTS[0], "c'est fait"))
    await asyncio.sleep(1.0)  # the bot meets the fault and waits; not a wait for a result
    assert not handling.done()
    assert not bot.app.health.up
    assert "libérez de l'espace ou rétablissez les droits" in caplog.text
    assert bot.platform.journal.messages == before  # nothing half-done, nothing sent

    broken["on"] = False
    engine.dispose()  # space is back: fresh connections
    replies = await asyncio.wait_for(handling, 60)
    assert any("Bravo" in reply for reply in replies)
    assert bot.app.health.up
    assert len([text for text in bot.inbox(AGENTS[0]) if "Bravo" in text]) == 1
    assert "Traceback" not in caplog.text


@pytest.fixture
def small_disk() -> Iterator[Path]:
    """A 3 MB tmpfs: a real full disk (needs the right to mount; skipped otherwise)."""
    where = Path(tempfile.mkdtemp(prefix="pixbot-disk-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        where.rmdir()
        pytest.skip("cannot mount a small tmpfs here (needs root): disk-full test skipped")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False)
        where.rmdir()


async def test_full_disk_waits_and_recovers_when_space_returns(
    small_disk: Path, tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{small_disk / 'pixbot.db'}"
    store = Store.from_url(url)
    store.upgrade()
    platform = RecordingConsole(journal_path=tmp_path / "console.jsonl")
    bot = Bot(App(make_settings(url), store, platform, clock=clock), platform, clock)
    try:
        await launched(bot)
        filler = small_disk / "filler"
        # The file closes inside the suppression: closing flushes what the last write could not.
        with contextlib.suppress(OSError), filler.open("wb") as handle:
            while True:  # take every byte left
                handle.write(b"\0" * 65536)
                handle.flush()
        before = platform.journal.messages[:]
        handling = asyncio.ensure_future(bot.say(AGENTS[0], "c'est fait"))
        await asyncio.sleep(1.0)  # the bot meets the full disk and waits; not a result wait
        assert not handling.done()
        assert not bot.app.health.up
        assert "libérez de l'espace" in caplog.text
        assert platform.journal.messages == before

        filler.unlink()  # space is back
        replies = await asyncio.wait_for(handling, 60)
        assert any("Bravo" in reply for reply in replies)
        assert bot.app.health.up
        assert len([text for text in bot.inbox(AGENTS[0]) if "Bravo" in text]) == 1
    finally:
        store.close()
    assert "Traceback" not in caplog.text
