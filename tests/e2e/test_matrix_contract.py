"""The platform contract suite, run on the Matrix platform against the real Synapse."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nio import RoomCreateResponse, RoomPreset

from bot.core import Incoming
from bot.platforms.matrix import MatrixPlatform
from bot.platforms.matrix.pool import MatrixPool
from bot.platforms.matrix.ring import HashRing
from tests.helpers.matrix_client import WAIT, BotAccount, MatrixUser
from tests.helpers.platform_contract import Holds, Inbox, PlatformContract, Say
from tests.helpers.synapse import SynapseServer

pytestmark = pytest.mark.synapse


async def _quiet_bodies(agent: MatrixUser, room_id: str, writer_id: str) -> list[str]:
    """The agent's decrypted messages from ``writer_id`` in the room, once a sync round brings
    nothing new (every message sent so far has arrived and is decrypted)."""
    if room_id not in agent.client.rooms:
        await agent.join_invite(room_id)
    seen, messages = -1, []
    for _ in range(20):
        await agent.sync(timeout_ms=700)
        messages = agent.messages_from(writer_id, room_id)
        if len(messages) == seen and all(hasattr(m, "body") for m in messages):
            break
        seen = len(messages)
    return [str(m.body) for m in messages if hasattr(m, "body")]


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
            bodies = await _quiet_bodies(agent, room_id, platform.bot_id)
            history = await agent.history_from(platform.bot_id, room_id)
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
            return person in rooms or platform.has_direct_room(person)

        return named


class TestMatrixPoolContract(TestMatrixContract):
    """The same contract, on a pool of two accounts (issue #29) where the agent is pinned to the
    sender account: the pool is one platform to the core, whichever account writes."""

    @pytest.fixture
    async def platform(  # type: ignore[override]
        self, synapse: SynapseServer, tmp_path: Path, agent: MatrixUser
    ) -> AsyncIterator[MatrixPool]:
        main = BotAccount(synapse)
        while True:  # a sender the agent is pinned to (one draw in two)
            sender = BotAccount(synapse)
            if HashRing([main.user_id, sender.user_id]).account_for(agent.user_id) == (
                sender.user_id
            ):
                break
        pool = MatrixPool(
            [
                main.platform(tmp_path / "main-store"),
                sender.platform(tmp_path / "sender-store", direct_only=True),
            ]
        )
        await pool.start()
        received: asyncio.Queue[Incoming] = asyncio.Queue()
        running = asyncio.create_task(pool.run(received.put))
        pool.received = received  # type: ignore[attr-defined]
        yield pool
        await pool.stop()
        await asyncio.wait_for(running, WAIT)

    @pytest.fixture
    def inbox(self, platform: MatrixPool, agent: MatrixUser) -> Inbox:  # type: ignore[override]
        writer = platform.pinned(agent.user_id)
        assert writer is not platform.main

        async def read() -> list[str]:
            room_id = await platform.open_direct(agent.user_id)
            bodies = await _quiet_bodies(agent, room_id, writer.bot_id)
            # Nobody else of the pool wrote to them.
            assert await agent.history_from(platform.main.bot_id, room_id) == []
            return bodies

        return read

    @pytest.fixture
    def say(self, platform: MatrixPool, agent: MatrixUser) -> Say:  # type: ignore[override]
        async def write(text: str) -> Incoming:
            room_id = await platform.open_direct(agent.user_id)
            if room_id not in agent.client.rooms:
                await agent.join_invite(room_id)
            await agent.knows_devices_of(platform.pinned(agent.user_id).bot_id)
            await agent.send_text(room_id, text)
            received: asyncio.Queue[Incoming] = platform.received  # type: ignore[attr-defined]
            while True:
                incoming = await asyncio.wait_for(received.get(), WAIT)
                if incoming.text == text:
                    return incoming

        return write

    @pytest.fixture
    def holds(self, platform: MatrixPool) -> Holds:  # type: ignore[override]
        async def named(person: str) -> bool:
            for account in platform.accounts:
                direct = await account.client.list_direct_rooms()
                if person in (getattr(direct, "rooms", None) or {}) or account.has_direct_room(
                    person
                ):
                    return True
            return False

        return named
