"""The real bot process over a real Synapse, for the end-to-end tests (tests/e2e).

:class:`BotProcess` runs ``pixbot run --platform matrix`` as a subprocess with its own
configuration, SQLite database and Matrix store; a :class:`Harness` (the ``harness`` fixture of
``tests/e2e/conftest.py``) builds :class:`World` s — a bot, an ambassador and agents, E2EE nio
clients — and kills and closes them all at the end. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TypeVar

from nio import (
    AsyncClient,
    DevicesResponse,
)
from typer.testing import CliRunner

from bot.cli import app as pixbot_cli
from tests.helpers.bot import clean_environment
from tests.helpers.matrix_client import (
    WAIT,
    BotMessage,
    MatrixUser,
    unique,
    until,
)
from tests.helpers.synapse import SynapseServer

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]
OUTAGE_WAIT = 90.0  # after a homeserver outage the outbox backs off 5 s·2^attempts
SERVICE = "DREAL-BZH"
CODE = "ABCDEF234"
JOIN_URL = f"https://app.pix.fr/campagnes/{CODE}"


def deadline() -> str:
    return (date.today() + timedelta(days=30)).strftime("%d/%m/%Y")


def create_command() -> str:
    return f'campagne créer {CODE} "Cybersécurité" fin {deadline()}'


def is_invitation(body: str | None) -> bool:
    return body is not None and body.startswith("Bonjour") and JOIN_URL in body


def is_reminder(body: str | None) -> bool:
    return body is not None and body.startswith("Rappel")


# -- the bot process ---------------------------------------------------------------------------


class BotProcess:
    """``python -m bot.cli run --platform matrix`` with its configuration in ``directory``."""

    def __init__(self, server: SynapseServer, directory: Path, *, rate_limit: float) -> None:
        self.server = server
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.localpart = unique("pixbot")
        self.password = secrets.token_urlsafe(12)
        self.user_id, _ = server.register(self.localpart, self.password)
        self.database = directory / "pixbot.db"
        self.store_path = directory / "matrix-store"
        self.config = directory / "pixbot.toml"
        self.log_path = directory / "bot.log"
        self.admin_id = server.user_id(unique("admin"))
        # The password comes from the environment, as in production.
        self.config.write_text(
            "\n".join(
                [
                    "[bot]",
                    'platform = "matrix"',
                    f"database_url = {json.dumps(f'sqlite:///{self.database}')}",
                    f"admins = [{json.dumps(self.admin_id)}]",
                    "",
                    "[matrix]",
                    f"homeserver = {json.dumps(server.base_url)}",
                    f"user_id = {json.dumps(self.user_id)}",
                    f"store_path = {json.dumps(str(self.store_path))}",
                    "e2ee = true",
                    f"rate_limit = {rate_limit}",
                    "",
                    # Every moment is working time: the scenarios run whenever the tests do
                    # ("campagne relancer" waits for working hours otherwise).
                    "[schedule]",
                    'working_hours = "00:00-23:59"',
                    'working_days = "mon-sun"',
                    'holidays = "none"',
                    "",
                ]
            ),
            encoding="utf-8",
        )
        self.env_overrides = {
            "PIXBOT_CONFIG": str(self.config),
            "PIXBOT_MATRIX__PASSWORD": self.password,
        }
        self.process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    def twin(self, name: str) -> BotProcess:
        """A second process of the same bot: same configuration, account and E2EE store (the
        shared volume of a hot standby), its own log."""
        other = copy.copy(self)
        other.log_path = self.directory / f"{name}.log"
        other.process = None
        other._log_offset = 0
        return other

    # -- command line ------------------------------------------------------------------------

    def cli(self, *args: str) -> str:
        # The command line configures logging onto the runner's stream, closed afterwards.
        handlers = list(logging.root.handlers)
        try:
            result = CliRunner().invoke(pixbot_cli, list(args), env=self.env_overrides)
        finally:
            logging.root.handlers[:] = handlers
        assert result.exit_code == 0, (args, result.output, result.exception)
        return result.output

    def setup(self, ambassador: MatrixUser, agents: Sequence[MatrixUser]) -> None:
        # As deployed: the database is created first (the other commands refuse a database
        # that does not exist yet).
        self.cli("db", "upgrade")
        self.cli("ambassador", "add", ambassador.user_id, "--service", SERVICE)
        if not agents:
            return
        csv_path = self.directory / "agents.csv"
        lines = ["id,display_name,service"]
        lines += [f"{a.user_id},Agent {i + 1},{SERVICE}" for i, a in enumerate(agents)]
        csv_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.cli("agents", "import", str(csv_path))

    # -- process -----------------------------------------------------------------------------

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None
        env = clean_environment(**self.env_overrides)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bot.cli",
                    "--verbose",
                    "run",
                    "--platform",
                    "matrix",
                    "--config",
                    str(self.config),
                ],
                cwd=self.directory,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def log_since_start(self) -> str:
        with self.log_path.open("rb") as log:
            log.seek(self._log_offset)
            return log.read().decode(errors="replace")

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    async def ready(self) -> None:
        """Wait until this run of the bot logged in and did its first sync."""

        async def connected() -> bool | None:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(
                    f"the bot exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            if "Matrix : connecté en tant que" in self.log_since_start():
                return True
            await asyncio.sleep(0.1)
            return None

        await until(connected, "the bot to connect")

    def kill(self) -> None:
        """SIGKILL: no cleanup at all, like a crash or an OOM kill."""
        self._signal(signal.SIGKILL)

    def terminate(self) -> None:
        """SIGTERM, as systemd or docker stop would send."""
        self._signal(signal.SIGTERM)

    def _signal(self, signum: int) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signum)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)

    # -- what the bot stored -----------------------------------------------------------------

    def session(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.store_path / "session.json").read_text())
        return data

    def delivery_counts(self, kind: str) -> dict[str, int]:
        """Status → number of rows of this kind in the bot's outbox."""
        connection = sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=10)
        try:
            rows = connection.execute(
                "SELECT status, count(*) FROM deliveries WHERE kind = ? GROUP BY status", (kind,)
            ).fetchall()
        finally:
            connection.close()
        return {str(status): int(count) for status, count in rows}

    def invitation_counts(self) -> dict[str, int]:
        """Status → number of invitation rows in the bot's outbox."""
        return self.delivery_counts("invitation")

    async def wait_sent(self, at_least: int) -> dict[str, int]:
        """Wait until the homeserver accepted at least that many invitations."""

        async def step() -> dict[str, int] | None:
            try:
                counts = self.invitation_counts()
            except sqlite3.OperationalError:  # locked by the bot for a moment
                counts = {}
            if counts.get("sent", 0) >= at_least:
                return counts
            await asyncio.sleep(0.05)
            return None

        return await until(step, f"{at_least} invitations sent")


