"""The platform contract suite, run on the Matrix platform against the real Synapse."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nio import RoomCreateResponse, RoomPreset

from bot.core import Incoming
from bot.platforms.matrix import MatrixPlatform
from tests.helpers.matrix_client import WAIT, BotAccount, MatrixUser
from tests.helpers.platform_contract import Holds, Inbox, PlatformContract, Say
from tests.helpers.synapse import SynapseServer

pytestmark = pytest.mark.synapse


class TestMatrixContract(PlatformContract):
    @pytest.fixture
    async def agent(self, synapse: SynapseServer, tmp_path: Path) -> AsyncIterator[MatrixUser]:
        person = await MatrixUser(synapse, tmp_path / "agent-store").login()
        yield person
        await person.close()

    @pytest.fixture
    async def platform(
        self, synapse: SynapseServer, tmp_path: Path
    ) -> AsyncIterator[MatrixPlatform]:
        platform = BotAccount(synapse).platform(tmp_path / "bot-store")
        await platform.start()
        received: asyncio.Queue[Incoming] = asyncio.Queue()
        running = asyncio.create_task(platform.run(received.put))
        platform.received = received  # type: ignore[attr-defined]
        yield platform
        await platform.stop()
        await asyncio.wait_for(running, WAIT)

    @pytest.fixture
    def recipient(self, agent: MatrixUser) -> str:
        return agent.user_id

    @pytest.fixture
    def inbox(self, platform: MatrixPlatform, agent: MatrixUser) -> Inbox:
        async def read() -> list[str]:
            room_id = await platform.open_direct(agent.user_id)
            if room_id not in agent.client.rooms:
                await agent.join_invite(room_id)
            # Sync until a quiet round: every message sent so far has arrived and is decrypted.
            seen = -1
            for _ in range(20):
                await agent.sync(timeout_ms=700)
                messages = agent.messages_from(platform.bot_id, room_id)
                if len(messages) == seen and all(hasattr(m, "body") for m in messages):
                    break
                seen = len(messages)
            history = await agent.history_from(platform.bot_id, room_id)
            bodies = [str(m.body) for m in messages if hasattr(m, "body")]
            assert len(history) == len(bodies), "server history and decrypted timeline differ"
            return bodies

        return read

    @pytest.fixture
    def say(self, platform: MatrixPlatform, agent: MatrixUser) -> Say:
        async def write(text: str) -> Incoming:
            room_id = await platform.open_direct(agent.user_id)
            if room_id not in agent.client.rooms:
                await agent.join_invite(room_id)
            await agent.knows_devices_of(platform.bot_id)
            await agent.send_text(room_id, text)
            received: asyncio.Queue[Incoming] = platform.received  # type: ignore[attr-defined]
            while True:  # the bot's own invitation or membership events are not messages
                incoming = await asyncio.wait_for(received.get(), WAIT)
                if incoming.text == text:
                    return incoming

        return write

    @pytest.fixture
    async def room(self, platform: MatrixPlatform, agent: MatrixUser) -> str:
        created = await agent.client.room_create(
            name="DREAL", invite=[platform.bot_id], preset=RoomPreset.private_chat
        )
        assert isinstance(created, RoomCreateResponse), created
        await agent.wait_for(lambda: agent.has_joined(created.room_id, platform.bot_id))
        return created.room_id

    @pytest.fixture
    def unknown_room(self, synapse: SynapseServer) -> str:
        return f"!nowhere:{synapse.server_name}"

    @pytest.fixture
    def holds(self, platform: MatrixPlatform) -> Holds:
        async def named(person: str) -> bool:
            # The bot's m.direct account data on the homeserver, and its own cache.
            direct = await platform.client.list_direct_rooms()
            rooms = getattr(direct, "rooms", None) or {}
            return person in rooms or person in platform._direct_cache

        return named
