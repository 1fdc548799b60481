"""Replies served in turn while one person floods the bot (issue #31).

The flood is simulated where it hurts: every time the dispatcher sends to the flooder, the
flooder's next message has been handled meanwhile (a new reply enqueued, the dispatcher poked),
so each round is cut short by a new reply. Before the fix each new round started with the
flooder's oldest reply and another person's reply waited behind the whole backlog. The
assertions count the messages sent ahead of the other person's reply; no timing.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime

from bot.core import FakeClock, Outgoing, SendResult
from bot.domain import NewDelivery
from bot.outbox import Dispatcher
from bot.pacing import RateLimiter, Turns
from bot.platforms.console import ConsolePlatform
from storage.repositories.outbox import fair_order
from storage.uow import Store

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
FLOODER = "@flood:x"


def _enqueue(store: Store, key: str, person: str) -> None:
    with store.transaction() as uow:
        uow.outbox.enqueue(NewDelivery(key, "reply", person, f"texte {key}"), NOW)


class FloodedPlatform(ConsolePlatform):
    """Records the order of sends; each send to the flooder brings a new flooder reply, and
    the ``others`` arrive after the flooder's ``at``-th reply was sent."""

    def __init__(self, store: Store, flood: int, others: dict[int, list[str]]) -> None:
        super().__init__(input_stream=io.StringIO(), output=io.StringIO(), interactive=False)
        self.store = store
        self.flood = flood
        self.others = others
        self.sent: list[str] = []
        self.enqueued_at: dict[str, int] = {}  # key → how many sends had happened then
        self.dispatcher: Dispatcher | None = None
        self.flood_sent = 0
        self.flood_enqueued = 0

    def enqueue(self, key: str, person: str) -> None:
        self.enqueued_at[key] = len(self.sent)
        _enqueue(self.store, key, person)
        assert self.dispatcher is not None
        self.dispatcher.poke()

    async def send(self, message: Outgoing) -> SendResult:
        self.sent.append(message.key)
        if message.person_id == FLOODER:
            self.flood_sent += 1
            if self.flood_enqueued < self.flood:
                self.flood_enqueued += 1
                self.enqueue(f"flood-{self.flood_enqueued:03d}", FLOODER)
            for person in self.others.pop(self.flood_sent, []):
                self.enqueue(f"reply-{person}", person)
        return await super().send(message)


def ahead_of(platform: FloodedPlatform, key: str) -> int:
    """How many messages went out between ``key`` being enqueued and being sent."""
    return platform.sent.index(key) - platform.enqueued_at[key]


async def test_a_flood_delays_another_reply_by_a_message_or_two_at_most(store: Store) -> None:
    # The flooder already has 10 replies waiting; then 40 more messages, one per send.
    for number in range(1, 11):
        _enqueue(store, f"flood-backlog-{number:02d}", FLOODER)
    others = {3: ["@agent:x"], 12: ["@ambassador:x", "@other:x"], 25: ["@late:x"]}
    platform = FloodedPlatform(store, flood=40, others=others)
    dispatcher = Dispatcher(store, platform, FakeClock(NOW), limiter=RateLimiter(10_000.0))
    platform.dispatcher = dispatcher
    while await dispatcher.drain():
        pass

    assert len(platform.sent) == 10 + 40 + 4, "everything was sent, once"
    assert len(set(platform.sent)) == len(platform.sent)
    for person in ("@agent:x", "@ambassador:x", "@other:x", "@late:x"):
        # At most the send in flight and one more before this person's reply.
        assert ahead_of(platform, f"reply-{person}") <= 2, (person, platform.sent)
    # The flooder's own replies keep their order.
    flood = [key for key in platform.sent if key.startswith("flood-")]
    assert flood == sorted(flood, key=lambda k: (not k.startswith("flood-backlog"), k))


class _Row:
    def __init__(self, recipient: str, key: str) -> None:
        self.recipient = recipient
        self.key = key


def test_turns_carry_over_from_one_read_to_the_next() -> None:
    rows = [_Row("@a", "a1"), _Row("@a", "a2"), _Row("@b", "b1"), _Row("@a", "a3")]
    assert [r.key for r in fair_order(rows)] == ["a1", "b1", "a2", "a3"]
    turns = Turns()
    turns.served("@a")
    # @a was just served: @b goes first in the next read, then the turns as before.
    assert [r.key for r in fair_order(rows, turns.snapshot())] == ["b1", "a1", "a2", "a3"]
    turns.served("@b")
    assert [r.key for r in fair_order(rows, turns.snapshot())] == ["a1", "b1", "a2", "a3"]
    small = Turns(kept=2)
    for person in ("@a", "@b", "@c"):
        small.served(person)
    assert list(small.snapshot()) == ["@b", "@c"]
