"""Launches through a pool of sender accounts, with the homeserver's rate limit on (issue #29).

A Synapse of its own whose ``rc_message`` — the limit Synapse applies to each account's message
sends and room creations — is :data:`RATE` per second with a burst of :data:`BURST`; no account
is exempted, and every bot account paces itself at that rate too. The real bot process launches
a campaign to :data:`LAUNCH_N` agents (registered accounts that never log in, as in
``test_matrix_launch_faults.py``: the bot really creates each encrypted direct room) with K = 1
and K = 4 accounts, is killed (SIGKILL) in the middle and started again. Then, counted on the
homeserver: every agent was invited by exactly one account — the one consistent hashing pins
them to — in one room holding one message, and every outbox row is sent.

The last scenario adds an account between two runs: the agents pinned to it are told, once,
by the account that wrote to them before, in that room, which account writes to them now; the
next reminder comes from the new account.

Sized for a 2-core CI (``PIXBOT_E2E_POOL_N`` to change it). Every wait is bounded; no
assertion depends on how long something took.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sqlite3
from collections.abc import Iterator, Sequence

import pytest

from bot.platforms.matrix.ring import HashRing
from tests.helpers.bot_process import (
    CODE,
    SERVICE,
    BotProcess,
    Harness,
    World,
    launch,
)
from tests.helpers.matrix_client import BotMessage, unique, until
from tests.helpers.synapse import SynapseServer, make_synapse

pytestmark = pytest.mark.synapse

RATE = 2
BURST = 4
LAUNCH_N = int(os.environ.get("PIXBOT_E2E_POOL_N", "48"))
# An upper bound on a loaded machine: two requests per agent at RATE per account, K = 1.
LAUNCH_WAIT = 120.0 + 3.0 * LAUNCH_N
AGENT_PASSWORD = "agent-password"


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SynapseServer]:
    server = make_synapse(
        tmp_path_factory.mktemp("pool-synapse"),
        {"rc_message": {"per_second": RATE, "burst_count": BURST}},
    )
    try:
        yield server
    finally:
        server.cleanup()


# -- a bot with sender accounts ------------------------------------------------------------------


def add_senders(
    bot: BotProcess,
    count: int,
    moves: Sequence[str] = (),
    first: int = 2,
    among: Sequence[str] = (),
) -> list[str]:
    """Register ``count`` sender accounts and add them to the bot's configuration (their
    passwords in the file: a list of tables has no variable per entry). With ``moves`` (one
    account added to the main one and the senders ``among``), its name is drawn until it
    takes some of those people and not all, leaving some to each of ``among``: the scenario
    then never depends on the draw."""
    ids = []
    lines = [""]
    for index in range(count):
        localpart, password = unique("sender"), secrets.token_urlsafe(12)
        while moves:
            new = bot.server.user_id(localpart)
            ring = HashRing([bot.user_id, *among, new])
            taken = [p for p in moves if ring.account_for(p) == new]
            kept = all(any(ring.account_for(p) == other for p in moves) for other in among)
            if 0 < len(taken) < len(moves) and kept:
                break
            localpart = unique("sender")
        user_id, _ = bot.server.register(localpart, password)
        ids.append(user_id)
        lines += [
            "[[matrix.senders]]",
            f"user_id = {json.dumps(user_id)}",
            f"password = {json.dumps(password)}",
            f"store_path = {json.dumps(str(bot.directory / f'matrix-store-{index + first}'))}",
            "",
        ]
    with bot.config.open("a", encoding="utf-8") as config:
        config.write("\n".join(lines))
    return ids


async def connected(bot: BotProcess, accounts: Sequence[str]) -> None:
    """Until every account of this run logged in and did its first sync."""

    async def step() -> bool | None:
        assert bot.process is not None and bot.process.poll() is None, bot.log_tail()
        # The log names accounts by a pseudonym: one line per account.
        if bot.log_since_start().count("Matrix : connecté en tant que") >= len(accounts):
            return True
        await asyncio.sleep(0.1)
        return None

    await until(step, f"{len(accounts)} accounts connected")


def import_agents(bot: BotProcess, agents: Sequence[str]) -> None:
    csv_path = bot.directory / "agents.csv"
    rows = [f"{agent},Agent {i + 1},{SERVICE}" for i, agent in enumerate(agents)]
    csv_path.write_text("\n".join(["id,display_name,service", *rows]) + "\n", encoding="utf-8")
    bot.cli("agents", "import", str(csv_path))


async def sent_at_least(bot: BotProcess, count: int) -> None:
    async def step() -> bool | None:
        assert bot.process is not None and bot.process.poll() is None, bot.log_tail()
        if (await asyncio.to_thread(bot.invitation_counts)).get("sent", 0) >= count:
            return True
        await asyncio.sleep(0.1)
        return None

    await until(step, f"{count} invitations sent", LAUNCH_WAIT)


async def reported_complete(world: World, count: int) -> None:
    summary = f"Invitations de la campagne {CODE} : {count} envoyées sur {count}"
    await world.ambassador.wait_for_text(summary, within=LAUNCH_WAIT)


def rooms_by_account(
    server: SynapseServer, accounts: Sequence[str]
) -> dict[str, dict[str, list[int]]]:
    """Agent → account → messages in each room that account invited them to."""
    found: dict[str, dict[str, list[int]]] = {}
    for account in accounts:
        for agent, rooms in server.messages_per_invitee(account).items():
            found.setdefault(agent, {})[account] = rooms
    return found


# -- scenarios -----------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 4])
async def test_a_rate_limited_launch_survives_a_kill_and_each_agent_hears_from_one_account(
    k: int,
    limited: SynapseServer,
    harness: Harness,
) -> None:
    agents = limited.register_many([unique(f"k{k}agent") for _ in range(LAUNCH_N)], AGENT_PASSWORD)
    world = await harness.world(limited, agents=0, rate_limit=RATE)
    bot = world.bot
    accounts = [bot.user_id, *add_senders(bot, k - 1)]
    import_agents(bot, agents)
    bot.start()
    await connected(bot, accounts)
    await world.ambassador.open_dm()
    await launch(world)
    await sent_at_least(bot, LAUNCH_N // 4)
    bot.kill()  # SIGKILL in the middle of the launch: no cleanup at all
    assert bot.invitation_counts().get("sent", 0) < LAUNCH_N, "launch over before the kill"

    bot.start()
    await connected(bot, accounts)
    await reported_complete(world, LAUNCH_N)
    assert bot.invitation_counts() == {"sent": LAUNCH_N}
    ring = HashRing(accounts)
    received = rooms_by_account(limited, accounts)
    assert sorted(received) == sorted(agents)
    for agent, by_account in received.items():
        # One account — the agent's own, the same before and after the restart — one room,
        # one message.
        assert by_account == {ring.account_for(agent): [1]}, (agent, by_account)
    if k > 1:
        assert {ring.account_for(agent) for agent in agents} == set(accounts)
    assert "Traceback" not in bot.log_since_start()


async def test_an_added_account_is_announced_once_by_the_account_the_agent_knows(
    limited: SynapseServer,
    harness: Harness,
) -> None:
    world = await harness.world(limited, agents=6, rate_limit=RATE)
    bot = world.bot
    bot.start()
    await connected(bot, [bot.user_id])
    await world.ambassador.open_dm()
    await launch(world)
    for agent in world.agents:
        await agent.wait_for_text("https://app.pix.fr/campagnes/", within=LAUNCH_WAIT)
    bot.terminate()

    (added,) = add_senders(bot, 1, moves=[a.user_id for a in world.agents])
    ring = HashRing([bot.user_id, added])
    moved = [a for a in world.agents if ring.account_for(a.user_id) == added]
    stayed = [a for a in world.agents if a not in moved]
    assert moved, "no agent pinned to the added account: add agents"
    bot.start()
    await connected(bot, [bot.user_id, added])
    await world.ambassador.say(f"campagne relancer {CODE}", "Relance")
    line = f"c'est le compte {added} qui vous écrit"
    for agent in moved:
        # Told once, by the account they know, in the room it wrote to them in…
        told = await agent.wait_for_text(line, within=LAUNCH_WAIT)
        assert told
        messages = await agent.bot_messages()
        first_room = messages[0].room_id
        assert [m.room_id for m in messages if m.body and line in m.body] == [first_room]
        # …and the reminder comes from the new account, in a room of its own.
        agent.bot_id = added
        reminder = await agent.wait_messages(
            lambda seen: (
                seen if any(m.body and m.body.startswith("Rappel") for m in seen) else None
            ),
            "the reminder from the added account",
            within=LAUNCH_WAIT,
        )
        assert {m.room_id for m in reminder} != {first_room}
    for agent in stayed:
        await agent.wait_messages(
            lambda seen: (
                seen if any(m.body and m.body.startswith("Rappel") for m in seen) else None
            ),
            "the reminder",
            within=LAUNCH_WAIT,
        )
        assert not any(m.body and line in m.body for m in await agent.bot_messages())
    # A restart tells nobody twice.
    bot.terminate()
    bot.start()
    await connected(bot, [bot.user_id, added])
    for agent in moved:
        agent.bot_id = bot.user_id
        messages = await agent.bot_messages()
        assert len([m for m in messages if m.body and line in m.body]) == 1
    # The ambassador commands the bot: kept on the main account, the one they talk to, whatever
    # the ring says; never told of a move.
    assert bot.delivery_counts("sender_moved") == {"sent": len(moved)}
    assert not [m for m in await world.ambassador.bot_messages() if m.body and line in m.body]


async def test_a_removed_account_s_people_are_told_by_their_new_account_first(
    limited: SynapseServer,
    harness: Harness,
) -> None:
    """Three accounts, then the last one removed from ``[[matrix.senders]]``: the people it
    wrote to are pinned to one of the two left, which tells them in the same one line, once,
    before anything else it writes to them (the removed account can no longer write)."""
    world = await harness.world(limited, agents=6, rate_limit=RATE)
    bot = world.bot
    agents = [a.user_id for a in world.agents]
    (kept,) = add_senders(bot, 1, moves=agents)
    two = bot.config.read_text(encoding="utf-8")
    (removed,) = add_senders(bot, 1, moves=agents, first=3, among=[kept])
    before, after = HashRing([bot.user_id, kept, removed]), HashRing([bot.user_id, kept])
    orphans = [a for a in world.agents if before.account_for(a.user_id) == removed]
    bot.start()
    await connected(bot, [bot.user_id, kept, removed])
    await world.ambassador.open_dm()
    await launch(world)
    await reported_complete(world, len(agents))
    bot.terminate()

    bot.config.write_text(two, encoding="utf-8")
    bot.start()
    await connected(bot, [bot.user_id, kept])
    await sent_everything(bot)
    for agent in orphans:
        new = after.account_for(agent.user_id)
        line = f"c'est le compte {new} qui vous écrit"
        agent.bot_id = new
        messages = await agent.wait_messages(
            lambda seen, line=line: seen if any(m.body and line in m.body for m in seen) else None,
            "the line from the new account",
            within=LAUNCH_WAIT,
        )
        # The first thing that account wrote to them (in its new room, or in the main
        # account's room when the main account takes them).
        assert messages[0].body and line in messages[0].body, [m.body for m in messages]
    bot.terminate()
    bot.start()  # a restart tells nobody twice
    await connected(bot, [bot.user_id, kept])
    await sent_everything(bot)
    assert bot.delivery_counts("sender_moved") == {"sent": len(orphans)}
    for agent in world.agents:
        agent.bot_id = after.account_for(agent.user_id)
        lines = [m for m in await agent.bot_messages() if m.body and "qui vous écrit" in m.body]
        assert len(lines) == (agent in orphans), agent.user_id
    assert "Traceback" not in bot.log_since_start()


def reminded(seen: list[BotMessage]) -> list[BotMessage] | None:
    return seen if any(m.body and m.body.startswith("Rappel") for m in seen) else None


async def sent_everything(bot: BotProcess) -> None:
    """Until no outbox row is pending (what a start enqueued has gone)."""

    def pending() -> int:
        connection = sqlite3.connect(f"file:{bot.database}?mode=ro", uri=True, timeout=10)
        try:
            (count,) = connection.execute(
                "SELECT count(*) FROM deliveries WHERE status = 'pending'"
            ).fetchone()
        finally:
            connection.close()
        return int(count)

    async def step() -> bool | None:
        assert bot.process is not None and bot.process.poll() is None, bot.log_tail()
        if await asyncio.to_thread(pending) == 0:
            return True
        await asyncio.sleep(0.1)
        return None

    await until(step, "nothing pending", LAUNCH_WAIT)
