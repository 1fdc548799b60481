"""The dispatcher's own cost (issue #29) without losing its guarantees: the fencing check is
made for a run of rows at once, yet a row cancelled before that check is never sent, a lost
lock stops the sends, and two drains side by side never send a row twice."""

from __future__ import annotations

import asyncio
import io
import os
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from bot.core import FakeClock, Outgoing, SendResult
from bot.domain import DeliveryStatus, NewDelivery
from bot.lease import Lease
from bot.outbox import Dispatcher
from bot.pacing import RateLimiter
from bot.platforms.console import ConsolePlatform
from storage.health import DatabaseHealth
from storage.lock import InstanceLock, LeaseLost
from storage.uow import Store

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class CountingConsole(ConsolePlatform):
    """The console without a journal: every call to ``send`` is counted, so a second send of
    the same row shows (the journal would hide it by de-duplicating its key)."""

    def __init__(self) -> None:
        super().__init__(input_stream=io.StringIO(), output=open(os.devnull, "w"))  # noqa: SIM115
        self.calls: list[str] = []
        self.on_send: object = None

    async def send(self, message: Outgoing) -> SendResult:
        self.calls.append(message.key)
        if callable(self.on_send):
            self.on_send(message)
        return await super().send(message)


def _enqueue(store: Store, n: int) -> None:
    with store.transaction() as uow:
        for i in range(n):
            uow.outbox.enqueue(NewDelivery(f"k{i}", "notice", f"@p{i}:x", f"message {i}"), NOW)


def _fenced(store: Store, dispatcher: Dispatcher) -> InstanceLock:
    lock = InstanceLock(store.database)
    assert lock.acquire()
    lease = Lease(lock, DatabaseHealth())
    lease.held.set()
    lease.role = "active"
    dispatcher.fencing.engage(lease)
    return lock


def _status(store: Store, key: str) -> DeliveryStatus:
    with store.transaction() as uow:
        delivery = uow.outbox.get(key)
        assert delivery is not None
        return delivery.status


async def test_two_drains_side_by_side_send_each_row_once(store: Store) -> None:
    _enqueue(store, 30)
    platform = CountingConsole()
    dispatcher = Dispatcher(store, platform, FakeClock(NOW))
    lock = _fenced(store, dispatcher)
    try:
        results = await asyncio.gather(dispatcher.drain(), dispatcher.drain())
    finally:
        lock.release()
    assert sum(results) == 30
    assert sorted(platform.calls) == sorted(f"k{i}" for i in range(30))
    with store.transaction() as uow:
        assert uow.outbox.pending_count() == 0


async def test_a_row_cancelled_before_its_check_is_not_sent(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row cancelled while an earlier one is on its way is not sent once the check that
    covered it has expired (:data:`bot.fencing.CHECK_FOR`; here at once)."""
    _enqueue(store, 3)
    platform = CountingConsole()

    def cancel_k1(message: Outgoing) -> None:
        if message.key == "k0":
            with store.transaction() as uow:
                uow.session.execute(
                    text("UPDATE deliveries SET status = 'cancelled' WHERE key = 'k1'")
                )

    platform.on_send = cancel_k1
    monkeypatch.setattr("bot.fencing.CHECK_FOR", -1.0)
    dispatcher = Dispatcher(store, platform, FakeClock(NOW))
    lock = _fenced(store, dispatcher)
    try:
        await dispatcher.drain()
    finally:
        lock.release()
    assert platform.calls == ["k0", "k2"]
    assert _status(store, "k1") == DeliveryStatus.CANCELLED
    assert _status(store, "k2") == DeliveryStatus.SENT


async def test_checks_are_shared_by_the_rows_ahead_but_expire(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim's own read (the epoch checked, the pending rows read) answers for the rows it
    read; once an answer is older than CHECK_FOR, the next row is checked again in one round
    trip with the rows ahead (a slow platform checks every row, as before)."""
    _enqueue(store, 20)
    platform = CountingConsole()
    dispatcher = Dispatcher(store, platform, FakeClock(NOW))
    checks: list[int] = []
    still_ours = dispatcher.fencing._still_ours

    def counted(ids: list[int]) -> set[int]:
        checks.append(len(ids))
        return still_ours(ids)

    monkeypatch.setattr(dispatcher.fencing, "_still_ours", counted)
    lock = _fenced(store, dispatcher)
    try:
        assert await dispatcher.drain() == 20
        assert checks == []  # the claim checked the whole run of rows
        _enqueue_more(store)
        monkeypatch.setattr("bot.fencing.CHECK_FOR", -1.0)  # every answer already too old
        checks.clear()
        assert await dispatcher.drain() == 3
        assert checks == [3, 2, 1]
    finally:
        lock.release()


def _enqueue_more(store: Store) -> None:
    with store.transaction() as uow:
        for i in range(3):
            uow.outbox.enqueue(NewDelivery(f"m{i}", "notice", f"@q{i}:x", "again"), NOW)


async def test_a_lost_lock_stops_the_sends_checked_ahead(store: Store) -> None:
    """The lock is looked at in memory before every send: once the watchdog (or a check)
    found it lost, the rows checked ahead are not sent."""
    _enqueue(store, 10)
    platform = CountingConsole()
    dispatcher = Dispatcher(store, platform, FakeClock(NOW))
    lock = _fenced(store, dispatcher)
    lease = dispatcher.fencing.lease
    assert lease is not None

    def lose_after_three(message: Outgoing) -> None:
        if len(platform.calls) == 3:
            lease.held.clear()  # what the watchdog does when the lock is gone

    platform.on_send = lose_after_three
    try:
        with pytest.raises(LeaseLost):
            await dispatcher.drain()
    finally:
        lock.release()
    assert platform.calls == ["k0", "k1", "k2"]
    with store.transaction() as uow:
        assert uow.outbox.pending_count() == 7


async def test_an_unlimited_rate_never_waits() -> None:
    limiter = RateLimiter(float("inf"))
    for _ in range(1000):
        assert limiter.delay() == 0.0
        await limiter.acquire()


def test_the_console_is_unpaced_by_default() -> None:
    platform = ConsolePlatform(input_stream=io.StringIO(), output=io.StringIO())
    assert platform.capabilities.rate_limit == float("inf")
    dispatcher = Dispatcher.__new__(Dispatcher)
    dispatcher.platform = platform
    assert dispatcher._claim_size() == 500
