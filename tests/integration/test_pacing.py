"""Pacing: a platform whose limit counts the creation of a conversation like a message gets
that creation paced on its own token, before the message's (issue #14, bench/throttled.py)."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from bot.core import FakeClock, Outgoing, SendResult
from bot.domain import DeliveryStatus, NewDelivery
from bot.outbox import Dispatcher
from bot.pacing import RateLimiter
from bot.platforms.console import ConsolePlatform
from storage.models import DeliveryRow
from storage.uow import Store

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class Journal:
    def __init__(self) -> None:
        self.steps: list[str] = []


class CountingLimiter(RateLimiter):
    def __init__(self, journal: Journal) -> None:
        super().__init__(1000.0)
        self.steps_journal = journal

    async def acquire(self) -> None:
        self.steps_journal.steps.append("token")
        await super().acquire()


class CreatingPlatform(ConsolePlatform):
    """A console whose first message to someone creates their conversation (like Matrix)."""

    def __init__(self, journal: Journal, counts_creation: bool = True) -> None:
        super().__init__(input_stream=io.StringIO(), output=io.StringIO(), interactive=False)
        self.steps_journal = journal
        self.opened: set[str] = set()
        self.counts_creation = counts_creation

    def opens_conversation(self, person_id: str) -> bool:
        return self.counts_creation and person_id not in self.opened

    async def open_direct(self, person_id: str) -> str:
        if person_id not in self.opened:
            self.steps_journal.steps.append(f"open {person_id}")
            self.opened.add(person_id)
        return await super().open_direct(person_id)

    async def send(self, message: Outgoing) -> SendResult:
        assert message.person_id is not None
        await self.open_direct(message.person_id)
        self.steps_journal.steps.append(f"send {message.key}")
        return await super().send(message)


def _enqueue(store: Store, rows: list[tuple[str, str]]) -> None:
    with store.transaction() as uow:
        for key, person in rows:
            uow.outbox.enqueue(NewDelivery(key, "notice", person, f"texte {key}"), NOW)


async def test_a_new_conversation_takes_its_own_token_before_the_message(store: Store) -> None:
    _enqueue(store, [("a1", "@a:x"), ("b1", "@b:x")])
    journal = Journal()
    platform = CreatingPlatform(journal)
    dispatcher = Dispatcher(store, platform, FakeClock(NOW), limiter=CountingLimiter(journal))
    assert await dispatcher.drain() == 2
    assert journal.steps == [
        "token",
        "open @a:x",
        "token",
        "send a1",
        "token",
        "open @b:x",
        "token",
        "send b1",
    ]

    # A known conversation costs one token per message, as before.
    journal.steps.clear()
    _enqueue(store, [("a2", "@a:x")])
    assert await dispatcher.drain() == 1
    assert journal.steps == ["token", "send a2"]
    with store.transaction() as uow:
        sent = uow.session.query(DeliveryRow).filter_by(status=DeliveryStatus.SENT).count()
    assert sent == 3


async def test_a_platform_that_does_not_count_creations_pays_one_token(store: Store) -> None:
    _enqueue(store, [("a1", "@a:x")])
    journal = Journal()
    platform = CreatingPlatform(journal, counts_creation=False)
    dispatcher = Dispatcher(store, platform, FakeClock(NOW), limiter=CountingLimiter(journal))
    assert await dispatcher.drain() == 1
    assert journal.steps == ["token", "open @a:x", "send a1"]
