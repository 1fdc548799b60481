"""Issue #31 "Never deaf on Tchap", on a real Synapse: each accident ends with an agent's message
answered by a cross-signed device, or with the bot saying it cannot be reached (health 503,
``pixbot matrix status`` non-zero) — never with health ok and a bot that cannot read.

What is "health" here is what ``/healthz`` computes for the platform (:func:`platform_check`
in a :class:`Health` report); what is "status" is ``pixbot matrix status``'s exit code.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from typer.testing import CliRunner

from bot.cli import app as cli
from bot.ops_http import Health, platform_check
from bot.platforms.matrix import MatrixPlatform
from bot.platforms.matrix.device import MatrixNeedsOperator
from bot.platforms.matrix.status import matrix_status
from tests.e2e.test_matrix_crosssigning import (
    create_identity_as_a_person,
    dm_with_bot,
    keys_query,
    own_devices,
    person_recovery_key,
    ping_pong,
    verified_chain,
)
from tests.helpers.matrix_client import (
    BotAccount,
    MatrixUser,
    running,
    unique,
    until,
)
from tests.helpers.synapse import SynapseServer

pytestmark = pytest.mark.synapse


async def health_of(platform: MatrixPlatform) -> tuple[int, dict[str, Any]]:
    """What /healthz answers about a connected platform."""
    health = Health(lambda: "active")

    async def check() -> dict[str, Any]:
        return platform_check(platform, "up")

    health.register("platform", check)
    return await health.report()


async def status_exit_code(
    store: Path, server: SynapseServer, monkeypatch: pytest.MonkeyPatch
) -> int:
    """``pixbot matrix status``'s exit code (in a thread: the command runs its own loop)."""
    monkeypatch.setenv("PIXBOT_MATRIX__STORE_PATH", str(store))
    monkeypatch.setenv("PIXBOT_MATRIX__HOMESERVER", server.base_url)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        result = await asyncio.to_thread(CliRunner().invoke, cli, ["matrix", "status"])
    finally:  # the command sets up logging on the runner's stream, closed afterwards
        root.handlers[:], root.level = handlers, level
    return result.exit_code


async def delete_device_as_admin(server: SynapseServer, user_id: str, device_id: str) -> None:
    _, token = server.register(unique("admin"), "secret-admin", admin=True)
    async with (
        aiohttp.ClientSession() as http,
        http.delete(
            f"{server.base_url}/_synapse/admin/v2/users/{user_id}/devices/{device_id}",
            headers={"Authorization": f"Bearer {token}"},
        ) as answer,
    ):
        assert answer.status == 200, await answer.text()


async def assert_ready(platform: MatrixPlatform, agent: MatrixUser, bot: BotAccount) -> None:
    """Health ok, and the device cross-signed as other users see it."""
    assert platform.readiness_problem() is None, platform.readiness()
    status, _ = await health_of(platform)
    assert status == 200
    query = await keys_query(bot.server, agent.client.access_token, bot.user_id)
    verified_chain(query, bot.user_id, platform.device_id)


