"""Fencing of the sends: only the instance lock's holder sends, only what is still pending.

The lock is looked at in memory before every send (the watchdog, :mod:`bot.lease`, keeps that
current). The database is asked — is the epoch still ours, which rows are still pending — in
one round trip for the next rows of a lane, and that answer holds for :data:`CHECK_FOR`
seconds; the outbox's own read of the rows (a claim: the epoch checked, then the pending rows
read, in one transaction) is that answer too (:meth:`SendFence.read_at`). At one message per
second every send still has its own check; a fast platform (the console) no longer waits for
one round trip to the database per message, which was most of a launch's time there (issue
#29). A row cancelled before its check is never sent; one cancelled
less than :data:`CHECK_FOR` seconds after it may still go, as one cancelled while its send
waited for the rate limiter always could.

The outbox is built before the bot runs; the lease exists only while it runs, so fencing starts
when :meth:`SendFence.engage` is given the lease (``App.run``). Until then (a bare dispatcher in
a test or a tool) nothing is fenced.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence

from bot.dbwork import DatabaseWorker, InlineDatabase
from bot.domain import Delivery
from bot.lease import Lease
from storage.lock import LeaseLost
from storage.uow import Store, UnitOfWork

# How long "still pending, the lock still ours" holds for the rows checked together.
CHECK_FOR = 0.25
# Rows checked in one round trip at most.
CHECK_AHEAD = 500


class SendFence:
    def __init__(self, store: Store, database: DatabaseWorker | InlineDatabase) -> None:
        self.store = store
        self.database = database
        self.lease: Lease | None = None  # the instance lock, once the app runs
        self._checked: dict[int, float] = {}  # row found sendable → when (monotonic)

    def engage(self, lease: Lease) -> None:
        self.lease = lease

    def suspect(self) -> None:
        """The database failed: the lock may have gone with it (the watchdog looks)."""
        if self.lease is not None:
            self.lease.suspect()

    async def wait_for_lease(self, wake: asyncio.Event, stopping: Callable[[], bool]) -> None:
        """Sending is paused until the lock is ours again (or the dispatcher stops)."""
        while self.lease is not None and not self.lease.held.is_set() and not stopping():
            wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=0.5)

    async def sendable(self, delivery: Delivery, ahead: Sequence[Delivery]) -> bool:
        """May ``delivery`` be sent now? ``ahead``: the rows its lane sends next (itself
        first), checked together. Raises :class:`LeaseLost` when the lock is not ours."""
        lease = self.lease
        if lease is None:
            return True
        lease.check()
        now = time.monotonic()
        checked = self._checked.get(delivery.id)
        if checked is None or now - checked > CHECK_FOR:
            ids = [d.id for d in (ahead or [delivery])[:CHECK_AHEAD]]
            pending = await self.database.run(self._still_ours, ids)
            for checked_id in ids:  # a row no longer pending loses its earlier answer
                self._checked.pop(checked_id, None)
            self._checked.update(dict.fromkeys(pending, now))
        lease.check()
        return self._checked.pop(delivery.id, None) is not None

    def read_at(self, delivery_ids: Sequence[int], when: float) -> None:
        """The rows a fenced read found pending (:meth:`check_in`, then ``status = pending`` in
        the same transaction) at ``when`` (``time.monotonic()`` taken before that read): the
        same answer as :meth:`sendable`'s round trip, so the first sends after a claim need
        none of their own."""
        if self.lease is not None:
            self._checked.update(dict.fromkeys(delivery_ids, when))

    def forget(self) -> None:
        """Drop the answers (rows read again later are checked again)."""
        self._checked.clear()

    def _still_ours(self, delivery_ids: list[int]) -> set[int]:
        """The ids still pending, after checking the epoch is still ours (one round trip)."""
        lease = self.lease
        assert lease is not None
        lease.check()
        with self.store.transaction() as uow:
            current, pending = uow.lease.sendable_many(delivery_ids, lease.epoch)
            self.current(current)
            return pending

    def check_in(self, uow: UnitOfWork) -> None:
        """Raise :class:`LeaseLost` if another process took the lock since we acquired it."""
        lease = self.lease
        if lease is not None:
            self.current(uow.lease.is_current(lease.epoch))

    def current(self, current: bool) -> None:
        lease = self.lease
        if not current and lease is not None:
            lease.lost()
            raise LeaseLost("another process holds the instance lock now")
