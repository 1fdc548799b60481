"""Fencing: only the holder of the instance lock sends and marks (bot/lease.py).

The outbox is built before the bot runs; the lease exists only while it runs, so fencing starts
when :meth:`Fencing.engage` is given the lease (``App.run``). Until then (a bare dispatcher in a
test or a tool) nothing is fenced.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from bot.domain import Delivery
from bot.lease import Lease
from storage.lock import LeaseLost
from storage.uow import Store, UnitOfWork


class Fencing:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.lease: Lease | None = None

    def engage(self, lease: Lease) -> None:
        self.lease = lease

    def suspect(self) -> None:
        """The database failed: the lock may have gone with it (the watchdog looks)."""
        if self.lease is not None:
            self.lease.suspect()

    def still_ours(self, delivery: Delivery) -> bool:
        """Send only while holding the instance lock, only what is still pending (a thread)."""
        if self.lease is None:
            return True
        self.lease.check()
        with self.store.transaction() as uow:
            current, pending = uow.lease.sendable(delivery.id, self.lease.epoch)
            self._still_current(current)
            return pending

    def check(self, uow: UnitOfWork) -> None:
        """Raise :class:`LeaseLost` if another process took the lock since we acquired it."""
        if self.lease is not None:
            self._still_current(uow.lease.is_current(self.lease.epoch))

    def _still_current(self, current: bool) -> None:
        if not current and self.lease is not None:
            self.lease.lost()
            raise LeaseLost("another process holds the instance lock now")

    async def wait_for_lease(self, wake: asyncio.Event, stopping: Callable[[], bool]) -> None:
        """Sending is paused until the lock is ours again (or the dispatcher stops)."""
        while self.lease is not None and not self.lease.held.is_set() and not stopping():
            wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=0.5)
