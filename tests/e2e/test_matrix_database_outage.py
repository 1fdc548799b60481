"""The real bot process over Synapse, on a private PostgreSQL that is stopped for a while
(issue #17): what agents said during the outage is answered exactly once afterwards, and the
process never exits. Every wait is bounded; no assertion depends on how long something took.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.helpers.bot_process import (
    Harness,
    World,
    assert_one_invitation_each,
    inboxes,
    launch,
    launched,
    start,
)
from tests.helpers.pgserver import PrivatePostgres
from tests.helpers.synapse import SynapseServer

pytestmark = [pytest.mark.synapse, pytest.mark.postgres]
OUTAGE = 8.0  # seconds the database stays stopped (the 20 s, shortened)
QUESTION = "qui voit mes résultats ?"


def use_database(config: Path, url: str) -> None:
    lines = config.read_text(encoding="utf-8").splitlines()
    lines = [
        f"database_url = {json.dumps(url)}" if line.startswith("database_url") else line
        for line in lines
    ]
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")


async def _invited_on(url: str, synapse: SynapseServer, harness: Harness) -> World:
    """A bot on the PostgreSQL database ``url`` (the same people set up again there), running,
    with both agents invited to a launched campaign."""
    world = await harness.world(synapse, agents=2)
    use_database(world.bot.config, url)
    world.bot.setup(world.ambassador, world.agents)
    await start(world)
    await launch(world)
    await launched(world)
    assert_one_invitation_each(world.agents, await inboxes(world.agents))
    return world


async def test_messages_sent_while_the_database_is_down_are_answered_once_after(
    synapse: SynapseServer,
    harness: Harness,
    private_pg: PrivatePostgres,
) -> None:
    world = await _invited_on(private_pg.create_database("matrix_outage"), synapse, harness)
    done_agent, asking_agent = world.agents

    await asyncio.to_thread(private_pg.stop)
    try:
        await done_agent.send("c'est fait")
        await asyncio.sleep(OUTAGE / 2)  # the outage itself, not a wait for a result
        await asyncio.gather(asking_agent.send(QUESTION), asyncio.sleep(OUTAGE / 2))
        assert world.bot.process is not None and world.bot.process.poll() is None
    finally:
        await asyncio.to_thread(private_pg.start)

    assert "Bravo" in await done_agent.wait_for_text("Bravo")
    assert "Pix Orga" in await asking_agent.wait_for_text("Pix Orga")
    # A sentinel after the outage: in-order handling means any replay would come before it.
    assert "Je suis pixbot" in await done_agent.say("aide", "Je suis pixbot")
    bodies = [m.body or "" for m in await done_agent.bot_messages()]
    assert len([b for b in bodies if "Bravo" in b]) == 1, bodies
    asked = [m.body or "" for m in await asking_agent.bot_messages()]
    assert len([b for b in asked if "Pix Orga" in b]) == 1, asked
    assert world.bot.process is not None and world.bot.process.poll() is None
    log = world.bot.log_since_start()
    assert "Traceback" not in log
    assert "Base de données indisponible" in log


async def test_stopped_during_a_database_outage_answers_after_the_restart(
    synapse: SynapseServer,
    harness: Harness,
    private_pg: PrivatePostgres,
) -> None:
    """SIGTERM while a message waits for the database: exit 0 at once, no traceback, and the
    message (not acknowledged: the sync token did not move past it) is answered once after
    the restart."""
    world = await _invited_on(private_pg.create_database("matrix_stop"), synapse, harness)
    agent = world.agents[0]

    await asyncio.to_thread(private_pg.stop)
    try:
        await agent.send("c'est fait")
        await asyncio.sleep(2)  # let the bot receive it and start waiting for the database
        world.bot.terminate()
        assert world.bot.process is not None and world.bot.process.returncode == 0
        assert "Traceback" not in world.bot.log_since_start()
    finally:
        await asyncio.to_thread(private_pg.start)
    world.bot.start()
    await world.bot.ready()
    assert "Bravo" in await agent.wait_for_text("Bravo")
    assert "Je suis pixbot" in await agent.say("aide", "Je suis pixbot")
    bodies = [m.body or "" for m in await agent.bot_messages()]
    assert len([b for b in bodies if "Bravo" in b]) == 1, bodies
    assert "Traceback" not in world.bot.log_since_start()
