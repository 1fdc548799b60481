"""Pacing sends: a token bucket on the monotonic clock (real time, not business time)."""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict

from bot.core import Platform


class RateLimiter:
    """Token bucket on the monotonic clock (pacing is real time, not business time)."""

    def __init__(self, rate: float, burst: int = 1) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self._tokens = float(self.burst)
        self._last = time.monotonic()

    def delay(self) -> float:
        if self.rate == math.inf:  # no limit (the console): never a wait
            return 0.0
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


async def open_conversation_paced(
    platform: Platform, limiter: RateLimiter, person_id: str | None
) -> None:
    """Open a new direct conversation on its own token of the limiter, before the message.

    Where the platform's limit counts the creation of a conversation like a message
    (Synapse's ``rc_message`` counts room creations), a first message to someone costs two
    requests: the platform says so (its ``opens_conversation(person_id)``), and the
    conversation is opened here, paced, before the message takes its own token. Otherwise the
    homeserver would see two requests on one token and answer 429 at full pace.
    """
    if person_id is None or not platform.opens_conversation(person_id):
        return
    await limiter.acquire()
    await platform.open_direct(person_id)


class ConversationLimiters:
    """One token bucket per conversation (Slack paces each channel), the least recently used
    forgotten beyond ``kept``."""

    def __init__(self, rate: float, kept: int = 10_000) -> None:
        self.rate = rate
        self.kept = kept
        self._limiters: OrderedDict[str, RateLimiter] = OrderedDict()

    def get(self, recipient: str) -> RateLimiter:
        limiter = self._limiters.get(recipient)
        if limiter is None:
            limiter = self._limiters[recipient] = RateLimiter(self.rate)
            while len(self._limiters) > self.kept:
                self._limiters.popitem(last=False)
        self._limiters.move_to_end(recipient)
        return limiter


class Turns:
    """Whom the last sends went to, so that fair turns go on from one read of the outbox to
    the next (:func:`storage.repositories.outbox.fair_order`).

    Without it, a sender that reads the outbox again whenever a new reply is enqueued starts
    each read with the oldest due row — while someone floods the bot, always that person's
    backlog — and another person's reply waits behind the whole backlog. With it, whoever was
    served least recently goes first within a turn: someone else's reply waits a message or
    two at most, whatever the pace of the flood and the speed of the machine.
    """

    def __init__(self, kept: int = 10_000) -> None:
        self.kept = kept
        self._last: OrderedDict[str, int] = OrderedDict()
        self._count = 0

    def served(self, recipient: str) -> None:
        self._count += 1
        self._last[recipient] = self._count
        self._last.move_to_end(recipient)
        while len(self._last) > self.kept:
            self._last.popitem(last=False)

    def snapshot(self) -> dict[str, int]:
        """Recipient → rank of their last send (higher is more recent); a copy, for a
        database worker thread."""
        return dict(self._last)
