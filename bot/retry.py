"""What a failed send becomes: a pure decision, no clock, no database (the outbox applies it).

- The platform said "wait" (429): the whole outbox pauses for that long; the message keeps its
  place and the attempt does not count (being throttled is not failing).
- The platform is unreachable: the whole outbox pauses, 1 s doubling up to 30 s, and the attempt
  does not count either, so an outage of any length loses nothing.
- Anything else is this message's problem: backoff, and after :data:`MAX_ATTEMPTS` (or at once
  when retrying cannot help) it fails for good and is reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.core import DeliveryError

# With the 1-hour cap, 20 attempts keep retrying for about half a day before giving up.
MAX_ATTEMPTS = 20
MAX_BACKOFF = timedelta(hours=1)
MAX_OUTAGE_PAUSE = 30.0
# The DeliveryError code adapters use when the platform cannot be reached at all.
UNREACHABLE = "unreachable"


def backoff(attempts: int) -> timedelta:
    return min(MAX_BACKOFF, timedelta(seconds=5 * 2**attempts))


@dataclass(frozen=True, slots=True)
class Retry:
    """The decision: ``wait`` before the next attempt (of this message, or of every message
    when ``pause_all``); ``counted`` when the attempt counts; ``final`` when it failed for good;
    ``outage`` the seconds of the unreachable-platform pause from now on; ``throttled`` when
    the platform said "wait"."""

    wait: timedelta
    attempts: int
    counted: bool
    final: bool
    pause_all: bool
    outage: float
    throttled: bool


def decide(error: DeliveryError, attempts: int, outage: float) -> Retry:
    """``attempts`` counted so far for the message; ``outage`` the current pause (seconds)."""
    counted = error.retry_after is None and error.code != UNREACHABLE
    total = attempts + 1 if counted else attempts
    final = error.permanent or total >= MAX_ATTEMPTS
    if error.retry_after is not None:
        wait, pause_all = timedelta(seconds=error.retry_after), True
    elif error.code == UNREACHABLE:
        outage = min(max(outage * 2, 1.0), MAX_OUTAGE_PAUSE)
        wait, pause_all = timedelta(seconds=outage), True
    else:
        wait, pause_all = backoff(total), False
    return Retry(
        wait=wait,
        attempts=total,
        counted=counted,
        final=final,
        pause_all=pause_all,
        outage=outage,
        throttled=error.retry_after is not None,
    )
