"""What the outbox sent and has not written down yet (bot/outbox.py marks them in batches)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class DispatchStats:
    sent: int = 0
    retried: int = 0
    failed: int = 0


@dataclass
class Marks:
    """Sends the platform accepted and the database does not know yet."""

    sent: list[tuple[int, str]] = field(default_factory=list)
    conversations: dict[int, str] = field(default_factory=dict)
    batches: dict[str, None] = field(default_factory=dict)
    since: float = field(default_factory=time.monotonic)
