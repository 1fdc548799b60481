"""The platform contract suite, run on the Matrix platform against the real Synapse."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.platforms.matrix import MatrixPlatform
from tests.helpers.matrix_client import BotAccount, MatrixUser
from tests.helpers.platform_contract import Inbox, PlatformContract
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
        yield platform
        await platform.stop()

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
