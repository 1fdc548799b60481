"""The outbox dispatcher: the only code that sends messages.

Rows are written by handlers and scheduled jobs inside their transaction; the dispatcher sends
the due ones, one at a time, paced by a rate limiter, and marks each as sent with the platform's
remote id. The row key is passed to the platform as its idempotency key, so a crash between
"sent" and "marked" leads to a retry that the platform de-duplicates (Matrix txnId).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.core import Clock, DeliveryError, Outgoing, Platform, SendResult
from bot.dbwork import DatabaseWorker, InlineDatabase
from bot.domain import Delivery
from bot.text import split_message
from storage.uow import Store

log = logging.getLogger(__name__)

# With the 1-hour cap, 20 attempts keep retrying for about half a day before giving up.
MAX_ATTEMPTS = 20
MAX_BACKOFF = timedelta(hours=1)
MAX_OUTAGE_PAUSE = 30.0
# The DeliveryError code adapters use when the platform cannot be reached at all.
UNREACHABLE = "unreachable"
BatchHook = Callable[[str], Awaitable[None]]


class RateLimiter:
    """Token bucket on the monotonic clock (pacing is real time, not business time)."""

    def __init__(self, rate: float, burst: int = 1) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self._tokens = float(self.burst)
        self._last = time.monotonic()

    def delay(self) -> float:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        return 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate

    async def acquire(self) -> None:
        wait = self.delay()
        while wait > 0:
            await asyncio.sleep(wait)
            wait = self.delay()
        self._tokens -= 1


@dataclass
class DispatchStats:
    sent: int = 0
    retried: int = 0
    failed: int = 0


def backoff(attempts: int) -> timedelta:
    return min(MAX_BACKOFF, timedelta(seconds=5 * 2**attempts))


class Dispatcher:
    def __init__(
        self,
        store: Store,
        platform: Platform,
        clock: Clock,
        *,
        on_batch_progress: BatchHook | None = None,
        limiter: RateLimiter | None = None,
        lock: asyncio.Lock | None = None,
        database: DatabaseWorker | InlineDatabase | None = None,
    ) -> None:
        self.store = store
        self.database = database or InlineDatabase()
        self.platform = platform
        self.clock = clock
        self.limiter = limiter or RateLimiter(platform.rate_limit)
        self.on_batch_progress = on_batch_progress
        self.stats = DispatchStats()
        # Shared with the handlers: a SQLite writer must never wait on a transaction that the
        # same event loop left open across an await (that would block the loop).
        self.lock = lock or asyncio.Lock()
        # Set when the platform said "wait" (HTTP 429 / M_LIMIT_EXCEEDED): nothing is sent
        # before then, on the business clock, so tests move past it without sleeping.
        self.paused_until: datetime | None = None
        self._outage = 0.0  # seconds of the current unreachable-platform pause
        self._wake = asyncio.Event()
        # Set by poke(): new messages were enqueued since the current round was read.
        self._fresh = asyncio.Event()
        self._stopping = False
        # A hook for crash tests: called after the platform accepted a message and before the
        # row is marked as sent.
        self.after_send: Callable[[Delivery], None] | None = None

    def poke(self) -> None:
        self._wake.set()
        self._fresh.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def drain(self, limit: int | None = None) -> int:
        """Send everything due now; return how many rows were handled.

        Fair to every recipient: each round takes the oldest due message of each recipient in
        turn, and a round ends early when new messages were enqueued (``poke``), so a reply to
        one person never waits behind another person's backlog for more than a message.
        """
        handled = 0
        while limit is None or handled < limit:
            if self.paused_until is not None and self.clock.now() < self.paused_until:
                break
            self._fresh.clear()
            due = await self.database.run(self._due)
            if not due:
                break
            for delivery in due:
                if self.paused_until is not None and self.clock.now() < self.paused_until:
                    break
                await self._deliver(delivery)
                handled += 1
                if self._fresh.is_set() or (limit is not None and handled >= limit):
                    break
        return handled

    def _due(self) -> list[Delivery]:
        with self.store.transaction() as uow:
            return uow.outbox.due(self.clock.now(), limit=20)

    def _next_due(self) -> datetime | None:
        with self.store.transaction() as uow:
            return uow.outbox.next_due_at()

    async def run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                await self.drain()
            except Exception:  # the loop must survive a database hiccup
                log.exception("outbox dispatch failed; retrying shortly")
                await asyncio.sleep(5)
                continue
            next_due = await self.database.run(self._next_due)
            if self.paused_until is not None:
                next_due = max(next_due or self.paused_until, self.paused_until)
            timeout = 60.0
            if next_due is not None:
                timeout = max(0.05, min(60.0, (next_due - self.clock.now()).total_seconds()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)

    async def _deliver(self, delivery: Delivery) -> None:
        if delivery.body is None:  # cancelled or already handled concurrently
            return
        message = Outgoing(
            text=delivery.body,
            key=delivery.key,
            person_id=None if delivery.to_conversation else delivery.recipient,
            conversation_id=delivery.recipient if delivery.to_conversation else None,
            mentions=delivery.mentions,
            buttons=delivery.buttons,
        )
        try:
            result = await self._send_parts(message)
        except DeliveryError as error:
            await self._failed(delivery, error)
            return
        except Exception as error:  # an adapter bug must not stop the outbox
            log.exception("unexpected error sending %s", delivery.key)
            await self._failed(delivery, DeliveryError(self.platform.name, "internal", str(error)))
            return
        if self.after_send is not None:
            self.after_send(delivery)
        self._outage = 0.0
        async with self.lock:
            await self.database.run(self._mark_sent, delivery.id, result.remote_id)
        self.stats.sent += 1
        if delivery.batch and self.on_batch_progress is not None:
            await self.on_batch_progress(delivery.batch)

    async def _failed(self, delivery: Delivery, error: DeliveryError) -> None:
        """Decide what a failed send becomes.

        - The platform said "wait" (429): the whole outbox pauses for that long; this message
          keeps its place and the attempt does not count (being throttled is not failing).
        - The platform is unreachable: the whole outbox pauses, 1 s doubling up to 30 s, and
          the attempt does not count either, so an outage of any length loses nothing.
        - Anything else is this message's problem: backoff, and after MAX_ATTEMPTS (or at once
          when retrying cannot help) it fails for good and is reported.
        """
        now = self.clock.now()
        counted = error.retry_after is None and error.code != UNREACHABLE
        attempts = delivery.attempts + 1 if counted else delivery.attempts
        final = error.permanent or attempts >= MAX_ATTEMPTS
        if error.retry_after is not None:
            wait = timedelta(seconds=error.retry_after)
            self.paused_until = now + wait
        elif error.code == UNREACHABLE:
            self._outage = min(max(self._outage * 2, 1.0), MAX_OUTAGE_PAUSE)
            wait = timedelta(seconds=self._outage)
            self.paused_until = now + wait
        else:
            wait = backoff(attempts)
        async with self.lock:
            await self.database.run(
                self._mark_failed, delivery.id, f"{error.code}: {error}", final, now + wait, counted
            )
        if final:
            self.stats.failed += 1
            log.warning("delivery %s failed for good: %s", delivery.key, error)
            if delivery.batch and self.on_batch_progress is not None:
                await self.on_batch_progress(delivery.batch)
        else:
            self.stats.retried += 1
            log.info("delivery %s retried in %s: %s", delivery.key, wait, error)

    async def _send_parts(self, message: Outgoing) -> SendResult:
        """Send ``message``, split into numbered parts when it is longer than the platform
        takes (``platform.max_text_length``). Each part has its own idempotency key, derived
        from the message's, so a retry after a partial send repeats nothing; the buttons go
        with the last part; the first part's id is the message's."""
        limit = getattr(self.platform, "max_text_length", None)
        parts = split_message(message.text, limit) if isinstance(limit, int) else [message.text]
        first: SendResult | None = None
        for index, text in enumerate(parts):
            last = index == len(parts) - 1
            part = replace(
                message,
                text=text,
                key=message.key if index == 0 else f"{message.key}#{index + 1}",
                buttons=message.buttons if last else (),
            )
            await self.limiter.acquire()
            result = await self.platform.send(part)
            first = first or result
        assert first is not None
        return first

    def _mark_sent(self, delivery_id: int, remote_id: str) -> None:
        with self.store.transaction() as uow:
            uow.outbox.mark_sent(delivery_id, remote_id, self.clock.now())

    def _mark_failed(
        self, delivery_id: int, error: str, final: bool, retry_at: datetime, counted: bool
    ) -> None:
        with self.store.transaction() as uow:
            if final:
                uow.outbox.mark_failed(delivery_id, error)
            else:
                uow.outbox.mark_retry(delivery_id, error, retry_at, count=counted)
