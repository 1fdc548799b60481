"""A large Matrix launch survives its faults (issues #17 and #11): the private PostgreSQL is
restarted in the middle of it, or the active process is killed (SIGKILL) and its hot standby
takes over. Real bot processes, a real Synapse of their own, a private PostgreSQL server.

The agents are registered accounts that never log in: the bot really creates each direct room
(encrypted), invites the agent and sends the invitation there. What each agent received is
counted on the homeserver (:meth:`SynapseServer.messages_per_invitee`): one room, one message.

``PIXBOT_E2E_LAUNCH_N`` sets the size of the launch across a database restart (default
:data:`LAUNCH_N`). Every wait is bounded; no assertion depends on how long something took.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator, Sequence

import pytest
from sqlalchemy import create_engine, text

from tests.e2e.test_matrix_database_outage import use_database
from tests.helpers.bot_process import (
    CODE,
    SERVICE,
    BotProcess,
    Harness,
    World,
    devices_of,
    launch,
)
from tests.helpers.matrix_client import until
from tests.helpers.pgserver import PrivatePostgres
from tests.helpers.synapse import SynapseServer, make_synapse

pytestmark = [pytest.mark.synapse, pytest.mark.postgres]

# The launch has 3,000 agents; on this Synapse (SQLite, one connection) each agent costs
# about 0.3 s on a quiet 2-core machine (room creation dominates), so 3,000 take some 15 min.
# The default keeps the test near 5 min; PIXBOT_E2E_LAUNCH_N=3000 runs the size.
LAUNCH_N = int(os.environ.get("PIXBOT_E2E_LAUNCH_N", "1000"))
STANDBY_N = 60
RESTART_DOWNTIME = 3.0  # seconds the database is away during its restart
LAUNCH_WAIT = 300.0 + 1.0 * LAUNCH_N  # upper bound for the launch on a loaded machine
AGENT_PASSWORD = "agent-password"


@pytest.fixture(scope="module")
def homeserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SynapseServer]:
    """A Synapse of its own: thousands of rooms stay out of the session's homeserver."""
    server = make_synapse(tmp_path_factory.mktemp("launch-synapse"))
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope="module")
def agent_ids(homeserver: SynapseServer) -> list[str]:
    """``max(LAUNCH_N, STANDBY_N)`` registered agents (each bot account gets its own rooms)."""
    count = max(LAUNCH_N, STANDBY_N)
    return homeserver.register_many([f"agent{i}" for i in range(count)], AGENT_PASSWORD)


# -- helpers -----------------------------------------------------------------------------------


async def world_on(
    harness: Harness,
    server: SynapseServer,
    database_url: str,
    agents: Sequence[str],
    *,
    rate_limit: float,
) -> World:
    """A bot (not started) on ``database_url`` with an ambassador and ``agents`` imported."""
    world = await harness.world(server, agents=0, rate_limit=rate_limit)
    bot = world.bot
    use_database(bot.config, database_url)
    bot.setup(world.ambassador, [])
    csv_path = bot.directory / "agents.csv"
    rows = [f"{agent},Agent {i + 1},{SERVICE}" for i, agent in enumerate(agents)]
    csv_path.write_text("\n".join(["id,display_name,service", *rows]) + "\n", encoding="utf-8")
    bot.cli("agents", "import", str(csv_path))
    return world


def invitation_counts(url: str) -> dict[str, int]:
    """Status → number of invitation rows in the bot's outbox ({} while the database is away)."""
    engine = create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT status, count(*) FROM deliveries WHERE kind = 'invitation' "
                    "GROUP BY status"
                )
            ).all()
    except Exception:
        return {}
    finally:
        engine.dispose()
    return {str(status): int(count) for status, count in rows}


async def sent_at_least(url: str, count: int, bot: BotProcess) -> int:
    async def step() -> int | None:
        assert bot.process is not None and bot.process.poll() is None, bot.log_tail()
        sent = (await asyncio.to_thread(invitation_counts, url)).get("sent", 0)
        if sent >= count:
            return sent
        await asyncio.sleep(0.2)
        return None

    return await until(step, f"{count} invitations sent", LAUNCH_WAIT)


async def in_log(bot: BotProcess, line: str) -> None:
    async def step() -> bool | None:
        assert bot.process is not None and bot.process.poll() is None, bot.log_tail()
        if line in bot.log_since_start():
            return True
        await asyncio.sleep(0.1)
        return None

    await until(step, f"{line!r} in the log of {bot.log_path.name}")


