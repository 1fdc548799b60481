"""Fixtures of the Matrix tests: an E2EE agent on the session's Synapse, the bot's account,
and the harness of the tests that run the real bot process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.helpers.bot_process import Harness
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


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    harness = Harness(tmp_path)
    try:
        yield harness
    finally:
        await harness.close()
