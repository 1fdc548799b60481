"""Messages that arrive before their room key, and the bot's very first sync, on a real Synapse.

An agent's nio client is made to send an encrypted message without sharing its megolm key (as
happens on Tchap when the to-device key travels late), then to share it: the bot hands the
message over once, when the key arrives — across a restart too — and says "undecryptable" only
when the key never comes.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from nio import RoomCreateResponse
from nio.api import Api

from bot.core import Incoming
from bot.platforms.matrix import MatrixPlatform
from bot.platforms.matrix.pending import PendingEvents
from tests.helpers.matrix_client import (
    WAIT,
    BotAccount,
    MatrixUser,
    next_message,
    running,
    until,
)

pytestmark = pytest.mark.synapse


async def withhold_key(agent: MatrixUser, room_id: str) -> list[dict[str, Any]]:
    """Start a new megolm session for the agent's next messages, and prepare its key for the
    room's devices without sending it (what a late to-device message looks like): the
    returned bundles are sent by :func:`deliver_key`."""
    client = agent.client
    olm = client.olm
    assert olm is not None
    missing = client.get_missing_sessions(room_id)
    if missing:
        await client.keys_claim(missing)
    olm.create_outbound_group_session(room_id)
    users = list(client.rooms[room_id].users)
    bundles = [
        bundle
        for _, bundle in olm.share_group_session_parallel(
            room_id, users, ignore_unverified_devices=True
        )
    ]
    assert bundles, "no device to share the key with"
    olm.outbound_group_sessions[room_id].shared = True  # nio now sends without sharing it
    return bundles


async def deliver_key(agent: MatrixUser, bundles: list[dict[str, Any]]) -> None:
    client = agent.client
    for bundle in bundles:
        method, path, data = Api.to_device(
            client.access_token, "m.room.encrypted", bundle, uuid.uuid4().hex
        )
        response = await client.send(method, path, data)
        assert response.status == 200, await response.text()
        response.release()


async def held(store: Path, event_id: str, agent: MatrixUser) -> None:
    async def check() -> bool | None:
        pending = PendingEvents(store / "pending_events.json")
        pending.load()
        if event_id in pending:
            return True
        await agent.sync(timeout_ms=300)
        return None

    await until(check, "the bot to keep the undecryptable message")


async def test_a_message_before_its_key_is_handled_once_when_the_key_arrives(
    bot: BotAccount, agent: MatrixUser, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    platform = bot.platform(store)
    async with running(platform) as received:
        room_id = await agent.open_dm(bot.user_id)
        await agent.knows_devices_of(bot.user_id)
        late_key = await withhold_key(agent, room_id)
        early = await agent.send_text(room_id, "aide")
        await held(store, early, agent)
        assert received.empty()  # not answered "send it again"
    # The bot restarts meanwhile: the message is kept on disk, not lost with the sync token.
    restarted = bot.platform(store)
    async with running(restarted) as received:
        await deliver_key(agent, late_key)
        incoming = await next_message(received)
        assert (incoming.event_id, incoming.text) == (early, "aide")
        assert not incoming.undecryptable and incoming.is_direct
        # Handed over once: the next thing the bot sees is the next message.
        later = await agent.send_text(room_id, "merci")
        assert (await next_message(received)).event_id == later
    pending = PendingEvents(store / "pending_events.json")
    pending.load()
    assert len(pending) == 0


async def test_a_key_that_never_comes_is_reported_undecryptable_once(
    bot: BotAccount, agent: MatrixUser, tmp_path: Path
) -> None:
    platform = bot.platform(tmp_path / "store", key_wait=0.0)
    async with running(platform) as received:
        room_id = await agent.open_dm(bot.user_id)
        await agent.knows_devices_of(bot.user_id)
        late_key = await withhold_key(agent, room_id)
        lost = await agent.send_text(room_id, "aide")
        incoming = await next_message(received)
        assert incoming.event_id == lost and incoming.undecryptable
        # The key comes after all (too late): nothing more for that event.
        await deliver_key(agent, late_key)
        later = await agent.send_text(room_id, "merci")
        assert (await next_message(received)).event_id == later


def after_login(platform: MatrixPlatform, then: Callable[[], Awaitable[None]]) -> None:
    """Run ``then`` between the platform's login and its first sync."""
    login = platform.login.login

    async def hooked() -> None:
        await login()
        await then()

    platform.login.login = hooked  # type: ignore[method-assign]


async def test_a_message_sent_after_the_first_login_is_not_dropped(
    bot: BotAccount, agent: MatrixUser, tmp_path: Path
) -> None:
    # A clear-text room the bot is in, from an earlier install (another store, another device).
    created = await agent.client.room_create(invite=[bot.user_id])
    assert isinstance(created, RoomCreateResponse), created
    room_id = created.room_id
    async with running(bot.platform(tmp_path / "old-store", device_id="OLD")):
        await agent.wait_for(lambda: agent.has_joined(room_id, bot.user_id), "the bot to join")
    await agent.send_text(room_id, f"!pix avant {bot.user_id}")  # before: not replayed

    fresh = MatrixPlatform(
        homeserver=bot.server.base_url,
        user_id=bot.user_id,
        password=bot.password,
        store_path=tmp_path / "new-store",
        device_id="NEW",
        request_timeout=5.0,
    )
    sent: list[str] = []

    async def agent_writes() -> None:
        sent.append(await agent.send_text(room_id, "!pix aide"))

    after_login(fresh, agent_writes)
    received: asyncio.Queue[Incoming] = asyncio.Queue()

    async def on_message(incoming: Incoming) -> None:
        await received.put(incoming)

    task = asyncio.create_task(fresh.run(on_message))
    try:
        incoming = await next_message(received)
        assert incoming.event_id == sent[0] and incoming.text == "!pix aide"
        later = await agent.send_text(room_id, "!pix merci")
        assert (await next_message(received)).event_id == later
    finally:
        await fresh.stop()
        await asyncio.wait_for(task, WAIT)
