"""The conversation's last FAQ topic per person, for short follow-ups (bot/faq/followup.py).

Held in the process's memory only, never in the database, for :data:`FOLLOW_UP_WINDOW`
(a few minutes); an erased person is forgotten at once. A restart forgets everyone, which
costs at most one follow-up read without its context.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.faq.tuning import FOLLOW_UP_WINDOW, MEMORY_SIZE


@dataclass
class FaqMemory:
    """The last FAQ topic answered to each person, for a few minutes, in memory only."""

    window: timedelta = FOLLOW_UP_WINDOW
    _last: dict[int, tuple[str, datetime]] = field(default_factory=dict)

    def remember(self, person_id: int, topic: str, now: datetime) -> None:
        if len(self._last) >= MEMORY_SIZE:
            self._last = {key: value for key, value in self._last.items() if value[1] > now}
            if len(self._last) >= MEMORY_SIZE:  # still full: the oldest go
                self._last.pop(next(iter(self._last)))
        self._last.pop(person_id, None)
        self._last[person_id] = (topic, now + self.window)

    def recall(self, person_id: int, now: datetime) -> str | None:
        """The last topic answered to the person, if it was a moment ago."""
        last = self._last.get(person_id)
        if last is None:
            return None
        if last[1] <= now:
            del self._last[person_id]
            return None
        return last[0]

    def forget(self, person_id: int) -> None:
        self._last.pop(person_id, None)
