"""Issue #31: every message heard, on a real Synapse. A sync gives at most 10 events per room
(Synapse's default filter); what arrives beyond that between two syncs — a burst, or whatever
piles up while the bot is down — is fetched from the room's history and handed over in order,
exactly once, in direct and group rooms alike."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from nio import RoomCreateResponse, RoomPreset

from bot.core import Incoming
from tests.e2e.test_matrix_crosssigning import MEGOLM, dm_with_bot
from tests.helpers.matrix_client import WAIT, BotAccount, MatrixUser, until

pytestmark = pytest.mark.synapse

SYNC_LIMIT = 10  # Synapse's default timeline limit, which the bot's syncs use


class Heard:
    """What reaches the bot's handler, in order; ``hold`` makes the handler wait on a text."""

    def __init__(self) -> None:
        self.texts: list[tuple[str, str]] = []  # (room id, text)
        self.hold: dict[str, asyncio.Event] = {}

    async def __call__(self, incoming: Incoming) -> None:
        self.texts.append((incoming.conversation_id, incoming.text))
        gate = self.hold.get(incoming.text)
        if gate is not None:
            await asyncio.wait_for(gate.wait(), WAIT)

    def has(self, count: int) -> Callable[[], Awaitable[bool | None]]:
        async def check() -> bool | None:
            if len(self.texts) >= count:
                return True
            await asyncio.sleep(0.1)  # bounded by until()
            return None

        return check

    def in_room(self, room_id: str) -> list[str]:
        return [text for room, text in self.texts if room == room_id]


async def group_with_bot(agent: MatrixUser, bot_id: str) -> str:
    created = await agent.client.room_create(
        name="Groupe",
        preset=RoomPreset.private_chat,
        invite=[bot_id],
        initial_state=[
            {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": MEGOLM}}
        ],
    )
    assert isinstance(created, RoomCreateResponse), created
    await agent.wait_for(lambda: agent.has_joined(created.room_id, bot_id), "the bot to join")
    await agent.knows_devices_of(bot_id)
    return str(created.room_id)


async def test_a_burst_larger_than_the_sync_limit_is_heard_whole_in_order(
    bot: BotAccount, agent: MatrixUser, tmp_path: Path
) -> None:
    platform = bot.platform(tmp_path / "store")
    heard = Heard()
    gate = heard.hold["question 00"] = asyncio.Event()
    await platform.start()
    task = asyncio.create_task(platform.run(heard))
    try:
        room_id = await dm_with_bot(agent, bot.user_id)
        await agent.send_text(room_id, "question 00")
        await until(heard.has(1), "the first question")
        # While the bot handles the first question, 2.5 syncs' worth of questions arrive.
        burst = [f"question {n:02d}" for n in range(1, 2 * SYNC_LIMIT + 6)]
        for text in burst:
            await agent.send_text(room_id, text)
        gate.set()
        await agent.send_text(room_id, "fin")
        await until(heard.has(len(burst) + 2), "every question")
        await asyncio.sleep(0)
        assert heard.in_room(room_id) == ["question 00", *burst, "fin"]
    finally:
        await platform.stop()
        await asyncio.wait_for(task, WAIT)


async def test_what_piles_up_while_the_bot_is_down_is_heard_whole_after(
    bot: BotAccount, agent: MatrixUser, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    platform = bot.platform(store)
    heard = Heard()
    await platform.start()
    task = asyncio.create_task(platform.run(heard))
    direct = await dm_with_bot(agent, bot.user_id)
    group = await group_with_bot(agent, bot.user_id)
    await agent.send_text(direct, "avant")
    await until(heard.has(1), "the message before the outage")
    await platform.stop()
    await asyncio.wait_for(task, WAIT)

    # The bot is down: more than a sync's worth in each room.
    direct_texts = [f"direct {n:02d}" for n in range(SYNC_LIMIT + 5)]
    group_texts = [f"groupe {n:02d}" for n in range(SYNC_LIMIT + 5)]
    for one, two in zip(direct_texts, group_texts, strict=True):
        await agent.send_text(direct, one)
        await agent.send_text(group, two)

    again = bot.platform(store)
    heard_after = Heard()
    await again.start()
    task = asyncio.create_task(again.run(heard_after))
    try:
        await agent.send_text(direct, "fin")
        await until(heard_after.has(len(direct_texts) + len(group_texts) + 1), "the backlog")
        assert heard_after.in_room(direct) == [*direct_texts, "fin"]
        assert heard_after.in_room(group) == group_texts
    finally:
        await again.stop()
        await asyncio.wait_for(task, WAIT)
