"""Messages that arrived before their room key, kept until the key comes (or for good reason,
not at all).

On Tchap the first message of an agent in a new direct room often arrives before the megolm
session key (a to-device message that travels separately). Instead of answering "send it
again", the adapter keeps the encrypted event here, asks for the key, and tries again after
every sync; the message is handed over once, when it decrypts. Only after ``wait`` seconds
without the key is it handed over as undecryptable (the core then asks to resend it).

The events are kept in ``store_path/pending_events.json`` (mode 0600) so that a restart does not
lose them: the sync token moves on as soon as the batch is handled. What is stored is what the
homeserver sent — the ciphertext, not the message — and at most ``limit`` events: beyond that
the oldest is given up (and answered as undecryptable).
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.platforms.matrix.store import write_private

logger = logging.getLogger(__name__)

# How long an event waits for its key before the sender is asked to resend it.
KEY_WAIT = 600.0
PENDING_KEPT = 200


@dataclass(frozen=True, slots=True)
class Held:
    room_id: str
    source: dict[str, Any]
    held_at: float  # wall-clock seconds

    @property
    def event_id(self) -> str:
        return str(self.source.get("event_id", ""))


class PendingEvents:
    """A bounded, durable set of encrypted events waiting for their keys (oldest first)."""

    def __init__(self, path: Path, limit: int = PENDING_KEPT) -> None:
        self.path = path
        self.limit = limit
        self._held: OrderedDict[str, Held] = OrderedDict()
        self._loaded = False

    def load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        try:
            entries = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError):
            logger.warning("Matrix : %s illisible ignoré", self.path)
            return
        for entry in entries if isinstance(entries, list) else []:
            try:
                held = Held(str(entry["room_id"]), dict(entry["source"]), float(entry["held_at"]))
            except (KeyError, TypeError, ValueError):
                continue
            self._held[held.event_id] = held

    def __len__(self) -> int:
        return len(self._held)

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._held

    def items(self) -> list[Held]:
        return list(self._held.values())

    def add(self, held: Held) -> list[Held]:
        """Keep ``held``; returns the events given up to stay within the limit."""
        self.load()
        if held.event_id in self._held:
            return []
        self._held[held.event_id] = held
        evicted = []
        while len(self._held) > self.limit:
            evicted.append(self._held.popitem(last=False)[1])
        self.save()
        return evicted

    def remove(self, event_ids: list[str]) -> None:
        if not event_ids:
            return
        for event_id in event_ids:
            self._held.pop(event_id, None)
        self.save()

    def forget(self, sender: str, needles: list[str]) -> int:
        """Erasure: drop every held event sent by ``sender`` or whose stored form names them
        (``needles``), and rewrite the file (also when it was not loaded yet)."""
        self.load()
        gone = [
            event_id
            for event_id, held in self._held.items()
            if held.source.get("sender") == sender
            or any(n and n in json.dumps(held.source, ensure_ascii=False) for n in needles)
        ]
        for event_id in gone:
            del self._held[event_id]
        if gone or self.path.exists():
            self.save()
        return len(gone)

    def save(self) -> None:
        entries = [
            {"room_id": h.room_id, "source": h.source, "held_at": h.held_at}
            for h in self._held.values()
        ]
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_private(self.path, json.dumps(entries))
