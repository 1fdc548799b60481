"""The durable, bounded store of messages waiting for their room key."""

from __future__ import annotations

import stat
from pathlib import Path

from bot.platforms.matrix.pending import Held, PendingEvents


def held(n: int) -> Held:
    return Held("!room:x", {"event_id": f"$e{n}", "type": "m.room.encrypted"}, float(n))


def test_events_survive_a_restart_in_a_private_file(tmp_path: Path) -> None:
    path = tmp_path / "store" / "pending_events.json"
    pending = PendingEvents(path)
    assert pending.add(held(1)) == []
    assert pending.add(held(1)) == []  # the same event twice is kept once
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = PendingEvents(path)
    again.load()
    assert [h.event_id for h in again.items()] == ["$e1"] and "$e1" in again
    again.remove(["$e1"])
    reloaded = PendingEvents(path)
    reloaded.load()
    assert len(reloaded) == 0


def test_beyond_the_limit_the_oldest_is_given_up(tmp_path: Path) -> None:
    pending = PendingEvents(tmp_path / "pending_events.json", limit=2)
    pending.add(held(1))
    pending.add(held(2))
    assert [h.event_id for h in pending.add(held(3))] == ["$e1"]
    assert [h.event_id for h in pending.items()] == ["$e2", "$e3"]


def test_an_unreadable_file_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "pending_events.json"
    path.write_text("{not json", encoding="utf-8")
    pending = PendingEvents(path)
    pending.load()
    assert len(pending) == 0


def test_erasure_drops_the_persons_waiting_events_from_the_file(tmp_path: Path) -> None:
    """Issue #23: what an erased person wrote, waiting for its key, leaves the store."""
    path = tmp_path / "pending_events.json"
    pending = PendingEvents(path)
    pending.add(Held("!dm:x", {"event_id": "$a", "sender": "@gone:x", "type": "t"}, 1.0))
    pending.add(Held("!dm:y", {"event_id": "$b", "sender": "@stays:x", "type": "t"}, 2.0))
    # Not loaded yet (a pixbot forget while the bot is stopped): the file is read first.
    assert PendingEvents(path).forget("@gone:x", ["@gone:x", "Gaëlle"]) == 1
    assert b"@gone:x" not in path.read_bytes()
    again = PendingEvents(path)
    again.load()
    assert [h.event_id for h in again.items()] == ["$b"]
