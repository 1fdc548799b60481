"""One lane per sending account (issue #29): the outbox's share of work between the accounts of
a platform that sends from several (:class:`bot.core.SendsFromAccounts`, Matrix's pool).

Each lane has its own :class:`~bot.sender.Sender` (the account's rate limiter) and its own pause
(a 429 ``Retry-After`` from that account stops that lane only). The lanes run side by side
(:class:`LaneRun`), each from a short queue of its own rows — about :data:`QUEUE_SECONDS` of
sending at its account's pace, read in the outbox's fair order (:func:`pick`) — and a lane whose
queue runs dry reads again for itself, leaving out every row another lane holds: no lane waits
for a busier one. A run ends when every lane is dry, paused or stopped, and early when new
messages were enqueued (a reply then goes first, as in the one-account outbox).
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.core import Image, Outgoing, Platform, SendsFromAccounts
from bot.domain import Delivery
from bot.pacing import RateLimiter
from bot.sender import Sender

# Seconds of sending a lane's queue holds: enough that a read of the database is rare beside the
# sends, little enough that a row read early waits at most that long.
QUEUE_SECONDS = 4.0


@dataclass
class Lane:
    account: Platform
    sender: Sender
    paused_until: datetime | None = None

    @property
    def name(self) -> str:
        return self.account.bot_id

    def paused(self, now: datetime) -> bool:
        return self.paused_until is not None and now < self.paused_until

    def quota(self) -> float:
        """Requests this lane's queue holds."""
        rate = self.account.capabilities.rate_limit
        return max(1.0, min(500.0, rate * QUEUE_SECONDS)) if math.isfinite(rate) else 500.0


class AccountLanes:
    """The lanes of a platform's accounts, and which lane each outbox row takes."""

    def __init__(self, platform: SendsFromAccounts, lanes: dict[str, Lane]) -> None:
        self.platform = platform
        self.lanes = lanes

    @classmethod
    def of(cls, platform: Platform, conversation_rate: float | None) -> AccountLanes | None:
        """A lane per account of ``platform``, or None when it sends from one account."""
        if not isinstance(platform, SendsFromAccounts):
            return None
        accounts = list(platform.sending_accounts())
        if len(accounts) < 2:
            return None
        lanes = {
            account.bot_id: Lane(
                account,
                Sender(
                    account,
                    limiter=RateLimiter(account.capabilities.rate_limit),
                    conversation_rate=conversation_rate,
                ),
            )
            for account in accounts
        }
        return cls(platform, lanes)

    def __len__(self) -> int:
        return len(self.lanes)

    def lane_of(self, delivery: Delivery) -> Lane:
        return self.lanes[self.platform.sending_account(outgoing(delivery)).bot_id]

    def cost(self, delivery: Delivery, lane: str) -> int:
        """Requests a row costs its account: a new direct room counts like a message, and so
        does a picture's upload."""
        account = self.lanes[lane].account
        opens = not delivery.to_conversation and account.opens_conversation(delivery.recipient)
        return 1 + int(opens) + int(delivery.attachment is not None)

    def resume_at(self, now: datetime) -> datetime | None:
        """When the first paused lane resumes, while some lane is paused."""
        ends = [
            lane.paused_until
            for lane in self.lanes.values()
            if lane.paused_until is not None and lane.paused(now)
        ]
        return min(ends) if ends else None


def party(row: Delivery) -> str:
    """Whose turn a row is: the person it concerns (their direct messages, and a line to them
    in another room, such as "another account writes to you now"), else its conversation.
    A party's rows leave in order and through one lane at a time."""
    return f"person:{row.person_id}" if row.person_id is not None else row.recipient


def pick(
    rows: Iterable[Delivery],
    lane_of: Callable[[Delivery], str],
    cost_of: Callable[[Delivery, str], int],
    quotas: Mapping[str, float],
    held: Mapping[str, str] | None = None,
) -> list[Delivery]:
    """The rows of one round, in the order given (the outbox's fair order): each lane (a key of
    ``quotas``; a lane left out is paused) up to its quota of requests (at least one row). A
    party (:func:`party`) whose row is left out has its later rows left out too (order within
    a conversation), and so has a party whose earlier rows another lane holds (``held``: party
    → lane, rows queued or in flight; or taken earlier in this round): a moved person's first
    message from their new account waits for the line from the old one."""
    used: dict[str, float] = dict.fromkeys(quotas, 0.0)
    lanes_of = dict(held or {})
    blocked: set[str] = set()
    taken: list[Delivery] = []
    for row in rows:
        key = party(row)
        if key in blocked:
            continue
        lane = lane_of(row)
        if lane not in used or lanes_of.get(key, lane) != lane:
            blocked.add(key)
            continue
        cost = cost_of(row, lane)
        if used[lane] > 0 and used[lane] + cost > quotas[lane]:
            blocked.add(key)
            continue
        used[lane] += cost
        lanes_of[key] = lane
        taken.append(row)
    return taken


