"""Issue #31 with the real ``pixbot run`` process and its ``/healthz``: the E2EE store removed
between two runs. Without the recovery key the process stops with exit code 78 (not restarted
by the unit) and one French line; with a wrong one it serves on a new unsigned device and
``/healthz`` answers 503 with the reason; with the right one the device is signed, ``/healthz``
answers 200 and the ambassador's next message in the same conversation is answered."""

from __future__ import annotations

import asyncio
import secrets
import shutil
from typing import Any

import aiohttp
import pytest

from bot.runner import EXIT_NEEDS_OPERATOR
from tests.e2e.test_matrix_crosssigning import keys_query, person_recovery_key, verified_chain
from tests.helpers.bot_process import Harness, start
from tests.helpers.matrix_client import until
from tests.helpers.synapse import SynapseServer, free_port

pytestmark = pytest.mark.synapse


def health_once_serving(port: int) -> Any:
    """/healthz once the process serves (active, its platform past "starting")."""

    async def check() -> tuple[int, dict[str, Any]] | None:
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.get(f"http://127.0.0.1:{port}/healthz") as answer,
            ):
                status, body = answer.status, await answer.json()
        except aiohttp.ClientConnectionError:
            status, body = 0, {}
        if body.get("role") == "active" and body["checks"].get("platform") != "starting":
            return status, body
        await asyncio.sleep(0.2)  # bounded by until()
        return None

    return check


async def test_store_removed_between_two_runs_of_the_process(
    synapse: SynapseServer, harness: Harness
) -> None:
    world = await harness.world(synapse, agents=0)
    amb, bot = world.ambassador, world.bot
    port = free_port()
    bot.env_overrides["PIXBOT_HTTP__LISTEN"] = f"127.0.0.1:{port}"
    await start(world)
    assert "Je suis pixbot" in await amb.say("aide", "Bonjour")
    assert (await until(health_once_serving(port), "/healthz"))[0] == 200
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

    # A wrong recovery key: a new device, unsigned — strict clients would not write to it.
    wrong = person_recovery_key(secrets.token_bytes(32))
    bot.env_overrides["PIXBOT_MATRIX__RECOVERY_KEY"] = wrong
    bot.start()
    await bot.ready()
    device_id = bot.session()["device_id"]
    assert device_id.startswith("PIXBOT-"), device_id
    status, body = await until(health_once_serving(port), "/healthz with a wrong key")
    assert status == 503 and body["checks"]["platform"] == "unreachable_by_people", body
    assert body["reasons"]["platform"] == "not_cross_signed" and wrong not in str(body)
    bot.terminate()

    bot.env_overrides["PIXBOT_MATRIX__RECOVERY_KEY"] = recovery
    bot.start()
    await bot.ready()
    assert bot.session()["device_id"] == device_id
    assert (await until(health_once_serving(port), "/healthz with the key"))[0] == 200
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
