"""Shared parts of the Matrix benchmarks (``broadcast.py``, ``throttled.py``); not a script.

- :class:`Fleet`: N agents as real E2EE matrix-nio clients (registered on the homeserver, logged
  in, device keys uploaded), run in a child process with one asyncio loop (so their decryption
  and sync parsing do not share the bots' event loop). Each agent long-polls ``/sync`` (idle
  agents cost nothing), joins every invitation, decrypts what arrives (retrying a message whose
  room key came later) and reports each message it can read to the parent as a JSON line with
  its ``time.monotonic()`` (system-wide on Linux, so comparable across the two processes).
- :class:`Pixbot`: the real :class:`bot.app.App` on the Matrix platform, with a SQLite
  database seeded with the agents (service ``BENCH``) and an ambassador, an E2EE client, who
  types ``campagne créer`` and ``campagne lancer`` in their direct conversation with the bot.
  Every HTTP request of the bot's nio client is counted, with the 429 answers.

The fleet's child process is this file: ``python bench/matrix_fleet.py --port … --secret …``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402
from nio import (  # noqa: E402
    MegolmEvent,
    RoomMessageNotice,
    RoomMessageText,
    SyncResponse,
)
from nio.exceptions import EncryptionError  # noqa: E402

from bot.platforms.matrix.connection import keep_keys  # noqa: E402
from tests.helpers.matrix_client import MatrixUser  # noqa: E402
from tests.helpers.synapse import SynapseServer  # noqa: E402

LONG_POLL_MS = 20_000
LOGINS_AT_ONCE = 8
SERVICE = "BENCH"
CODE = "ABCDEF234"
JOIN_URL = f"https://app.pix.fr/campagnes/{CODE}"


# -- the child process: the agents --------------------------------------------------------------


def emit(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


class Agent:
    """One agent's sync loop: join, decrypt, report."""

    def __init__(self, user: MatrixUser) -> None:
        self.user = user
        self.undecrypted: list[MegolmEvent] = []

    def _report(self, room_id: str, event: Any) -> None:
        emit(
            {
                "agent": self.user.user_id,
                "sender": event.sender,
                "room": room_id,
                "t": time.monotonic(),
                "body": str(event.body)[:200],
                "decrypted": bool(getattr(event, "decrypted", False)),
            }
        )

    def _see(self, room_id: str, event: Any) -> None:
        if getattr(event, "sender", None) == self.user.user_id:
            return
        if isinstance(event, MegolmEvent):
            self.undecrypted.append(event)
        elif isinstance(event, RoomMessageNotice | RoomMessageText):
            self._report(room_id, event)

    def _retry_decryption(self) -> None:
        waiting, self.undecrypted = self.undecrypted, []
        for event in waiting:
            try:
                clear = self.user.client.decrypt_event(event)
            except EncryptionError:
                self.undecrypted.append(event)
                continue
            self._see(str(event.room_id), clear)

    async def run(self) -> None:
        client = self.user.client
        while True:
            try:
                response = await client.sync(timeout=LONG_POLL_MS)
            except (aiohttp.ClientError, TimeoutError, OSError):
                await asyncio.sleep(1)
                continue
            if not isinstance(response, SyncResponse):
                await asyncio.sleep(1)
                continue
            for room_id in response.rooms.invite:
                with contextlib.suppress(aiohttp.ClientError, TimeoutError, OSError):
                    await client.join(room_id)
            for room_id, info in response.rooms.join.items():
                for event in info.timeline.events:
                    self._see(room_id, event)
            if self.undecrypted:
                self._retry_decryption()
            with contextlib.suppress(aiohttp.ClientError, TimeoutError, OSError):
                await keep_keys(client)


