"""Erasure with sender accounts (issue #29): ``pixbot forget`` reaches every account's store."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bot.cli.erasure import offline_pipeline, run_offline
from bot.config import load_settings
from bot.core import ErasedPerson
from bot.platforms.matrix.pending import Held, PendingEvents
from storage.uow import Store


def test_pixbot_forget_reaches_every_sender_accounts_store(tmp_path: Path, store: Store) -> None:
    """Offline erasure (``pixbot forget``): the main account's and each sender account's store
    lose the events naming the person (bot/cli/erasure.py)."""
    person = "@agent-oublie:x"
    stores = [tmp_path / "main-store", tmp_path / "store-2", tmp_path / "store-3"]
    for index, folder in enumerate(stores):
        pending = PendingEvents(folder / "pending_events.json")
        pending.add(Held("!r:x", {"event_id": f"$e{index}", "sender": person}, 0.0))
        pending.add(Held("!r:x", {"event_id": f"$o{index}", "sender": "@other:x"}, 0.0))
    config = tmp_path / "pixbot.toml"
    senders = "".join(
        f'[[matrix.senders]]\nuser_id = "@pixbot-{n}:x"\nstore_path = "{folder}"\n'
        for n, folder in enumerate(stores[1:], start=2)
    )
    config.write_text(
        f'[bot]\ndatabase_url = "sqlite:///{tmp_path / "x.db"}"\n'
        f'[matrix]\nuser_id = "@pixbot:x"\nstore_path = "{stores[0]}"\n{senders}',
        encoding="utf-8",
    )
    settings = load_settings(config)
    pipeline = offline_pipeline(settings, store)
    failed = run_offline(pipeline, ErasedPerson(person, datetime.now(UTC)))
    assert failed == []
    for folder in stores:
        text = (folder / "pending_events.json").read_text(encoding="utf-8")
        assert person not in text and "@other:x" in text, folder
