"""The outbox dispatcher: the only code that sends messages.

Rows are written by handlers and scheduled jobs inside their transaction; the dispatcher reads
the due ones in batches, sends them paced by a rate limiter, and marks them as sent with the
platform's remote ids in one statement per batch (at least every second). The row key is passed
to the platform as its idempotency key, so a crash between "sent" and "marked" leads to a retry
that the platform de-duplicates (Matrix txnId, Slack message metadata, the console journal).

Where the platform limits each conversation rather than the account (Slack), up to
``concurrency`` conversations are sent to at once; messages of one conversation always go out
in order, one after the other. A "wait" (429 ``Retry-After``) pauses every conversation.

Every recipient is served fairly: the rows are read each recipient's oldest first, then each
one's second… (see :meth:`storage.repositories.outbox.OutboxRepo.due`), and a round stops early
when new messages are enqueued (:meth:`Dispatcher.poke`), so a reply to one person never waits
behind another person's backlog; the turns go on from one round to the next (``Turns``).
The parts it is composed of: the :class:`~bot.sender.Sender` (pacing, numbered parts), the
pure retry decision (:mod:`bot.retry`), the :class:`~bot.fencing.SendFence` (only the lock's
holder sends), the lanes of a pool of accounts (:mod:`bot.lanes`) and the
:class:`~bot.marks.MarkBook` (sends written down in batches; the batch reporter it is given,
``on_batch_progress``, bot/batches.py).
Database work runs in the application's database worker (off the event loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from bot.core import Clock, DeliveryError, Image, Platform
from bot.dbwork import DatabaseWorker, InlineDatabase
from bot.domain import Delivery
from bot.fencing import SendFence
from bot.lanes import AccountLanes, Lane, LaneRun, outgoing
from bot.marks import BatchHook, DispatchStats, MarkBook, Marks
from bot.pacing import RateLimiter, Turns
from bot.retry import MAX_OUTAGE_PAUSE, decide
from bot.sender import LIMITERS_KEPT, Sender
from storage.health import DatabaseHealth, is_transient
from storage.lock import LeaseLost
from storage.uow import Store, UnitOfWork

log = logging.getLogger(__name__)

# As many rows as the outbox reads to order them fairly (FAIR_WINDOW): none read for nothing.
MAX_CLAIM = 500
# Renders the picture an outbox row names (None: it cannot be shown, the row is dropped).
PictureHook = Callable[[Delivery], Awaitable[Image | None]]


# The kind of the reply confirming an erasure ("oublie-moi").
ERASURE = "erasure"


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
        concurrency: int = 1,
        conversation_rate: float | None = None,
        pictures: PictureHook | None = None,
        health: DatabaseHealth | None = None,
        database: DatabaseWorker | InlineDatabase | None = None,
        fencing: SendFence | None = None,
        on_outcome: Callable[[str, str], None] | None = None,
        on_erasure_delivered: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self.store = store
        self.health = health or DatabaseHealth()
        self.database = database or InlineDatabase()
        # The instance lock, once the app runs (SendFence.engage): only its holder sends.
        self.fencing = fencing or SendFence(store, self.database)
        self.platform = platform
        self.clock = clock
        self.sender = Sender(platform, limiter=limiter, conversation_rate=conversation_rate)
        # A platform sending from several accounts: one lane each (bot/lanes.py).
        self.lanes = AccountLanes.of(platform, conversation_rate)
        self.concurrency = max(1, concurrency)
        self._marks = MarkBook(self._write_marks, on_batch_progress)
        self._tried: set[int] = set()
        # One drain at a time: the run loop and a caller (the console drains after each
        # message) would otherwise read and send the same rows side by side.
        self._draining = asyncio.Lock()
        self._turns = Turns(LIMITERS_KEPT)  # whom the last sends went to
        self.pictures = pictures
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
        # Told of each outcome, for the metrics: (kind, "sent" | "failed" | "rate_limited").
        self.on_outcome = on_outcome
        # Told when the last word to an erased person has left (sent, or failed for good): the
        # rest of the erasure runs then (bot/erasure.py). Given the conversation.
        self.on_erasure_delivered = on_erasure_delivered

    @property
    def limiter(self) -> RateLimiter:
        return self.sender.limiter

    @property
    def platform_unreachable(self) -> bool:
        return self._outage > 0

    def poke(self) -> None:
        self._wake.set()
        self._fresh.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    def _paused(self, lane: Lane | None = None) -> bool:
        if lane is not None:
            return lane.paused(self.clock.now())
        return self.paused_until is not None and self.clock.now() < self.paused_until

    def _claim_size(self) -> int:
        """Rows read at once: about two seconds of sending, so a reply typed meanwhile waits
        for at most that long behind a launch."""
        return max(5, int(min(MAX_CLAIM, self.platform.capabilities.rate_limit * 2)))

    async def _transaction(self, work: Callable[[UnitOfWork], Any]) -> Any:
        """``work`` in one transaction, in the database worker (the event loop never waits for
        the database)."""
        return await self.database.run(self._in_transaction, work)

    def _in_transaction(self, work: Callable[[UnitOfWork], Any]) -> Any:
        with self.store.transaction() as uow:
            self.fencing.check_in(uow)  # a process whose lock moved on reads and writes nothing
            return work(uow)

    def _claim(self, now: datetime, size: int, served: dict[str, int]) -> list[Delivery]:
        read_at = time.monotonic()
        with self.store.transaction() as uow:
            self.fencing.check_in(uow)
            claimed = uow.outbox.claim(now, limit=size, served=served)
        # Checked and found pending by this read: the first sends need no check of their own.
        self.fencing.read_at([row.id for row in claimed], read_at)
        return claimed

    async def drain(self, limit: int | None = None) -> int:
        """Send everything due now; return how many rows were handled.

        A round (one claim) ends early when new messages were enqueued (:meth:`poke`): its
        untried rows go back, and the next read puts the new replies in their fair place.
        A drain already running is waited for first (then this one sends what is left).
        """
        async with self._draining:
            return await self._drain(limit)

    async def _drain(self, limit: int | None) -> int:
        handled = 0
        try:
            while (limit is None or handled < limit) and not self._stopping:
                if self._paused():
                    break
                size = self._claim_size()
                if limit is not None:
                    size = min(size, limit - handled)
                self._fresh.clear()
                served = self._turns.snapshot()
                if self.lanes is not None:
                    left = None if limit is None else limit - handled
                    run = LaneRun(self, self.lanes, left, MAX_CLAIM)
                    done = await run.run(self.clock.now)
                    self.fencing.forget()
                    await self._flush_marks()
                    handled += done
                    if done == 0 and not await self._flush_marks(final=True):
                        break
                    continue
                due = await self.database.run(self._claim, self.clock.now(), size, served)
                if not due:
                    # Nothing due: the batches sent are reported now, and a summary that report
                    # wrote leaves in this drain too, not at some later wake-up (whether a
                    # launch's summary came at once would tell that nobody was left to invite).
                    if await self._flush_marks(final=True):
                        continue
                    break
                done = await self._send_all(due)
                self.fencing.forget()
                # Marked before the next read, which would otherwise see them as still due.
                await self._flush_marks()
                await self._unclaim(due)
                handled += done
                if done == 0:
                    break
        finally:
            await self._flush_marks(final=True)
        return handled

    async def _unclaim(self, due: list[Delivery]) -> None:
        """Rows read but never tried (a pause stopped their lane) cannot have gone out."""
        untried = [d.id for d in due if d.id not in self._tried and not d.claimed_before]
        self._tried.clear()
        if untried:
            async with self.lock:
                await self._transaction(lambda uow: uow.outbox.unclaim(untried))

    # -- what a LaneRun asks of the outbox (bot/lanes.py) ----------------------------------------

    async def read_rows(self, limit: int, exclude: set[int]) -> list[Delivery]:
        now, served, read_at = self.clock.now(), self._turns.snapshot(), time.monotonic()
        rows = await self._transaction(
            lambda uow: uow.outbox.due(now, limit, served, exclude=exclude)
        )
        self.fencing.read_at([row.id for row in rows], read_at)  # as in _claim
        return list(rows)

    async def stamp_rows(self, rows: Sequence[Delivery]) -> None:
        ids, now = [row.id for row in rows], self.clock.now()
        await self._transaction(lambda uow: uow.outbox.stamp_claimed(ids, now))

    async def unclaim_rows(self, rows: Sequence[Delivery]) -> None:
        ids = [row.id for row in rows if not row.claimed_before]
        if ids:
            async with self.lock:
                await self._transaction(lambda uow: uow.outbox.unclaim(ids))

    async def deliver_row(self, row: Delivery, ahead: Sequence[Delivery], lane: Lane) -> None:
        await self._deliver(row, ahead, lane)
        await self._marks.maybe_flush()
        await asyncio.sleep(0)

    def unmarked_ids(self) -> set[int]:
        return self._marks.unmarked_ids()

    def lane_may_send(self, lane: Lane) -> bool:
        return not (self._stopping or self._paused(lane) or self._fresh.is_set())

    async def _send_all(self, due: list[Delivery]) -> int:
        """Send a claimed batch; returns how many rows were handled (sent or failed)."""
        if self.concurrency == 1:
            return await self._send_lane(due)
        lanes: dict[str, list[Delivery]] = {}
        for delivery in due:
            lanes.setdefault(delivery.recipient, []).append(delivery)
        queue: asyncio.Queue[list[Delivery]] = asyncio.Queue()
        for lane in lanes.values():
            queue.put_nowait(lane)
        counts: list[int] = []

        async def worker() -> None:
            while not queue.empty():
                counts.append(await self._send_lane(queue.get_nowait()))

        # Each worker stops at its first error (the lease lost, the database away); the others
        # finish their send in flight, then the first error is raised.
        results = await asyncio.gather(
            *(worker() for _ in range(min(self.concurrency, len(lanes)))), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return sum(counts)

    async def _send_lane(self, deliveries: list[Delivery], lane: Lane | None = None) -> int:
        """Deliveries in order; a lane stops at a pause or when new messages were enqueued (the
        rest keeps its place), or at a failure of its conversation (later messages must not
        overtake it)."""
        handled = 0
        for index, delivery in enumerate(deliveries):
            if self._paused(lane) or self._stopping:  # stopping: the rest stays pending
                break
            sent = await self._deliver(delivery, deliveries[index:], lane)
            handled += 1
            if not sent and self.concurrency > 1:
                break
            await self._marks.maybe_flush()
            # Let the loop breathe between two sends: a platform whose send never suspends
            # (the console) must not starve signals, /healthz or the scheduler.
            await asyncio.sleep(0)
            if self._fresh.is_set():
                break
        return handled

    async def run(self) -> None:
        outage = 0.0
        while not self._stopping:
            self._wake.clear()
            try:
                handled = await self.drain()
                next_due = await self._transaction(lambda uow: uow.outbox.next_due_at())
            except LeaseLost:
                await self.fencing.wait_for_lease(self._wake, lambda: self._stopping)
                continue
            except Exception as error:  # the loop must survive a database outage
                if is_transient(error):
                    self.health.failed(error)
                    self.fencing.suspect()
                    outage = min(max(outage * 2, 0.5), MAX_OUTAGE_PAUSE)
                else:
                    log.exception(
                        "distribution de la file d'envoi en échec ; nouvel essai sous peu"
                    )
                    outage = 5.0
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=outage)
                continue
            outage = 0.0
            self.health.succeeded()
            if self.paused_until is not None:
                next_due = max(next_due or self.paused_until, self.paused_until)
            lanes_resume = self.lanes.resume_at(self.clock.now()) if self.lanes else None
            if lanes_resume is not None and not handled:
                # What is due waits for a paused lane: wake when it resumes (or when poked).
                next_due = max(next_due or lanes_resume, lanes_resume)
            timeout = 60.0
            if next_due is not None:
                timeout = max(0.05, min(60.0, (next_due - self.clock.now()).total_seconds()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)

    async def _deliver(
        self, delivery: Delivery, ahead: Sequence[Delivery] = (), lane: Lane | None = None
    ) -> bool:
        """Send one row; True when the platform accepted it (marked with the next flush).
        ``ahead``: the rows the lane sends next (this one first), checked together."""
        self._tried.add(delivery.id)
        self._turns.served(delivery.recipient)
        if delivery.body is None:  # cancelled or already handled concurrently
            return True
        image: Image | None = None
        # Without a picture hook (a bare dispatcher), the description goes alone.
        if delivery.attachment is not None and self.pictures is not None:
            try:
                image = await self.pictures(delivery)
            except Exception as error:  # a rendering bug is retried like a failed send
                log.exception("impossible de dessiner l'image de %s", delivery.key)
                await self._failed(
                    delivery, DeliveryError(self.platform.name, "picture", str(error)), lane
                )
                return False
            if image is None:
                async with self.lock:
                    await self._transaction(lambda uow: uow.outbox.cancel(delivery.id))
                log.info("envoi %s abandonné : son image ne peut pas être montrée", delivery.key)
                return True
        message = outgoing(delivery, image)
        if not await self.fencing.sendable(delivery, ahead):
            return True  # the lock moved on, or the row is no longer pending
        sender = lane.sender if lane is not None else self.sender
        try:
            result = await sender.send(message)
        except DeliveryError as error:
            await self._failed(delivery, error, lane)
            return False
        except Exception as error:  # an adapter bug must not stop the outbox
            log.exception("erreur inattendue à l'envoi de %s", delivery.key)
            failure = DeliveryError(self.platform.name, "internal", str(error))
            await self._failed(delivery, failure, lane)
            return False
        if self.after_send is not None:
            self.after_send(delivery)
        self._outage = 0.0
        if delivery.kind == ERASURE:
            # The last word to an erased person: no row remains once it is delivered.
            async with self.lock:
                await self._transaction(lambda uow: uow.outbox.delete(delivery.id))
            if self.on_erasure_delivered is not None:
                await self.on_erasure_delivered(delivery.recipient)
            self.stats.sent += 1
            self._outcome(delivery.kind, "sent")
            return True
        self._marks.sent(delivery.id, result.remote_id, delivery.batch)
        if (
            delivery.person_id is not None
            and not delivery.to_conversation
            and result.conversation_id
            and result.conversation_id != delivery.conversation
        ):
            self._marks.direct_conversation(delivery.person_id, result.conversation_id)
        self.stats.sent += 1
        self._outcome(delivery.kind, "sent")
        return True

    async def _flush_marks(self, *, final: bool = False) -> bool:
        return await self._marks.flush(final=final)

    async def _write_marks(self, marks: Marks) -> None:
        """The accepted sends (and the people's new direct rooms) in one transaction."""
        now = self.clock.now()

        def mark(uow: UnitOfWork) -> None:
            uow.outbox.mark_sent_many(marks.sent, now)
            uow.people.set_direct_conversations(marks.conversations)

        async with self.lock:
            await self._transaction(mark)

    def _outcome(self, kind: str, outcome: str) -> None:
        if self.on_outcome is not None:
            self.on_outcome(kind, outcome)

    async def _failed(
        self, delivery: Delivery, error: DeliveryError, lane: Lane | None = None
    ) -> None:
        """Apply the retry decision (:func:`bot.retry.decide`) to a failed send; a "wait" of
        one account pauses its lane only."""
        now = self.clock.now()
        retry = decide(error, delivery.attempts, self._outage)
        if retry.throttled:
            self._outcome(delivery.kind, "rate_limited")
        if retry.pause_all:
            self._outage = retry.outage
            if lane is not None:
                lane.paused_until = now + retry.wait
            else:
                self.paused_until = now + retry.wait
        final, counted = retry.final, retry.counted
        reason = f"{error.code}: {error}"

        def mark(uow: UnitOfWork) -> None:
            if final and delivery.kind == ERASURE:
                uow.outbox.delete(delivery.id)  # no row about an erased person stays
            elif final:
                uow.outbox.mark_failed(delivery.id, reason)
            else:
                uow.outbox.mark_retry(delivery.id, reason, now + retry.wait, count=counted)

        async with self.lock:
            await self._transaction(mark)
        if final:
            self.stats.failed += 1
            self._outcome(delivery.kind, "failed")
            log.warning("envoi %s définitivement en échec : %s", delivery.key, error)
            self._marks.failed(delivery.batch)
            if delivery.kind == ERASURE and self.on_erasure_delivered is not None:
                await self.on_erasure_delivered(delivery.recipient)
        else:
            self.stats.retried += 1
            log.info("envoi %s réessayé dans %s : %s", delivery.key, retry.wait, error)
