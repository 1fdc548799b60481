"""Retry a unit of work while the database is away; nothing is lost, nothing is done twice.

A unit of work (handle one message, send what is due, run one reminder step) runs in its own
transactions, rolled back entirely when the database fails, so it is simply run again with a
bounded exponential backoff until the database answers. The outage is logged once (see
:class:`storage.health.DatabaseHealth`). Work needing the instance lock waits while it is not
held. When the bot is asked to stop meanwhile, :class:`Deferred` is raised: the platform keeps
the event (Matrix does not advance its sync token) and it is handled after the restart.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

from bot.lease import Lease
from storage.health import DatabaseHealth, is_transient
from storage.lock import LeaseLost

T = TypeVar("T")
FIRST_DELAY = 0.2
MAX_DELAY = 5.0


class Deferred(RuntimeError):
    """Stopping before this work could be done; it was not done (and will be redone)."""


class Resilience:
    def __init__(
        self,
        health: DatabaseHealth,
        stopping: asyncio.Event,
        lease: Lease | None = None,
    ) -> None:
        self.health = health
        self.stopping = stopping
        self.lease = lease

    async def run(self, work: Callable[[], Awaitable[T]], what: str) -> T:
        delay = FIRST_DELAY
        while True:
            if self.lease is not None and not self.lease.held.is_set():
                await self._wait_for_lock(what)
            try:
                result = await work()
            except LeaseLost:
                continue
            except Exception as error:
                if not is_transient(error):
                    raise
                self.health.failed(error)
                if self.lease is not None:
                    self.lease.suspect()
                if await self._sleep_or_stop(delay):
                    raise Deferred(f"{what}: stopped during a database outage") from None
                delay = min(delay * 2, MAX_DELAY)
                continue
            self.health.succeeded()
            return result

    async def _wait_for_lock(self, what: str) -> None:
        assert self.lease is not None
        held = asyncio.ensure_future(self.lease.held.wait())
        stopped = asyncio.ensure_future(self.stopping.wait())
        try:
            await asyncio.wait({held, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            held.cancel()
            stopped.cancel()
        if not self.lease.held.is_set():
            raise Deferred(f"{what}: stopped without the instance lock")

    async def _sleep_or_stop(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), timeout=seconds)
        return self.stopping.is_set()