async def test_store_removed_between_two_runs_heals_on_a_new_signed_device(
    bot: BotAccount, agent: MatrixUser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "store"
    first = bot.platform(store)
    async with running(first) as received:
        room_id = await dm_with_bot(agent, bot.user_id)
        await ping_pong(first, received, agent, room_id, "avant")
        assert first.readiness_problem() is None
    recovery = (store / "recovery-key.txt").read_text().splitlines()[-1]
    # The key still in the store and not in the secrets: a person must move it.
    assert await status_exit_code(store, bot.server, monkeypatch) == 1
    monkeypatch.setenv("PIXBOT_MATRIX__RECOVERY_KEY", recovery)
    (store / "recovery-key.txt").unlink()
    assert await status_exit_code(store, bot.server, monkeypatch) == 0

    shutil.rmtree(store)
    # Without the recovery key nothing can sign a new device: a person must act.
    with pytest.raises(MatrixNeedsOperator) as stopped:
        await bot.platform(store).start()
    assert "recovery_key" in str(stopped.value) and recovery not in str(stopped.value)

    second = bot.platform(store, recovery_key=recovery)
    async with running(second) as received:
        assert second.device_id.startswith("PIXBOT-"), second.device_id
        await assert_ready(second, agent, bot)
        # The old device (its keys lost with the store) is gone from the account.
        assert "PIXBOT" not in await own_devices(bot.server, second.client.access_token)
        fresh = await dm_with_bot(agent, bot.user_id)
        await ping_pong(second, received, agent, fresh, "après")
    assert await status_exit_code(store, bot.server, monkeypatch) == 0

    # A restart keeps the new device; a configured device id different from the session's wins.
    third = bot.platform(store, recovery_key=recovery)
    await third.start()
    assert third.device_id == second.device_id
    await third.stop()
    chosen = bot.platform(store, recovery_key=recovery, device_id="PIXBOTCHOSEN")
    await chosen.start()
    assert chosen.device_id == "PIXBOTCHOSEN" and chosen.readiness_problem() is None
    # The replaced device is logged out, and its key store removed.
    devices = await own_devices(bot.server, chosen.client.access_token)
    assert "PIXBOTCHOSEN" in devices and second.device_id not in devices
    assert not list(store.glob(f"*_{second.device_id}.db*"))
    await chosen.stop()


async def test_device_deleted_on_the_server_then_relaunched_heals(
    bot: BotAccount, agent: MatrixUser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "store"
    first = bot.platform(store)
    await first.start()
    await first.stop()
    await delete_device_as_admin(bot.server, bot.user_id, "PIXBOT")
    # What the operator sees before relaunching: the bot cannot be reached.
    assert await status_exit_code(store, bot.server, monkeypatch) != 0

    second = bot.platform(store)  # the recovery key is still in the store
    async with running(second) as received:
        assert second.device_id.startswith("PIXBOT-")
        await assert_ready(second, agent, bot)
        room_id = await dm_with_bot(agent, bot.user_id)
        await ping_pong(second, received, agent, room_id, "relancé")
        info = await matrix_status(store, bot.server.base_url)
        assert info["reachable"] and info["replaced_device"] == "PIXBOT"
        assert info["healed_reason"] == "logged_out" or info["healed_reason"] == "device_recreated"


async def test_device_deleted_while_running_moves_to_a_new_device_and_answers(
    bot: BotAccount, agent: MatrixUser, tmp_path: Path
) -> None:
    platform = bot.platform(tmp_path / "store")
    async with running(platform) as received:
        await delete_device_as_admin(bot.server, bot.user_id, "PIXBOT")
        # The bot's next request is refused for good: it moves to a new device by itself.
        room_id = await dm_with_bot(agent, bot.user_id)
        await until(_on_new_device(platform), "the bot to move to a new device")
        await agent.knows_devices_of(bot.user_id)
        await ping_pong(platform, received, agent, room_id, "nouvel appareil")
        await assert_ready(platform, agent, bot)


def _on_new_device(platform: MatrixPlatform) -> Any:
    async def check() -> bool | None:
        if platform.device_id != "PIXBOT" and platform.readiness_problem() is None:
            return True
        await asyncio.sleep(0.2)  # bounded by until()
        return None

    return check


async def claim_one(server: SynapseServer, token: str, user_id: str, device_id: str) -> bool:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{server.base_url}/_matrix/client/v3/keys/claim",
            json={"one_time_keys": {user_id: {device_id: "signed_curve25519"}}},
            headers={"Authorization": f"Bearer {token}"},
        ) as answer,
    ):
        body = await answer.json()
    return bool(body.get("one_time_keys", {}).get(user_id, {}).get(device_id))


async def test_one_time_keys_exhausted_are_published_again(
    bot: BotAccount, agent: MatrixUser, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    first = bot.platform(store)
    await first.start()
    device_id = first.device_id
    await first.stop()
    # Everyone who wrote meanwhile took one: none left (nio ignores a count of 0 and, with
    # no count since its restart, would never publish more).
    token = agent.client.access_token
    claimed = 0
    while await claim_one(bot.server, token, bot.user_id, device_id):
        claimed += 1
    assert claimed > 0

    platform = bot.platform(store)
    async with running(platform) as received:

        async def replenished() -> bool | None:
            if await claim_one(bot.server, token, bot.user_id, device_id):
                return True
            await asyncio.sleep(0.2)  # bounded by until()
            return None

        await until(replenished, "new one-time keys on the server")
        assert platform.readiness_problem() is None
        # A newcomer (who needs a one-time key) reaches the bot.
        room_id = await dm_with_bot(agent, bot.user_id)
        await ping_pong(platform, received, agent, room_id, "clés")


async def test_wrong_recovery_key_is_unhealthy_and_status_says_what_to_do(
    bot: BotAccount, agent: MatrixUser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await create_identity_as_a_person(bot.server, bot.user_id, bot.password)
    wrong = person_recovery_key(secrets.token_bytes(32))
    store = tmp_path / "store"
    platform = bot.platform(store, device_id="PIXBOTWRONG", recovery_key=wrong)
    async with running(platform):
        assert platform.readiness_problem() == "not_cross_signed"
        status, body = await health_of(platform)
        assert status == 503
        assert body["checks"]["platform"] == "unreachable_by_people"
        assert body["reasons"] == {"platform": "not_cross_signed"}
        assert wrong not in str(body)
        info = await matrix_status(store, bot.server.base_url)
        assert not info["reachable"] and "recovery_key" in info["todo"]
        assert await status_exit_code(store, bot.server, monkeypatch) == 1
