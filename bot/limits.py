"""Per-sender limits: how many messages one person may send the bot per minute.

Pure bookkeeping on the injected clock (no I/O): the application's middleware asks
:meth:`SenderLimiter.check` for each message addressed to the bot. Beyond the limit the
sender gets one polite answer, then silence until their minute has room again. Fair
scheduling of the replies themselves is the outbox's (one reply per recipient in turn).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from datetime import datetime, timedelta
from enum import Enum

WINDOW = timedelta(minutes=1)
# Senders and event ids remembered at most (oldest forgotten first): bounded memory.
MAX_SENDERS = 50_000
MAX_EVENT_IDS = 10_000


class Verdict(Enum):
    ALLOW = "allow"
    # Over the limit for the first time in this burst: say so once.
    WARN = "warn"
    DROP = "drop"


class SenderLimiter:
    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._accepted: OrderedDict[str, deque[datetime]] = OrderedDict()
        self._warned: set[str] = set()
        self._events: OrderedDict[str, Verdict] = OrderedDict()

    def check(self, sender: str, event_id: str, now: datetime) -> Verdict:
        """The verdict for one message; the same event seen twice (a Slack retry, a message
        and its ``app_mention`` twin) gets the same verdict and counts once."""
        known = self._events.get(event_id)
        if known is not None:
            return Verdict.DROP if known == Verdict.WARN else known
        verdict = self._decide(sender, now)
        self._events[event_id] = verdict
        while len(self._events) > MAX_EVENT_IDS:
            self._events.popitem(last=False)
        return verdict

    def _decide(self, sender: str, now: datetime) -> Verdict:
        times = self._accepted.get(sender)
        if times is None:
            times = self._accepted[sender] = deque()
        self._accepted.move_to_end(sender)
        while times and now - times[0] >= WINDOW:
            times.popleft()
        if len(times) < self.per_minute:
            times.append(now)
            self._warned.discard(sender)
            self._forget_oldest()
            return Verdict.ALLOW
        if sender in self._warned:
            return Verdict.DROP
        self._warned.add(sender)
        return Verdict.WARN

    def _forget_oldest(self) -> None:
        while len(self._accepted) > MAX_SENDERS:
            sender, _ = self._accepted.popitem(last=False)
            self._warned.discard(sender)
