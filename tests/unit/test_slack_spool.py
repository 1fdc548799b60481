"""The Slack spool file: what is acknowledged is on disk, read back in order, and emptied."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.core import Incoming
from bot.platforms.slack import spool as spool_module
from bot.platforms.slack.spool import Spool, SpoolLocked


def message(number: int, conversation: str = "DALICE") -> Incoming:
    return Incoming(
        platform="slack",
        event_id=f"{conversation}/1700000000.{number:06d}",
        sender_id="UALICE",
        text=f"message {number} « é » <&>",
        conversation_id=conversation,
        is_direct=True,
        timestamp=datetime(2026, 11, 23, 9, 0, number, tzinfo=UTC),
        sender_name="Alice",
        relates_to="1700000000.000042",
    )


async def test_an_added_event_is_on_disk_and_read_back_by_the_next_process(
    tmp_path: Path,
) -> None:
    path = tmp_path / "spool.jsonl"
    first = Spool(path)
    assert first.open() == []
    assert await first.add(message(1)) and await first.add(message(2, "DBOB"))
    assert await first.add(message(3))
    first.close()  # like a crash: nothing else is written on the way out
    assert path.stat().st_mode & 0o777 == 0o600
    second = Spool(path)
    assert second.open() == [message(1), message(2, "DBOB"), message(3)]
    await second.done(message(2, "DBOB").event_id)
    second.close()
    third = Spool(path)
    assert third.open() == [message(1), message(3)]
    await third.done(message(1).event_id)
    await third.done(message(3).event_id)
    assert path.stat().st_size == 0  # nothing pending: the file holds nobody's words
    third.close()


async def test_a_redelivery_is_not_kept_twice_even_while_the_first_is_being_written(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path / "spool.jsonl")
    spool.open()
    results = await asyncio.gather(spool.add(message(1)), spool.add(message(1)))
    assert sorted(results) == [False, True]
    assert not await spool.add(message(1))
    await spool.done(message(1).event_id)
    assert not await spool.add(message(1))  # handled just now by this process
    spool.close()
    assert Spool(tmp_path / "spool.jsonl").open() == []


async def test_a_torn_last_line_is_dropped_and_the_journal_stays_usable(tmp_path: Path) -> None:
    path = tmp_path / "spool.jsonl"
    spool = Spool(path)
    spool.open()
    await spool.add(message(1))
    spool.close()
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"add": {"event_id": "DALICE/17')  # a crash in the middle of a write
    spool = Spool(path)
    assert spool.open() == [message(1)]
    await spool.add(message(2))
    spool.close()
    assert Spool(path).open() == [message(1), message(2)]


async def test_the_journal_is_compacted_while_events_stay_pending(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spool_module, "COMPACT_AT", 6)
    path = tmp_path / "spool.jsonl"
    spool = Spool(path)
    spool.open()
    await spool.add(message(0))  # stays pending throughout
    for number in range(1, 20):
        await spool.add(message(number))
        await spool.done(message(number).event_id)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 6
    assert json.loads(lines[0])["add"]["event_id"] == message(0).event_id
    spool.close()
    assert Spool(path).open() == [message(0)]


async def test_a_second_process_cannot_use_the_same_spool(tmp_path: Path) -> None:
    path = tmp_path / "spool.jsonl"
    first = Spool(path)
    first.open()
    with pytest.raises(SpoolLocked):
        Spool(path).open()
    first.close()
    Spool(path).open()


async def test_a_full_disk_refuses_the_event_and_keeps_nothing(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.jsonl")
    spool.open()
    full = os.open("/dev/full", os.O_WRONLY)
    assert spool._descriptor is not None
    os.dup2(full, spool._descriptor)  # every write now fails with ENOSPC
    os.close(full)
    with pytest.raises(OSError):
        await spool.add(message(1))
    assert message(1).event_id not in spool and len(spool) == 0
    spool.close()


def test_the_spool_sits_next_to_the_sqlite_database_unless_configured() -> None:
    from bot.config import load_settings
    from bot.runner import slack_spool_path

    def path(**slack: str) -> Path:
        database = "sqlite:////srv/pixbot/pixbot.db"
        return slack_spool_path(load_settings(None, bot={"database_url": database}, slack=slack))

    assert path() == Path("/srv/pixbot/pixbot.slack-spool.jsonl")
    assert path(spool_path="/var/lib/pixbot/spool.jsonl") == Path("/var/lib/pixbot/spool.jsonl")
    postgres = load_settings(None, bot={"database_url": "postgresql+psycopg://db/pixbot"})
    assert slack_spool_path(postgres) == Path("slack-spool.jsonl")