async def fleet_main(args: argparse.Namespace) -> None:
    server = SynapseServer(Path(args.synapse_dir), server_name=args.server_name)
    server.port = args.port
    server.shared_secret = args.secret
    store = Path(args.store)
    users = [
        MatrixUser(
            server,
            store / f"{args.prefix}{index:05d}",
            localpart=f"{args.prefix}{index:05d}",
            request_timeout=LONG_POLL_MS / 1000 + 60,
        )
        for index in range(args.n)
    ]
    gate = asyncio.Semaphore(LOGINS_AT_ONCE)

    async def login(user: MatrixUser) -> None:
        async with gate:
            await user.login()

    await asyncio.gather(*(login(user) for user in users))
    emit({"ready": [user.user_id for user in users]})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    tasks = [asyncio.create_task(Agent(user).run()) for user in users]
    await stop.wait()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.gather(*(user.close() for user in users), return_exceptions=True)


# -- the parent side ----------------------------------------------------------------------------


@dataclass
class Delivery:
    t: float
    room: str
    body: str
    decrypted: bool


@contextlib.asynccontextmanager
async def synapse_bench(
    prefix: str, config_overrides: dict[str, Any] | None = None
) -> AsyncIterator[tuple[Path, SynapseServer, contextlib.AsyncExitStack]]:
    """A scratch folder and a running Synapse for one bench run; what the run starts (a fleet,
    a pixbot) goes on the exit stack and is closed, last started first, before both go."""
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    server = SynapseServer(directory / "synapse", config_overrides=config_overrides)
    server.start()
    try:
        async with contextlib.AsyncExitStack() as stack:
            yield directory, server, stack
    finally:
        server.cleanup()
        shutil.rmtree(directory, ignore_errors=True)