async def reported_complete(world: World, count: int) -> None:
    """The launch was acknowledged, then reported complete, each exactly once."""
    amb = world.ambassador
    summary = f"Invitations de la campagne {CODE} : {count} envoyées sur {count}"
    await amb.wait_for_text(summary, within=LAUNCH_WAIT)
    bodies = [m.body or "" for m in await amb.bot_messages()]
    acknowledged = [b for b in bodies if b.startswith(f"Lancement de la campagne {CODE}")]
    assert len(acknowledged) == 1, bodies
    assert len([b for b in bodies if b.startswith(summary)]) == 1, bodies


def assert_one_invitation_each(server: SynapseServer, bot: BotProcess, agents: Sequence[str]):
    received = server.messages_per_invitee(bot.user_id)
    assert sorted(received) == sorted(agents)
    twice = {agent: rooms for agent, rooms in received.items() if rooms != [1]}
    assert not twice, f"not one room with one message: {dict(list(twice.items())[:5])}"


async def bot_started(world: World) -> None:
    world.bot.start()
    await world.bot.ready()
    await world.ambassador.open_dm()


# -- scenarios ---------------------------------------------------------------------------------


async def test_launch_completes_across_a_database_restart(
    homeserver: SynapseServer,
    agent_ids: list[str],
    private_pg: PrivatePostgres,
    harness: Harness,
) -> None:
    agents = agent_ids[:LAUNCH_N]
    url = private_pg.create_database(f"launch_{uuid.uuid4().hex[:8]}")
    world = await world_on(harness, homeserver, url, agents, rate_limit=1000)
    bot = world.bot
    await bot_started(world)
    await launch(world)
    await sent_at_least(url, max(1, LAUNCH_N // 10), bot)
    # A restart that takes a few seconds, as a real one does: AdminShutdown for every
    # connection, then refused connections, then a fresh server.
    await asyncio.to_thread(private_pg.stop)
    await asyncio.sleep(RESTART_DOWNTIME)  # the restart itself, not a wait for a result
    await asyncio.to_thread(private_pg.start)
    assert (await asyncio.to_thread(invitation_counts, url)).get("sent", 0) < LAUNCH_N, (
        "the launch was over before the restart: nothing was tested"
    )

    await reported_complete(world, LAUNCH_N)
    assert invitation_counts(url) == {"sent": LAUNCH_N}
    assert_one_invitation_each(homeserver, bot, agents)
    assert bot.process is not None and bot.process.poll() is None  # the same process
    log = bot.log_since_start()
    assert "Traceback" not in log
    assert "Base de données indisponible" in log  # one line for the outage…
    assert log.count("Base de données indisponible") <= 3  # …not one per attempt
    # The restart dropped the instance lock (an advisory lock): sending paused, then resumed.
    assert "Verrou d'instance perdu" in log and "Verrou d'instance repris" in log


async def test_hot_standby_takes_over_a_killed_process_and_sends_nothing_twice(
    homeserver: SynapseServer,
    agent_ids: list[str],
    private_pg: PrivatePostgres,
    harness: Harness,
) -> None:
    """Two processes of the same bot (same account, same E2EE store on a shared volume) on one
    PostgreSQL: the second stands by; the active one is killed in the middle of a launch; the
    standby takes over, finishes it, and answers what was said meanwhile, each exactly once."""
    agents = agent_ids[:STANDBY_N]
    url = private_pg.create_database(f"standby_{uuid.uuid4().hex[:8]}")
    world = await world_on(harness, homeserver, url, agents, rate_limit=10)
    active = world.bot
    standby = active.twin("standby")
    harness.bots.append(standby)
    amb = world.ambassador
    await bot_started(world)
    devices = await devices_of(homeserver, active.session())
    standby.start()
    await in_log(standby, "attend en secours")

    await launch(world)
    await sent_at_least(url, 5, active)
    active.kill()  # SIGKILL: no cleanup at all
    assert invitation_counts(url).get("sent", 0) < STANDBY_N, "launch over before the kill"
    # Said while no process is active: answered once, by the standby, after it took over.
    await amb.send("aide")
    await standby.ready()

    await reported_complete(world, STANDBY_N)
    assert invitation_counts(url) == {"sent": STANDBY_N}
    assert_one_invitation_each(homeserver, active, agents)
    assert "Voici" in await amb.say("mes données", "Voici tout ce que je conserve")
    bodies = [m.body or "" for m in await amb.bot_messages()]
    assert len([b for b in bodies if "Je suis pixbot" in b]) == 1, bodies
    # The standby went on with the same device (the shared store): no new device appeared.
    assert await devices_of(homeserver, standby.session()) == devices
    assert "Traceback" not in standby.log_since_start()
    standby.terminate()
    assert standby.process is not None and standby.process.returncode == 0
