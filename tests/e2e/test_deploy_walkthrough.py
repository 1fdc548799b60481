"""docs/deploy-tchap.md followed step by step against a local Synapse standing in for Tchap
(issue #30): from an empty folder, the configuration elsewhere (PIXBOT_CONFIG), the secrets in
the environment; first start, the recovery key moved from recovery-key.txt to the secrets,
``pixbot matrix status``, a backup, a standby on the same host (another [http] port, as § 5 says)
and a restore without the stale -wal. The installation in a venv is the one this suite runs in."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.helpers.bot import clean_environment
from tests.helpers.matrix_client import until
from tests.helpers.synapse import SynapseServer, free_port

pytestmark = pytest.mark.synapse
REPO = Path(__file__).resolve().parents[2]


class Operator:
    """An operator's shell: an empty working folder, /etc/pixbot and /var/lib/pixbot in tmp."""

    def __init__(self, tmp_path: Path, server: SynapseServer) -> None:
        self.cwd = tmp_path / "home"
        self.etc = tmp_path / "etc-pixbot"
        self.var = tmp_path / "var-lib-pixbot"
        for folder in (self.cwd, self.etc, self.var):
            folder.mkdir(mode=0o700)
        password = secrets.token_urlsafe(12)
        self.user_id, _ = server.register(f"pixbot-{secrets.token_hex(3)}", password)
        self.port = free_port()
        self.config = self.etc / "pixbot.toml"
        self.config.write_text(
            "\n".join(
                [
                    "[bot]",
                    'platform = "matrix"',
                    f"database_url = {json.dumps('sqlite:///' + str(self.var / 'pixbot.db'))}",
                    "[matrix]",
                    f"homeserver = {json.dumps(server.base_url)}",
                    f"user_id = {json.dumps(self.user_id)}",
                    f"store_path = {json.dumps(str(self.var / 'matrix-store'))}",
                    "[http]",
                    f'listen = "127.0.0.1:{self.port}"',
                    "",
                ]
            ),
            encoding="utf-8",
        )
        self.config.chmod(0o640)
        # /etc/pixbot/secrets.env, read by systemd into the service's environment.
        self.secrets = {"PIXBOT_MATRIX__PASSWORD": password}
        self.processes: list[subprocess.Popen[str]] = []

    def env(self, **extra: str) -> dict[str, str]:
        env = clean_environment(PIXBOT_CONFIG=str(self.config), **self.secrets, **extra)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        return env

    def pixbot(self, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "bot.cli", *args],
            cwd=self.cwd,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == code, (args, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        return done

    def start(self, **extra: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "--log-format", "json", "run"],
            cwd=self.var,  # the unit's WorkingDirectory
            env=self.env(**extra),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.processes.append(process)
        return process

    def stop(self, process: subprocess.Popen[str]) -> tuple[int, str]:
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=60)
        return process.returncode, err


@pytest.fixture
def operator(tmp_path: Path, synapse: SynapseServer) -> Iterator[Operator]:
    person = Operator(tmp_path, synapse)
    try:
        yield person
    finally:
        for process in person.processes:
            if process.poll() is None:
                process.kill()
                process.communicate(timeout=30)


async def health(port: int, role: str) -> Any:
    async def check() -> tuple[int, dict[str, Any]] | None:
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.get(f"http://127.0.0.1:{port}/healthz") as answer,
            ):
                status, body = answer.status, await answer.json()
        except aiohttp.ClientConnectionError:
            status, body = 0, {}
        if body.get("role") == role and body.get("checks", {}).get("platform") != "starting":
            return status, body
        await asyncio.sleep(0.2)  # bounded by until()
        return None

    return await until(check, f"/healthz {role} on {port}", within=120)


async def test_the_deploy_guide_from_an_empty_folder(operator: Operator) -> None:
    # § 3: the administration commands name the configured database, never ./pixbot.db.
    refused = operator.pixbot("admin", "add", "@chef:localhost", code=2)
    assert "db upgrade" in refused.stderr
    operator.pixbot("db", "upgrade")
    added = operator.pixbot("admin", "add", "@chef:localhost")
    assert str(operator.var / "pixbot.db") in added.stderr and str(operator.config) in added.stderr
    operator.pixbot("ambassador", "add", "@ambre:localhost", "--service", "DREAL-BZH")
    assert not (operator.cwd / "pixbot.db").exists()

    # First start: the bot signs its device and writes its recovery key once.
    active = operator.start()
    assert (await health(operator.port, "active"))[0] == 200
    key_file = operator.var / "matrix-store" / "recovery-key.txt"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = next(line for line in key_file.read_text().splitlines() if not line.startswith("#"))
    # Moved to the secrets without its spaces (they are optional), then the file is deleted.
    operator.secrets["PIXBOT_MATRIX__RECOVERY_KEY"] = key.replace(" ", "")
    key_file.unlink()
    status = operator.pixbot("matrix", "status")
    assert "Les agents peuvent joindre le bot" in status.stdout and key not in status.stdout

    # § 5: a standby on the same host needs its own [http] port; with it, it waits.
    clash = operator.start()
    assert await asyncio.to_thread(clash.wait, 120) == 2
    standby_port = free_port()
    standby = operator.start(PIXBOT_HTTP__LISTEN=f"127.0.0.1:{standby_port}")
    assert (await health(standby_port, "standby"))[0] == 200

    # § 6: a backup while the bot runs, private.
    backup = operator.cwd / "pixbot-backup.db"
    operator.pixbot("db", "backup", str(backup))
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    for process in (standby, active):
        code, err = operator.stop(process)
        assert code == 0, err
        assert all(json.loads(line) for line in err.splitlines())  # --log-format json, only

    # Restore: the old journal removed first, then the copy; the bot starts on it again.
    database = operator.var / "pixbot.db"
    for stale in (database.with_name("pixbot.db-wal"), database.with_name("pixbot.db-shm")):
        stale.unlink(missing_ok=True)
    shutil.copy(backup, database)
    operator.pixbot("db", "upgrade")
    listed = operator.pixbot("ambassador", "list")
    assert "@ambre:localhost" in listed.stdout
    again = operator.start()
    assert (await health(operator.port, "active"))[0] == 200
    code, err = operator.stop(again)
    assert code == 0, err
    assert key.replace(" ", "") not in err
