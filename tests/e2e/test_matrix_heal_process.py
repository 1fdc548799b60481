"""Issue #31 with the real ``pixbot run`` process: the E2EE store removed between two runs. Without
the recovery key the process stops with exit code 78 (not restarted by the unit) and one French
line; with it, it starts a new device, signed, and the ambassador's next message in the same
conversation is answered. (Health and status of these states: test_matrix_heal.py.)"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.runner import EXIT_NEEDS_OPERATOR
from tests.e2e.test_matrix_crosssigning import keys_query, verified_chain
from tests.e2e.test_matrix_e2e import Harness, start
from tests.helpers.synapse import SynapseServer

pytestmark = pytest.mark.synapse


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    harness = Harness(tmp_path)
    try:
        yield harness
    finally:
        await harness.close()


async def test_store_removed_between_two_runs_of_the_process(
    synapse: SynapseServer, harness: Harness
) -> None:
    world = await harness.world(synapse, agents=0)
    amb, bot = world.ambassador, world.bot
    await start(world)
    assert "Je suis pixbot" in await amb.say("aide", "Bonjour")
    recovery = (bot.store_path / "recovery-key.txt").read_text().splitlines()[-1]
    bot.terminate()
    shutil.rmtree(bot.store_path)

    # No recovery key anywhere: a person must act; the unit does not restart this code.
    bot.start()
    assert bot.process is not None
    assert await asyncio.to_thread(bot.process.wait, 60) == EXIT_NEEDS_OPERATOR
    log = bot.log_since_start()
    assert "[matrix] recovery_key (PIXBOT_MATRIX__RECOVERY_KEY) puis relancez pixbot" in log
    assert recovery not in log

    bot.env_overrides["PIXBOT_MATRIX__RECOVERY_KEY"] = recovery
    bot.start()
    await bot.ready()
    device_id = bot.session()["device_id"]
    assert device_id.startswith("PIXBOT-"), device_id
    query = await keys_query(synapse, amb.client.access_token, bot.user_id)
    verified_chain(query, bot.user_id, device_id)

    # The ambassador writes again in the same conversation. Element shares its room key with
    # a device that appears; nio waits for its session to be renewed: renew it, as Element
    # would share it.
    await amb.wait_for(
        lambda: True if amb.client.device_store[bot.user_id].get(device_id) else None,
        "the bot's new device",
    )
    assert amb.dm is not None
    amb.client.invalidate_outbound_session(amb.dm)
    assert "Je suis pixbot" in await amb.say("aide", "Bonjour")
