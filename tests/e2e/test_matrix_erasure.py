"""Issue #23, items 6 and 7 on Matrix (a real Synapse): after ``oublie-moi`` in an encrypted
direct conversation, the bot has left the room, its ``m.direct`` account data no longer names
the person, and no file under the data folder — SQLite database and WAL, the Matrix store
(session, sync token, nio's key database and trust files, events waiting for their keys) —
holds the person's id, name or email. On main the direct room, the m.direct entry, the database's
WAL and nio's device keys all kept them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.app import App
from bot.cli import app as cli
from bot.core import ErasedPerson
from bot.platforms.matrix import MatrixPlatform
from storage.uow import Store
from tests.helpers.bot import make_settings, point_cli_at
from tests.helpers.campaigns import put_person
from tests.helpers.erasure import files_naming
from tests.helpers.matrix_client import WAIT, BotAccount, MatrixUser, until
from tests.helpers.synapse import SynapseServer

pytestmark = pytest.mark.synapse
NAME = "Gwendal Tréguier"
EMAIL = "gwendal.treguier@dreal.gouv.fr"


@contextlib.asynccontextmanager
async def bot_app(bot: BotAccount, folder: Path) -> AsyncIterator[App]:
    url = f"sqlite:///{folder / 'pixbot.db'}"
    store = Store.from_url(url)
    store.upgrade()
    platform = bot.platform(folder / "matrix-store")
    app = App(make_settings(url), store, platform)
    task = asyncio.create_task(app.run())
    try:
        await until(_started(app), "the bot to start")
        yield app
    finally:
        await platform.stop()
        await asyncio.wait_for(task, WAIT)
        store.close()


def _started(app: App) -> Any:
    async def check() -> bool | None:
        platform = app.platform
        assert isinstance(platform, MatrixPlatform)
        if platform.connection.started:
            return True
        await asyncio.sleep(0.1)
        return None

    return check


async def test_forget_me_leaves_the_room_the_m_direct_entry_and_no_byte(
    synapse: SynapseServer, agent: MatrixUser, tmp_path: Path
) -> None:
    folder = tmp_path / "data"
    folder.mkdir(mode=0o700)
    bot = BotAccount(synapse)
    agent.bot_id = bot.user_id
    needles = [agent.user_id, NAME, EMAIL]
    async with bot_app(bot, folder) as app:
        with app.store.transaction() as uow:
            put_person(uow, agent.user_id, datetime.now(UTC), display_name=NAME, email=EMAIL)
        erased = asyncio.Event()
        pipeline_run = app.erasure.pipeline.run

        async def run(person: ErasedPerson) -> list[str]:
            failed = await pipeline_run(person)
            erased.set()
            return failed

        app.erasure.pipeline.run = run  # type: ignore[method-assign]
        room_id = await agent.open_dm()
        await agent.say("aide", "Pour tout le monde")
        client = app.platform.client  # type: ignore[attr-defined]
        direct = await client.list_direct_rooms()
        assert room_id in direct.rooms.get(agent.user_id, [])  # recorded, before
        await agent.say("oublie-moi", "oui")
        await agent.say("oui", "effacé toutes vos données")
        await asyncio.wait_for(erased.wait(), WAIT)
        direct = await client.list_direct_rooms()
        assert agent.user_id not in getattr(direct, "rooms", {})

        def bot_left() -> bool | None:
            room = agent.client.rooms.get(room_id)
            return True if room is not None and bot.user_id not in room.users else None

        await agent.wait_for(bot_left, "the bot to leave the direct room")
        hits = files_naming(folder, needles)
    assert hits == []


async def test_pixbot_forget_with_the_bot_stopped_leaves_no_byte_in_the_store(
    synapse: SynapseServer, agent: MatrixUser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``pixbot forget`` reaches the files: the database, nio's key database and trust files."""
    folder = tmp_path / "data"
    folder.mkdir(mode=0o700)
    bot = BotAccount(synapse)
    agent.bot_id = bot.user_id
    async with bot_app(bot, folder) as app:
        with app.store.transaction() as uow:
            put_person(uow, agent.user_id, datetime.now(UTC), display_name=NAME, email=EMAIL)
        await agent.open_dm()
        await agent.say("aide", "Pour tout le monde")
    needles = [agent.user_id, NAME, EMAIL]
    assert any("matrix-store" in hit for hit in files_naming(folder, needles))  # there before
    point_cli_at(monkeypatch, folder, f"sqlite:///{folder / 'pixbot.db'}")
    monkeypatch.setenv("PIXBOT_MATRIX__STORE_PATH", str(folder / "matrix-store"))
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        result = await asyncio.to_thread(CliRunner().invoke, cli, ["forget", agent.user_id])
    finally:  # the CLI points logging at CliRunner's stream, closed once it returns
        root.handlers[:] = handlers
        root.setLevel(level)
    assert result.exit_code == 0, result.output
    assert files_naming(folder, needles) == []
