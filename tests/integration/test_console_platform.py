from __future__ import annotations

import io
from pathlib import Path

import pytest

from bot.core import DeliveryError, Incoming, Outgoing
from bot.platforms.console import ConsolePlatform
from tests.helpers.platform_contract import Inbox, PlatformContract


class TestConsoleContract(PlatformContract):
    @pytest.fixture
    async def platform(self, tmp_path: Path) -> ConsolePlatform:
        platform = ConsolePlatform(
            input_stream=io.StringIO(),
            output=io.StringIO(),
            journal_path=tmp_path / "j.jsonl",
            interactive=False,
        )
        await platform.start()
        return platform

    @pytest.fixture
    def recipient(self) -> str:
        return "@alice:console"

    @pytest.fixture
    def inbox(self, platform: ConsolePlatform, recipient: str) -> Inbox:
        async def read() -> list[str]:
            return [m["text"] for m in platform.journal.messages if m["to"] == recipient]

        return read


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
