"""Fixtures of the Matrix tests: an E2EE agent on the session's Synapse, the bot's account."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.helpers.matrix_client import BotAccount, MatrixUser
from tests.helpers.synapse import SynapseServer


@pytest.fixture
async def agent(synapse: SynapseServer, tmp_path: Path) -> AsyncIterator[MatrixUser]:
    person = await MatrixUser(synapse, tmp_path / "agent-store").login()
    yield person
    await person.close()


@pytest.fixture
def bot(synapse: SynapseServer) -> BotAccount:
    return BotAccount(synapse)