@dataclass
class Fleet:
    """The agents' child process, seen from the benchmark."""

    process: asyncio.subprocess.Process
    ids: list[str] = field(default_factory=list)
    # sender → agent → what the agent could read from that sender
    got: dict[str, dict[str, list[Delivery]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(list))
    )
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    reader: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, server: SynapseServer, n: int, directory: Path, prefix: str) -> Fleet:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--port",
            str(server.port),
            # One argument: a secret starting with "-" would read as an option.
            f"--secret={server.shared_secret}",
            "--server-name",
            server.server_name,
            "--synapse-dir",
            str(server.directory),
            "--store",
            str(directory),
            "--prefix",
            prefix,
            "--n",
            str(n),
            stdout=asyncio.subprocess.PIPE,
            limit=1 << 20,
        )
        fleet = cls(process)
        assert process.stdout is not None
        line = await process.stdout.readline()
        if not line:
            raise RuntimeError("the agents' process exited before it was ready")
        fleet.ids = json.loads(line)["ready"]
        fleet.reader = asyncio.create_task(fleet._read())
        return fleet

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            record = json.loads(line)
            self.got[record["sender"]][record["agent"]].append(
                Delivery(record["t"], record["room"], record["body"], record["decrypted"])
            )
            self.changed.set()

    def reached(self, *senders: str) -> int:
        """Agents who read a message from any of ``senders``."""
        return sum(1 for agent in self.ids if any(self.got[s].get(agent) for s in senders))

    async def wait_all(self, sender: str | list[str], within: float) -> bool:
        """Until every agent read a message from ``sender`` (or from one of a list of
        accounts); False after ``within`` s."""
        senders = [sender] if isinstance(sender, str) else sender
        try:
            async with asyncio.timeout(within):
                while self.reached(*senders) < len(self.ids):
                    self.changed.clear()
                    await self.changed.wait()
        except TimeoutError:
            return False
        return True

    def first_times(self, sender: str | list[str]) -> list[float]:
        """Each agent's first message from ``sender`` (or any of a list), sorted."""
        senders = [sender] if isinstance(sender, str) else sender
        firsts = []
        for agent in self.ids:
            times = [d.t for s in senders for d in self.got[s].get(agent, [])]
            if times:
                firsts.append(min(times))
        return sorted(firsts)

    async def settle(self, seconds: float) -> None:
        """Give late duplicates a chance to show up before counting."""
        await asyncio.sleep(seconds)

    async def close(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        if self.reader is not None:
            self.reader.cancel()
            await asyncio.gather(self.reader, return_exceptions=True)


# -- pixbot -------------------------------------------------------------------------------------


def request_name(method: str, path: str) -> str:
    """``PUT /_matrix/client/v3/rooms/!x/send/m.room.message/txn`` → ``PUT rooms/send``."""
    path = path.split("?", 1)[0]
    path = re.sub(r"^/_matrix/client/(v3|r0|unstable|v1)/", "", path)
    # Ids (rooms, users) are percent-encoded or sigil-prefixed; transaction ids end the path.
    parts = [p for p in path.split("/") if p and p[0] not in "!@#$" and "%" not in p]
    if parts and parts[0] == "sendToDevice":
        parts = parts[:1]
    elif "send" in parts:
        parts = parts[: parts.index("send") + 1]
    return f"{method} {'/'.join(parts[:3])}"


def quiet_logs() -> None:
    """Warnings and errors only; nio's per-device chatter and the bot's first-run notices
    (its recovery key) are not what a benchmark shows."""
    logging.basicConfig(level=logging.WARNING, format="%(name)s %(levelname)s %(message)s")
    for name in ("nio", "bot.platforms.matrix.identity"):
        logging.getLogger(name).setLevel(logging.ERROR)


@dataclass
class RequestLog:
    """Every HTTP request of one nio client: counts per kind, 429 answers, send times."""

    calls: Counter[str] = field(default_factory=Counter)
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    throttled: Counter[str] = field(default_factory=Counter)
    # monotonic times of the requests the homeserver's rc_message counts (room creation and
    # message sends) that it accepted
    limited_ok: list[float] = field(default_factory=list)

    def clear(self) -> None:
        self.calls.clear()
        self.seconds.clear()
        self.throttled.clear()
        self.limited_ok.clear()

    def summary(self) -> str:
        """``kind count/seconds`` for every kind but the long-polled sync."""
        return (
            ", ".join(
                f"{name} {count}/{self.seconds[name]:.0f}s"
                for name, count in sorted(self.calls.items())
                if name != "GET sync"
            )
            + f"; GET sync {self.calls['GET sync']}"
        )

    def wrap(self, client: Any) -> None:
        original = client.send

        async def send(
            method: str,
            path: str,
            data: Any = None,
            headers: dict[str, str] | None = None,
            trace_context: Any = None,
            timeout: float | None = None,  # noqa: ASYNC109
        ) -> Any:
            began = time.monotonic()
            response = await original(method, path, data, headers, trace_context, timeout)
            name = request_name(method, path)
            self.calls[name] += 1
            self.seconds[name] += time.monotonic() - began
            if response.status == 429:
                self.throttled[name] += 1
            elif response.status == 200 and is_rate_limited(method, path):
                self.limited_ok.append(time.monotonic())
            return response

        client.send = send


def is_rate_limited(method: str, path: str) -> bool:
    """Requests Synapse counts against ``rc_message``: room creation and event sends."""
    path = path.split("?", 1)[0]
    return (method == "POST" and path.endswith("/createRoom")) or (
        method == "PUT" and "/send/" in path
    )


def settings_for(database_url: str) -> Any:
    from bot.config import load_settings

    os.environ.pop("PIXBOT_CONFIG", None)
    return load_settings(
        None,
        bot={"database_url": database_url},
        # Every moment is working time: the benchmark runs whenever it is started.
        schedule={"working_hours": "00:00-23:59", "working_days": "mon-sun", "holidays": "none"},
    )


class Pixbot:
    """The real App on the Matrix platform, a seeded database and an E2EE ambassador."""

    def __init__(
        self,
        server: SynapseServer,
        directory: Path,
        agents: list[str],
        rate_limit: float,
        senders: int = 1,
    ) -> None:
        from bot.app import App
        from bot.dbwork import DatabaseWorker
        from bot.invites import StoreInvitePolicy
        from bot.platforms.matrix import MatrixPlatform
        from bot.platforms.matrix.pool import MatrixPool
        from storage.uow import Store
        from tests.helpers.matrix_client import BotAccount

        self.server = server
        self.directory = directory
        # ``senders`` accounts in all: the main one, and a pool when more (docs/scaling.md).
        self.accounts = [BotAccount(server) for _ in range(senders)]
        self.account = self.accounts[0]
        self.requests = RequestLog()
        requests = self.requests
        url = f"sqlite:///{directory / 'pixbot.db'}"
        self.store = Store.from_url(url)
        self.store.upgrade()
        settings = settings_for(url)
        # As bot.runner does: the accounts are built with the policy they ask before joining.
        database = DatabaseWorker.for_dialect(self.store.database.dialect)
        policy = StoreInvitePolicy(
            self.store, database, settings.bot.admins, settings.limits.max_room_members
        )
        platforms = [
            MatrixPlatform(
                homeserver=server.base_url,
                user_id=account.user_id,
                password=account.password,
                store_path=directory / f"bot-store-{index}",
                rate_limit=rate_limit,
                direct_only=index > 0,
                on_new_client=requests.wrap,
                invite_policy=policy,
            )
            for index, account in enumerate(self.accounts)
        ]
        self.platform: Any = platforms[0] if senders == 1 else MatrixPool(platforms)
        self.ambassador = MatrixUser(
            server,
            directory / "ambassador",
            prefix="amb",
            bot_id=self.account.user_id,
            request_timeout=120,
        )
        self._seed(agents)
        self.app = App(settings, self.store, self.platform, database=database)
        self.task: asyncio.Task[int] | None = None

    def _seed(self, agents: list[str]) -> None:
        from datetime import UTC, datetime

        from storage.repositories.people import AgentRecord

        now = datetime.now(UTC)
        with self.store.transaction() as uow:
            uow.people.upsert_many(
                [
                    AgentRecord(agent, f"Agent {i}", SERVICE, None, None, None)
                    for i, agent in enumerate(agents)
                ],
                now,
            )
            person = uow.people.ensure(self.ambassador.user_id, "Ambre", now)
            uow.roles.add(person.id, "ambassador", SERVICE)

    @property
    def user_id(self) -> str:
        return self.account.user_id

    @property
    def user_ids(self) -> list[str]:
        return [account.user_id for account in self.accounts]

    async def start(self) -> None:
        self.task = asyncio.create_task(self.app.run())
        await asyncio.wait_for(self.platform.start(), 120)
        await self.ambassador.login()
        await self.ambassador.open_dm()
        deadline = (date.today() + timedelta(days=30)).strftime("%d/%m/%Y")
        await self.ambassador.say(
            f'campagne créer {CODE} "Cybersécurité" fin {deadline}', "créée", within=120
        )

    async def launch(self) -> None:
        await self.ambassador.send(f"campagne lancer {CODE}")

    def invitation_counts(self) -> dict[str, int]:
        from sqlalchemy import text

        with self.store.transaction() as uow:
            rows = uow.session.execute(
                text("SELECT status, count(*) FROM deliveries WHERE kind = 'invitation' GROUP BY 1")
            ).all()
        return {str(status): int(count) for status, count in rows}

    async def close(self) -> None:
        await self.app.request_stop()
        if self.task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.task, 60)
        await self.ambassador.close()
        self.store.close()


def is_invitation(body: str) -> bool:
    return body.startswith("Bonjour") and JOIN_URL in body


def main() -> None:
    parser = argparse.ArgumentParser(description="the agents' process of the Matrix benchmarks")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--server-name", default="localhost")
    parser.add_argument("--synapse-dir", required=True)
    parser.add_argument("--store", required=True)
    parser.add_argument("--prefix", default="agent")
    parser.add_argument("--n", type=int, required=True)
    quiet_logs()
    asyncio.run(fleet_main(parser.parse_args()))


if __name__ == "__main__":
    main()
