"""A console bot serving the dashboard on 127.0.0.1 (random port), and a story to look at."""

from __future__ import annotations

import io
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, redirect_stderr
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

from typer.testing import CliRunner

from bot.app import App
from bot.cli import app as cli
from bot.config import load_settings
from bot.core import FakeClock
from bot.dashboard.wiring import attach
from bot.ops_http import OpsServer
from storage.uow import Store
from tests.helpers.bot import Bot, RecordingConsole
from tests.helpers.campaigns import AMB, setup_service

ADMIN = "@admin:console"
CODE = "ABCDEF234"
LINK = re.compile(r"https?://\S+/tableau/lien/\S+")


@asynccontextmanager
async def dashboard_bot(
    folder: Path, db_url: str, *, public_url: str = "", **sections: dict[str, Any]
) -> AsyncIterator[tuple[Bot, str]]:
    """The bot and the dashboard's base URL; the HTTP server stops on exit."""
    store = Store.from_url(db_url)
    store.upgrade()
    settings = load_settings(
        None,
        bot={"database_url": db_url, "admins": [ADMIN]},
        http={"listen": "127.0.0.1:0", "public_url": public_url},
        **sections,
    )
    platform = RecordingConsole(journal_path=folder / "console.jsonl")
    clock = FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    app = App(settings, store, platform, clock=clock)
    ops = OpsServer("127.0.0.1:0", app.checks, app.metrics)
    await attach(app, ops)
    await ops.start()
    base = f"http://127.0.0.1:{ops.bound_port}"
    links = app.deps.dashboard
    assert links is not None
    if not public_url:
        links.base_url = base  # the port is known only now
    try:
        yield Bot(app, platform, clock), base
    finally:
        await ops.stop()
        store.close()


async def ask_link(bot: Bot, sender: str = AMB, command: str = "campagne tableau") -> str:
    """Ask for the link in the chat; return it as the person's direct conversation got it."""
    await bot.say(sender, command)
    found = LINK.findall("\n".join(bot.inbox(sender)))
    assert found, bot.inbox(sender)
    return found[-1]


async def story(
    bot: Bot,
    *,
    agents: int = 12,
    done: int = 6,
    started: int = 2,
    stopped: int = 0,
    next_day: bool = True,
) -> list[str]:
    """A service with ``agents`` agents, a launched campaign, declarations, then the next day
    (the daily snapshot counts them). Returns the agents' ids."""
    ids = [f"@a{i:02d}:console" for i in range(agents)]
    setup_service(bot, agents=ids)
    await bot.say(AMB, f'campagne créer {CODE} "Cybersécurité" fin 15/12/2026')
    await bot.say(AMB, f"campagne lancer {CODE}")
    bot.clock.advance(minutes=30)
    answers = ["fait"] * done + ["commencé"] * started + ["stop"] * stopped
    for pid, said in zip(ids, answers, strict=False):
        await bot.say(pid, said)
    if next_day:
        bot.clock.advance(days=1)
    return ids


def cli_stats_json(bot: Bot, db_url: str, code: str = CODE, service: str = "DREAL-BZH") -> str:
    """``pixbot campaign stats CODE --json`` on the bot's database, at the bot's time."""
    settings = bot.app.settings
    env = {
        "PIXBOT_BOT__DATABASE_URL": db_url,
        "PIXBOT_STATS__REFRESH": settings.stats.refresh,
        "PIXBOT_STATS__MIN_GROUP": str(settings.stats.min_group),
    }
    with (
        mock.patch.dict(os.environ, env),
        mock.patch("bot.cli.campaigns.now", bot.clock.now),
        redirect_stderr(io.StringIO()),
    ):
        os.environ.pop("PIXBOT_CONFIG", None)
        result = CliRunner().invoke(
            cli, ["campaign", "stats", code, "--service", service, "--json"]
        )
    assert result.exit_code == 0, result.output
    return result.stdout


async def other_service(
    bot: Bot, service: str, ambassador: str, agents: int, done: int, code: str = CODE
) -> None:
    """Another service, its ambassador and agents, running ``code`` too (launched; ``done``
    of them completed). The clock is left where it was."""
    now = bot.clock.now()
    ids = [f"@{service.lower()}-{i:02d}:console" for i in range(agents)]
    with bot.store.transaction() as uow:
        amb = uow.people.ensure(ambassador, ambassador, now)
        uow.roles.add(amb.id, "ambassador", service)
        for pid in ids:
            uow.people.upsert(
                pid,
                display_name=pid,
                service=service,
                email=None,
                timezone=None,
                locale=None,
                now=now,
            )
    await bot.say(ambassador, f'campagne créer {code} "Cybersécurité" fin 15/12/2026')
    await bot.say(ambassador, f"campagne lancer {code}")
    for pid in ids[:done]:
        await bot.say(pid, f"fait {code}")
