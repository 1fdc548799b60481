"""Drive the bot as users would: the console platform (recording, failing on demand), a fake
clock, settings for a test database."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.app import App
from bot.config import Settings, load_settings
from bot.core import DeliveryError, FakeClock, Outgoing, SendResult
from bot.platforms.console import ConsolePlatform
from storage.uow import Store

Fault = Callable[[Outgoing], DeliveryError | None]


# Every moment is working time, for a bot on the real clock: messages leave only within working
# hours (COMMANDS.md, "When messages leave"), and the tests run whenever they run.
ALWAYS_OPEN = {
    "PIXBOT_SCHEDULE__WORKING_HOURS": "00:00-23:59",
    "PIXBOT_SCHEDULE__WORKING_DAYS": "mon-sun",
    "PIXBOT_SCHEDULE__HOLIDAYS": "none",
}


def clean_environment(**overrides: str) -> dict[str, str]:
    """This process's environment without any ``PIXBOT_*`` setting (for a ``pixbot`` child
    process configured by the test alone), plus ``overrides``."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PIXBOT_")}
    environment.update(overrides)
    return environment


def point_cli_at(monkeypatch: pytest.MonkeyPatch, folder: Path, db_url: str) -> None:
    """The in-process ``pixbot`` CLI works in ``folder`` on ``db_url``, no configuration file;
    the database is created as ``pixbot db upgrade`` would (the other commands refuse a
    database that does not exist yet)."""
    monkeypatch.chdir(folder)
    monkeypatch.delenv("PIXBOT_CONFIG", raising=False)
    monkeypatch.setenv("PIXBOT_BOT__DATABASE_URL", db_url)
    store = Store.from_url(db_url)
    try:
        store.upgrade()
    finally:
        store.close()


class RecordingConsole(ConsolePlatform):
    """The console platform, recording what it delivers (and optionally failing on demand)."""

    def __init__(self, journal_path: Path | None = None) -> None:
        super().__init__(
            input_stream=io.StringIO(),
            output=io.StringIO(),
            journal_path=journal_path,
            interactive=False,
        )
        self.sent: list[Outgoing] = []
        self._faults: list[Fault] = []

    def fail_when(self, fault: Fault) -> None:
        """From now on, ``fault(message)`` decides whether a send fails: it returns the
        :class:`DeliveryError` to raise, or None to deliver."""
        self._faults.append(fault)

    async def send(self, message: Outgoing) -> SendResult:
        for fault in self._faults:
            error = fault(message)
            if error is not None:
                raise error
        result = await super().send(message)
        self.sent.append(message)
        return result


@dataclass
class Bot:
    """Drive the bot as users would, on the console platform, with a fake clock."""

    app: App
    platform: RecordingConsole
    clock: FakeClock
    cursor: int = field(default=0)

    @property
    def store(self) -> Store:
        return self.app.store

    async def say(self, sender: str, text: str, room: str | None = None) -> list[str]:
        """Send a message as ``sender``; return the bot's replies in that conversation."""
        self.platform.speaker = sender
        self.platform.room = room
        incoming = self.platform.incoming(text)
        await self.app.handle(incoming)
        await self.app.dispatcher.drain()
        return [
            m["text"] for m in self.new_messages() if m["conversation"] == incoming.conversation_id
        ]

    def delivered(self) -> list[dict[str, str]]:
        return [m for m in self.platform.journal.messages]

    def new_messages(self) -> list[dict[str, str]]:
        messages = self.platform.journal.messages[self.cursor :]
        self.cursor = len(self.platform.journal.messages)
        return messages

    def new_messages_text(self) -> list[str]:
        return [m["text"] for m in self.new_messages()]

    def inbox(self, person_id: str) -> list[str]:
        return [m["text"] for m in self.platform.journal.messages if m["to"] == person_id]


def make_settings(db_url: str, **bot: object) -> Settings:
    os.environ.pop("PIXBOT_CONFIG", None)
    return load_settings(None, bot={"database_url": db_url, **bot})