def outgoing(delivery: Delivery, image: Image | None = None) -> Outgoing:
    """The message an outbox row becomes (``image``: its rendered picture, if any)."""
    return Outgoing(
        text=delivery.body or "",
        key=delivery.key,
        person_id=None if delivery.to_conversation else delivery.recipient,
        conversation_id=delivery.recipient if delivery.to_conversation else None,
        mentions=delivery.mentions,
        buttons=delivery.buttons,
        direct_hint=None if delivery.to_conversation else delivery.conversation,
        resend=delivery.claimed_before,
        image=image,
    )


class LaneHost(Protocol):
    """What a :class:`LaneRun` needs of the outbox (bot/outbox.py's Dispatcher)."""

    async def read_rows(self, limit: int, exclude: set[int]) -> list[Delivery]:
        """Due rows in fair order, ``exclude`` left out (not stamped)."""
        ...

    async def stamp_rows(self, rows: Sequence[Delivery]) -> None: ...

    async def unclaim_rows(self, rows: Sequence[Delivery]) -> None:
        """Rows read and never tried go back (their claim forgotten)."""
        ...

    async def deliver_row(self, row: Delivery, ahead: Sequence[Delivery], lane: Lane) -> None: ...

    def unmarked_ids(self) -> set[int]:
        """Rows sent whose mark is not written yet (still due in the database)."""
        ...

    def lane_may_send(self, lane: Lane) -> bool:
        """False once stopping, paused, or new messages were enqueued."""
        ...


class LaneRun:
    """The lanes side by side, each refilling its own queue (see the module's docstring)."""

    def __init__(self, host: LaneHost, lanes: AccountLanes, limit: int | None, most: int) -> None:
        self.host = host
        self.lanes = lanes
        self.limit = limit
        self.most = most
        self.queues: dict[str, deque[Delivery]] = {name: deque() for name in lanes.lanes}
        self.in_flight: dict[int, tuple[Delivery, str]] = {}  # row id → (row, its lane)
        self.handled = 0
        self._reading = asyncio.Lock()

    async def run(self, now: Callable[[], datetime]) -> int:
        results = await asyncio.gather(
            *(self._lane(lane, now) for lane in self.lanes.lanes.values()),
            return_exceptions=True,
        )
        # A lane that stopped before another's read filled its queue: those rows go back.
        left = [row for queue in self.queues.values() for row in queue]
        for queue in self.queues.values():
            queue.clear()
        if left:
            await self.host.unclaim_rows(left)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return self.handled

    async def _lane(self, lane: Lane, now: Callable[[], datetime]) -> None:
        queue = self.queues[lane.name]
        try:
            while self.host.lane_may_send(lane):
                if self.limit is not None and self.handled >= self.limit:
                    break
                if not queue and not await self._refill(lane, now()):
                    break  # nothing due for this account (a later drain looks again)
                row = queue.popleft()
                self.in_flight[row.id] = (row, lane.name)
                self.handled += 1
                try:
                    await self.host.deliver_row(row, [row, *queue], lane)
                finally:
                    self.in_flight.pop(row.id, None)
        finally:
            left = list(queue)
            queue.clear()
            if left:
                await self.host.unclaim_rows(left)

    def _held(self) -> set[int]:
        held = {row.id for queue in self.queues.values() for row in queue}
        return held | set(self.in_flight) | self.host.unmarked_ids()

    def _parties(self) -> dict[str, str]:
        """Party → the lane holding its rows (queued or in flight)."""
        found = {party(row): lane for row, lane in self.in_flight.values()}
        for name, queue in self.queues.items():
            found.update((party(row), name) for row in queue)
        return found

    def _room(self, now: datetime) -> dict[str, float]:
        """Requests each lane's queue can take (lanes paused or full left out)."""
        room = {}
        for name, lane in self.lanes.lanes.items():
            queued = sum(self.lanes.cost(row, name) for row in self.queues[name])
            if not lane.paused(now) and queued < lane.quota():
                room[name] = lane.quota() - queued
        return room

    async def _refill(self, lane: Lane, now: datetime) -> bool:
        """Read due rows for every lane with room (one read at a time); True when this lane's
        queue has rows again."""
        async with self._reading:
            if self.queues[lane.name]:
                return True  # another lane's read filled it meanwhile
            room = self._room(now)
            if lane.name not in room:
                return False
            # The whole fairness window: a lane whose rows are few must find them, else it would
            # stop while others still send (the database reads that window anyway).
            rows = await self.host.read_rows(self.most, self._held())
            names: dict[int, str] = {}

            def lane_name(row: Delivery) -> str:
                if row.id not in names:
                    names[row.id] = self.lanes.lane_of(row).name
                return names[row.id]

            taken = pick(rows, lane_name, self.lanes.cost, room, self._parties())
            if taken:
                await self.host.stamp_rows(taken)
            for row in taken:
                self.queues[names[row.id]].append(row)
            return bool(self.queues[lane.name])
