from __future__ import annotations

import asyncio
import io
import queue
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TextIO, cast

import pytest

from bot.core import DeliveryError, Incoming, Outgoing
from bot.platforms.console import ConsolePlatform
from tests.helpers.platform_contract import Holds, Inbox, PlatformContract, Say


class LineFeed:
    """Console input a test types into, line by line (``readline`` waits for the next)."""

    def __init__(self) -> None:
        self.lines: queue.Queue[str] = queue.Queue()

    def readline(self) -> str:
        return self.lines.get()

    def isatty(self) -> bool:
        return False


class TestConsoleContract(PlatformContract):
    @pytest.fixture
    async def platform(self, tmp_path: Path) -> AsyncIterator[ConsolePlatform]:
        feed = LineFeed()
        platform = ConsolePlatform(
            input_stream=cast(TextIO, feed),
            output=io.StringIO(),
            journal_path=tmp_path / "j.jsonl",
            interactive=False,
        )
        await platform.start()
        received: asyncio.Queue[Incoming] = asyncio.Queue()
        running = asyncio.ensure_future(platform.run(received.put))
        platform.received = received  # type: ignore[attr-defined]
        platform.feed = feed  # type: ignore[attr-defined]
        yield platform
        feed.lines.put("")  # end of input: the reading thread and run() end
        await asyncio.wait_for(running, 5)
        await platform.stop()

    @pytest.fixture
    def recipient(self) -> str:
        return "@alice:console"

    @pytest.fixture
    def inbox(self, platform: ConsolePlatform, recipient: str) -> Inbox:
        async def read() -> list[str]:
            return [m["text"] for m in platform.journal.messages if m["to"] == recipient]

        return read

    @pytest.fixture
    def say(self, platform: ConsolePlatform, recipient: str) -> Say:
        async def write(text: str) -> Incoming:
            feed: LineFeed = platform.feed  # type: ignore[attr-defined]
            feed.lines.put(f"/as {recipient}\n")
            feed.lines.put(f"{text}\n")
            received: asyncio.Queue[Incoming] = platform.received  # type: ignore[attr-defined]
            return await asyncio.wait_for(received.get(), 5)

        return write

    @pytest.fixture
    def room(self, platform: ConsolePlatform, recipient: str) -> str:
        # What "/salon #equipe:console" records when the recipient enters the room.
        platform.journal.append({"type": "join", "room": "#equipe:console", "member": recipient})
        return "#equipe:console"

    @pytest.fixture
    def unknown_room(self) -> str:
        return "#nulle-part:console"

    @pytest.fixture
    def holds(self, platform: ConsolePlatform, tmp_path: Path) -> Holds:
        async def named(person: str) -> bool:
            return person in (tmp_path / "j.jsonl").read_text(encoding="utf-8")

        return named


async def test_keys_survive_restart(tmp_path: Path) -> None:
    journal = tmp_path / "j.jsonl"
    out = io.StringIO()
    first = ConsolePlatform(input_stream=io.StringIO(), output=out, journal_path=journal)
    await first.start()
    await first.send(Outgoing(text="Invitation", key="inv:1:1", person_id="@a:console"))
    second = ConsolePlatform(input_stream=io.StringIO(), output=out, journal_path=journal)
    await second.start()
    await second.send(Outgoing(text="Invitation", key="inv:1:1", person_id="@a:console"))
    assert out.getvalue().count("Invitation") == 1


async def test_piped_session_switches_speakers_and_rooms(tmp_path: Path) -> None:
    lines = (
        "/as @alice:console\nbonjour\n/salon #equipe:console\n!pix aide\n"
        "/as @bob:console\n/salon #equipe:console\nsalut\n/quit\nignored\n"
    )
    platform = ConsolePlatform(
        input_stream=io.StringIO(lines), output=io.StringIO(), journal_path=tmp_path / "j"
    )
    await platform.start()
    received: list[Incoming] = []

    async def on_message(incoming: Incoming) -> None:
        received.append(incoming)

    await platform.run(on_message)
    assert [(m.sender_id, m.text, m.is_direct) for m in received] == [
        ("@alice:console", "bonjour", True),
        ("@alice:console", "!pix aide", False),
        ("@bob:console", "salut", False),
    ]
    assert received[0].conversation_id == "dm:@alice:console"
    members = await platform.room_members("#equipe:console")
    assert [m.platform_id for m in members] == ["@alice:console", "@bob:console"]
    with pytest.raises(DeliveryError):
        await platform.room_members("#inconnu:console")
