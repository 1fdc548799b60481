"""Shared fixtures: databases (SQLite and PostgreSQL), a console bot with a fake clock."""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bot.app import App
from bot.config import Settings, load_settings
from bot.core import FakeClock, Outgoing, SendResult
from bot.platforms.console import ConsolePlatform
from storage.uow import Store
from tests.synapse import synapse  # noqa: F401  (one Synapse for the whole session)

POSTGRES_URL = os.environ.get(
    "PIXBOT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
POSTGRES_REQUIRED = os.environ.get("PIXBOT_TEST_POSTGRES_REQUIRED") == "1"


def _postgres_problem() -> str | None:
    try:
        engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("select 1"))
        engine.dispose()
    except Exception as exc:
        return f"no PostgreSQL server answers at {POSTGRES_URL}: {type(exc).__name__}"
    return None


_PG_PROBLEM: str | bool | None = False


def postgres_problem() -> str | None:
    global _PG_PROBLEM
    if _PG_PROBLEM is False:
        _PG_PROBLEM = _postgres_problem()
    return _PG_PROBLEM  # type: ignore[return-value]


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh schema in the PostgreSQL test database, dropped afterwards."""
    problem = postgres_problem()
    if problem:
        if POSTGRES_REQUIRED:
            pytest.fail(problem)
        pytest.skip(problem)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'pixbot.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'pixbot.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    store = Store.from_url(db_url)
    store.upgrade()
    yield store
    store.close()


@pytest.fixture
def clock() -> FakeClock:
    # Monday 23 November 2026, 10:00 in Paris.
    return FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))


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

    async def send(self, message: Outgoing) -> SendResult:
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


@pytest.fixture
def bot(store: Store, clock: FakeClock, tmp_path: Path, db_url: str) -> Bot:
    settings = make_settings(db_url, admins=["@admin:console"])
    platform = RecordingConsole(journal_path=tmp_path / "console.jsonl")
    platform.journal.load()
    app = App(settings, store, platform, clock=clock)
    return Bot(app, platform, clock)
