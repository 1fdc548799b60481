"""The instance lock fences (issue #17): a process that lost it can neither send nor mark."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.lease import Lease
from storage.db import Database
from storage.health import DatabaseHealth
from storage.lock import InstanceLock, LeaseLost
from tests.helpers.bot import Bot
from tests.helpers.campaigns import AGENTS, launched


def test_replaced_sqlite_lock_file_is_a_lost_lock(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'pixbot.db'}"
    first, second = Database(url), Database(url)
    first.upgrade()
    old, new = InstanceLock(first), InstanceLock(second)
    try:
        assert old.acquire()
        assert old.alive()
        assert old.path is not None
        old.path.unlink()  # someone removed the lock file: the flock no longer excludes anyone
        assert not old.alive()
        assert new.acquire()
        assert new.epoch is not None and old.epoch is not None and new.epoch > old.epoch
    finally:
        old.release()
        new.release()
        first.dispose()
        second.dispose()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_process_whose_epoch_moved_on_sends_nothing(bot: Bot) -> None:
    lock = InstanceLock(bot.store.database)
    assert lock.acquire()
    lease = Lease(lock, DatabaseHealth())
    lease.held.set()
    lease.role = "active"
    bot.app.fencing.engage(lease)
    sent_before = len(bot.platform.sent)
    # Queue the invitations without sending them, then let another process take over.
    drain = bot.app.dispatcher.drain
    bot.app.dispatcher.drain = _nothing  # type: ignore[method-assign]
    await launched(bot)
    bot.app.dispatcher.drain = drain  # type: ignore[method-assign]
    with bot.store.transaction() as uow:
        uow.session.execute(text("UPDATE locks SET epoch = epoch + 1"))  # a takeover
    with pytest.raises(LeaseLost):
        await bot.app.dispatcher.drain()
    assert not lease.held.is_set()
    assert [m for m in bot.platform.sent[sent_before:] if m.person_id in AGENTS] == []
    with bot.store.transaction() as uow:
        assert uow.outbox.pending_count() >= len(AGENTS)
    lock.release()


async def _nothing(limit: int | None = None) -> int:
    await asyncio.sleep(0)
    return 0
