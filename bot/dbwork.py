"""Database work off the event loop.

A transaction may wait for the database (SQLite's write lock held by an import, a PostgreSQL
row lock): that wait happens in a worker thread, so the event loop keeps receiving messages,
answering Slack's HTTP requests and syncing with Matrix. A transaction that found the database
busy for longer than the driver's own timeout is tried again: a message waits its turn, it is
not dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from storage.uow import is_busy

log = logging.getLogger(__name__)

T = TypeVar("T")

# How long a unit of work keeps being retried while the database stays busy.
BUSY_PATIENCE = 600.0


class DatabaseWorker:
    """Runs blocking database work in a small pool of threads (one for SQLite: its writers
    are serialised by the file lock anyway). The one way off the event loop for database
    work: messages, prefetches, the outbox, pictures, the scheduler, start-up, ``/metrics``,
    the dashboard, and (:meth:`check`) the health probe."""

    def __init__(self, threads: int = 1) -> None:
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="pixbot-db")
        # Health probes have their own thread: never queued behind a long transaction.
        self._checks = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pixbot-db-check")

    @classmethod
    def for_dialect(cls, dialect: str) -> DatabaseWorker:
        return cls(1 if dialect == "sqlite" else 4)

    async def run(self, function: Callable[..., T], /, *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(_patiently, function, *args))

    async def check(self, function: Callable[..., T], /, *args: Any) -> T:
        """Run ``function`` once, beside the work queue and without retrying: a busy or
        absent database is the answer (``/healthz``)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._checks, partial(function, *args))

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=False)
        self._checks.shutdown(wait=True, cancel_futures=False)


class InlineDatabase:
    """The same interface, on the calling thread (for tools and tests that need no loop)."""

    async def run(self, function: Callable[..., T], /, *args: Any) -> T:
        return _patiently(function, *args)

    async def check(self, function: Callable[..., T], /, *args: Any) -> T:
        return function(*args)

    def close(self) -> None:
        pass


def _patiently(function: Callable[..., T], *args: Any) -> T:
    """Call ``function`` (one whole transaction); again while the database is busy."""
    deadline = time.monotonic() + BUSY_PATIENCE
    pause = 0.05
    while True:
        try:
            return function(*args)
        except Exception as error:
            if not is_busy(error) or time.monotonic() > deadline:
                raise
            log.warning("base occupée ; nouvel essai dans %.2f s", pause)
            time.sleep(pause)
            pause = min(pause * 2, 2.0)
