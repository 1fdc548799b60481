"""One lane per sending account (issue #29): the outbox's share of work between the accounts of
a platform that sends from several (:class:`bot.core.SendsFromAccounts`, Matrix's pool).

Each lane has its own :class:`~bot.sender.Sender` (the account's rate limiter) and its own pause
(a 429 ``Retry-After`` from that account stops that lane only). A round of the outbox gives
every lane about :data:`ROUND_SECONDS` of work at its own pace, taken in the outbox's fair order
(:func:`pick`): the lanes then run side by side and finish together, so no account waits for a
busier one, and a reply still goes first (the round ends early when one is enqueued).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from bot.core import Image, Outgoing, Platform, SendsFromAccounts
from bot.domain import Delivery
from bot.pacing import RateLimiter
from bot.sender import Sender

# Seconds of sending each lane is given per round: the lanes wait for one another at the end of
# a round, so a round long enough that the last message's spread is small beside it (a reply
# does not wait for the round: a round ends early when one is enqueued).
ROUND_SECONDS = 5.0


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
        """Requests this lane sends in one round."""
        rate = self.account.capabilities.rate_limit
        return max(1.0, min(500.0, rate * ROUND_SECONDS)) if math.isfinite(rate) else 500.0


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

    def read_size(self, most: int) -> int:
        """Rows to read for a round: twice what the lanes send in one (a row costs a request at
        least), so that each lane finds its share in the fair order."""
        per_round = sum(lane.quota() for lane in self.lanes.values())
        return min(most, max(len(self.lanes), int(2 * per_round)))

    def lane_of(self, delivery: Delivery) -> Lane:
        return self.lanes[self.platform.sending_account(outgoing(delivery)).bot_id]

    def cost(self, delivery: Delivery, lane: str) -> int:
        """Requests a row costs its account: a new direct room counts like a message, and so
        does a picture's upload."""
        account = self.lanes[lane].account
        opens = not delivery.to_conversation and account.opens_conversation(delivery.recipient)
        return 1 + int(opens) + int(delivery.attachment is not None)

    def round(self, rows: Iterable[Delivery], now: datetime) -> list[Delivery]:
        """The rows of the next round (:func:`pick`), the paused lanes left out."""
        quotas = {name: lane.quota() for name, lane in self.lanes.items() if not lane.paused(now)}
        if not quotas:
            return []
        return pick(rows, lambda row: self.lane_of(row).name, self.cost, quotas)

    def groups(self, due: Iterable[Delivery]) -> list[tuple[Lane, list[Delivery]]]:
        found: dict[str, tuple[Lane, list[Delivery]]] = {}
        for delivery in due:
            lane = self.lane_of(delivery)
            found.setdefault(lane.name, (lane, []))[1].append(delivery)
        return list(found.values())

    def resume_at(self, now: datetime) -> datetime | None:
        """When the first paused lane resumes, while some lane is paused."""
        ends = [
            lane.paused_until
            for lane in self.lanes.values()
            if lane.paused_until is not None and lane.paused(now)
        ]
        return min(ends) if ends else None


def pick(
    rows: Iterable[Delivery],
    lane_of: Callable[[Delivery], str],
    cost_of: Callable[[Delivery, str], int],
    quotas: Mapping[str, float],
) -> list[Delivery]:
    """The rows of one round, in the order given (the outbox's fair order): each lane (a key of
    ``quotas``; a lane left out is paused) up to its quota of requests (at least one row). A
    recipient whose row is left out has its later rows left out too (order within a
    conversation)."""
    used: dict[str, float] = dict.fromkeys(quotas, 0.0)
    blocked: set[str] = set()
    taken: list[Delivery] = []
    for row in rows:
        if row.recipient in blocked:
            continue
        lane = lane_of(row)
        if lane not in used:
            blocked.add(row.recipient)
            continue
        cost = cost_of(row, lane)
        if used[lane] > 0 and used[lane] + cost > quotas[lane]:
            blocked.add(row.recipient)
            continue
        used[lane] += cost
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