@dataclass
class World:
    server: SynapseServer
    bot: BotProcess
    ambassador: MatrixUser
    agents: list[MatrixUser]


class Harness:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.bots: list[BotProcess] = []
        self.people: list[MatrixUser] = []

    async def world(self, server: SynapseServer, *, agents: int, rate_limit: float = 50) -> World:
        """A bot account and process (not started), an ambassador and agents, all set up."""
        bot = BotProcess(server, self.tmp_path / unique("bot"), rate_limit=rate_limit)
        self.bots.append(bot)

        def person(prefix: str) -> MatrixUser:
            created = MatrixUser(
                server,
                self.tmp_path / "people" / unique(prefix),
                prefix=prefix,
                bot_id=bot.user_id,
                auto_join=True,
            )
            self.people.append(created)
            return created

        ambassador = person("amb")
        group = [person("agent") for _ in range(agents)]
        await asyncio.gather(*(p.login() for p in [ambassador, *group]))
        bot.setup(ambassador, group)
        return World(server, bot, ambassador, group)

    async def close(self) -> None:
        for bot in self.bots:
            bot.kill()
        await asyncio.gather(*(p.close() for p in self.people), return_exceptions=True)
        for bot in self.bots:
            print(f"--- log of {bot.user_id} ---\n{bot.log_tail(200)}")


async def start(world: World) -> None:
    world.bot.start()
    await world.bot.ready()
    await world.ambassador.open_dm()


async def launch(world: World) -> None:
    """Create the campaign and ask for the launch (its answer may come after the sends)."""
    created = await world.ambassador.say(create_command(), "créée")
    assert f"Campagne {CODE} « Cybersécurité » créée" in created
    await world.ambassador.send(f"campagne lancer {CODE}")


MIN_GROUP = 5  # the default stats.min_group the worlds run with


async def launched(world: World, within: float = WAIT) -> None:
    """The launch was acknowledged, then reported complete, each exactly once."""
    count = len(world.agents)
    amb = world.ambassador
    # Under the threshold (stats.min_group, 5) neither report counts the people (#23).
    exact = count >= MIN_GROUP
    done = f"{count} envoyées sur {count}" if exact else "envoi terminé"
    await amb.wait_for_text(f"Invitations de la campagne {CODE} : {done}", within=within)
    bodies = [m.body or "" for m in await amb.bot_messages()]
    acknowledged = [b for b in bodies if b.startswith(f"Lancement de la campagne {CODE}")]
    assert len(acknowledged) == 1, bodies
    audience = f"à {count} personnes" if exact else "s'il y en a (moins de 5)"
    assert audience in acknowledged[0]
    summaries = [b for b in bodies if b.startswith(f"Invitations de la campagne {CODE} :")]
    assert summaries == [f"Invitations de la campagne {CODE} : {done}."]


async def inboxes(agents: Sequence[MatrixUser], within: float = WAIT) -> list[list[BotMessage]]:
    return list(await asyncio.gather(*(a.settled_messages(within) for a in agents)))


def assert_one_invitation_each(agents: Sequence[MatrixUser], boxes: list[list[BotMessage]]) -> None:
    for agent, box in zip(agents, boxes, strict=True):
        invitations = [m for m in box if is_invitation(m.body)]
        assert len(invitations) == 1, (agent.user_id, [m.body for m in box])
        assert len(box) == 1, (agent.user_id, [m.body for m in box])


async def devices_of(server: SynapseServer, session: dict[str, Any]) -> list[str]:
    """The device ids of the bot's account, asked with the bot's own access token."""
    probe = AsyncClient(server.base_url, session["user_id"])
    probe.restore_login(session["user_id"], session["device_id"], session["access_token"])
    try:
        devices = await probe.devices()
        assert isinstance(devices, DevicesResponse), devices
        return sorted(device.id for device in devices.devices)
    finally:
        await probe.close()
