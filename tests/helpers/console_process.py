"""``pixbot run`` (console platform) as a real process, and what it delivered.

Processes started in the same folder share the console journal (``pixbot.console.jsonl``, the
console "server"): every message any of them delivered is one line there, so a message sent
twice — by one process or by two — shows up as two lines.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import select

from storage.models import LockRow
from storage.uow import Store
from tests.helpers.bot import ALWAYS_OPEN, clean_environment

SERVICE = "DREAL-BZH"
AMB = "@amb:console"
CODE = "ABCDEF234"
JOIN_URL = f"https://app.pix.fr/campagnes/{CODE}"


def agents(count: int) -> list[str]:
    return [f"@agent{i}:console" for i in range(1, count + 1)]


def populate(url: str, count: int) -> None:
    """An ambassador and ``count`` agents of one service, in a fresh schema."""
    from datetime import UTC, datetime

    store = Store.from_url(url)
    store.upgrade()
    now = datetime.now(UTC)
    with store.transaction() as uow:
        amb = uow.people.ensure(AMB, "Ambre", now)
        uow.roles.add(amb.id, "ambassador", SERVICE)
        for index, pid in enumerate(agents(count)):
            uow.people.upsert(
                pid,
                display_name=f"Agent {index + 1}",
                service=SERVICE,
                email=None,
                timezone=None,
                locale=None,
                now=now,
            )
    store.close()


def launch_lines() -> str:
    deadline = (date.today() + timedelta(days=40)).strftime("%d/%m/%Y")
    return (
        f'/as {AMB}\ncampagne créer {CODE} "Cybersécurité" fin {deadline}\ncampagne lancer {CODE}\n'
    )


class ConsoleBot:
    """``python -m bot.cli run`` on ``url``, started in ``folder``; stdin stays open."""

    def __init__(self, url: str, folder: Path, *extra: str, env: dict[str, str] | None = None):
        environment = clean_environment(
            PIXBOT_BOT__DATABASE_URL=url, **{**ALWAYS_OPEN, **(env or {})}
        )
        self.folder = folder
        self.stdout_path = folder / f"out-{id(self)}.txt"
        self.stderr_path = folder / f"err-{id(self)}.txt"
        self._out = self.stdout_path.open("w")
        self._err = self.stderr_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", *extra, "run"],
            stdin=subprocess.PIPE,
            stdout=self._out,
            stderr=self._err,
            cwd=folder,
            env=environment,
            text=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def write(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text)
        self.process.stdin.flush()

    def close_input(self) -> None:
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()

    def terminate(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()

    def wait(self, timeout: float) -> int:
        code = self.process.wait(timeout=timeout)
        self._out.close()
        self._err.close()
        return code

    def output(self) -> str:
        if not self._out.closed:
            self._out.flush()
            self._err.flush()
        return self.stdout_path.read_text() + self.stderr_path.read_text()


def journal(folder: Path) -> list[dict[str, str]]:
    path = folder / "pixbot.console.jsonl"
    if not path.exists():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line being written
        if entry.get("type") == "message":
            entries.append(entry)
    return entries


def invitations(folder: Path) -> Counter[str]:
    """How many invitations each person received (across every process)."""
    return Counter(
        m["to"] for m in journal(folder) if JOIN_URL in m["text"] and "Bonjour" in m["text"]
    )


def lock_holder(url: str) -> str | None:
    store = Store.from_url(url)
    try:
        with store.transaction() as uow:
            row = uow.session.scalar(select(LockRow).where(LockRow.name == "instance"))
            return row.owner if row is not None else None
    except Exception:
        return None
    finally:
        store.close()
