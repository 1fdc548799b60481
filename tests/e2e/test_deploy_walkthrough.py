"""docs/deploy-tchap.md followed literally against a local Synapse standing in for Tchap (issue
#30): the guide's own shell blocks and the unit file, run with /opt/pixbot, /etc/pixbot,
/var/lib/pixbot and /backup moved into a temporary folder.

§ 3 builds the wheel from a copy of the repository and installs it in a fresh venv standing for
/opt/pixbot (PyPI through pip's cache, as the CI's own install); the administration commands
run through the guide's alias from an empty folder; the service runs as deploy/pixbot.service
says (ExecStartPre, ExecStart, Environment=PIXBOT_CONFIG, EnvironmentFile=, WorkingDirectory=,
UMask=); the recovery key is moved to secrets.env by the guide's commands and checked by
``pixbot matrix status``; § 5's standby on the same host (another [http] port); § 6's backup
while the bot runs and its restore without the stale -wal, then the bot starts on the copy.

The guide's system administration (groupadd, useradd, apt, systemctl, PostgreSQL) is not run: a
test cannot change the machine's users. ``sudo -u pixbot`` runs as the test's user.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from dotenv import dotenv_values

from tests.helpers.bot import clean_environment
from tests.helpers.matrix_client import until
from tests.helpers.synapse import SynapseServer, free_port

pytestmark = pytest.mark.synapse
REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "deploy-tchap.md"
UNIT = REPO / "deploy" / "pixbot.service"
COPIED = ("bot", "scheduler", "storage", "pyproject.toml", "README.md")

# What the guide's shell runs here: sudo drops its options (the test's user stands for pixbot),
# install drops owner and group, python3 is the interpreter running the tests; the guide's
# alias is expanded as in an interactive shell.
PRELUDE = """set -euo pipefail
shopt -s expand_aliases
sudo() {
  while [[ $# -gt 0 && $1 == -* ]]; do
    case $1 in -u|-g) shift 2;; *) shift;; esac
  done
  "$@"
}
install() {
  local a=()
  while [[ $# -gt 0 ]]; do
    case $1 in -o|-g) shift 2;; *) a+=("$1"); shift;; esac
  done
  command install "${a[@]}"
}
python3() { "$PYTHON" "$@"; }
"""


def section(number: int) -> str:
    text = GUIDE.read_text(encoding="utf-8")
    start = text.index(f"\n## {number}.")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else len(text)]


def shell_block(number: int, marker: str) -> str:
    """The ``sh`` block of section ``number`` that contains ``marker``."""
    blocks = re.findall(r"```sh\n(.*?)```", section(number), re.S)
    (block,) = [b for b in blocks if marker in b]
    return str(block)


class Machine:
    """The server of the guide, in a temporary folder; an operator's empty working folder."""

    def __init__(self, root: Path, server: SynapseServer) -> None:
        self.root = root
        self.home = root / "home"
        self.opt = root / "opt-pixbot"
        self.etc = root / "etc-pixbot"
        self.var = root / "var-lib-pixbot"
        self.backup = root / "backup"
        for folder in (self.home, self.etc, self.var, self.backup):
            folder.mkdir(mode=0o700)
        self.server = server
        self.user_id = ""
        self.port = free_port()
        self.processes: list[subprocess.Popen[str]] = []

    def local(self, text: str) -> str:
        """The guide's paths moved here, its dates made today's."""
        for path, here in (
            ("/opt/pixbot", self.opt),
            ("/etc/pixbot", self.etc),
            ("/var/lib/pixbot", self.var),
            ("/backup", self.backup),
        ):
            text = text.replace(path, str(here))
        return text.replace("AAAA-MM-JJ", date.today().isoformat())

    def env(self, **extra: str) -> dict[str, str]:
        env = clean_environment(PYTHON=sys.executable, **extra)
        for name in ("PYTHONPATH", "VIRTUAL_ENV"):
            env.pop(name, None)
        return env

    def run(self, *argv: str | Path, code: int = 0) -> subprocess.CompletedProcess[str]:
        """A command from the operator's empty folder, with no configuration."""
        done = subprocess.run(
            [str(arg) for arg in argv],
            cwd=self.home,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == code, (argv, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        return done

    def alias(self) -> str:
        """§ 3's alias, which the guide uses for every ``pixbot`` command."""
        block = shell_block(3, "alias pixbot=")
        return next(line for line in block.splitlines() if line.startswith("alias pixbot="))

    def sh(
        self,
        script: str,
        *,
        cwd: Path | None = None,
        skip: tuple[str, ...] = (),
        **env: str,
    ) -> subprocess.CompletedProcess[str]:
        """Run the guide's lines (except those starting with ``skip``) in bash."""
        lines = [self.alias()]
        lines += [line for line in script.splitlines() if not line.strip().startswith(skip)]
        done = subprocess.run(
            ["bash", "-c", PRELUDE + self.local("\n".join(lines))],
            cwd=cwd or self.home,
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        show("\n".join(lines[1:]), done)
        assert done.returncode == 0, (script, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        return done

    def pixbot(self, *args: str, code: int = 0, **env: str) -> subprocess.CompletedProcess[str]:
        """One command through the guide's alias."""
        done = subprocess.run(
            ["bash", "-c", PRELUDE + self.local(self.alias()) + '\npixbot "$@"', "pixbot", *args],
            cwd=self.home,
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        show("pixbot " + " ".join(args), done)
        assert done.returncode == code, (args, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        return done

    def write_config(self) -> Path:
        """§ 2's configuration, with SQLite as § 2 allows, pointed at the local Synapse."""
        (block,) = re.findall(r"```toml\n(.*?)```", section(2), re.S)
        data = tomllib.loads(self.local(block))
        sqlite = re.search(r'database_url = "(sqlite:[^"]+)"', section(2))
        assert sqlite is not None
        data["bot"]["database_url"] = self.local(sqlite.group(1))
        data["bot"]["admins"] = [self.server.user_id("chef")]
        data["matrix"]["homeserver"] = self.server.base_url
        data["matrix"]["user_id"] = self.user_id
        data["matrix"]["allowed_servers"] = [self.server.server_name]
        data["http"]["listen"] = f"127.0.0.1:{self.port}"
        config = self.etc / "pixbot.toml"
        config.write_text(toml(data), encoding="utf-8")
        config.chmod(0o640)
        return config

    def unit(self) -> dict[str, list[str]]:
        service: dict[str, list[str]] = {}
        in_service = False
        for line in UNIT.read_text(encoding="utf-8").splitlines():
            if line.startswith("["):
                in_service = line == "[Service]"
            elif in_service and "=" in line and not line.startswith("#"):
                key, _, value = line.partition("=")
                service.setdefault(key, []).append(self.local(value))
        return service

    def service_env(self, unit: dict[str, list[str]], **extra: str) -> dict[str, str]:
        """The environment systemd gives the unit: Environment=, then EnvironmentFile=."""
        env = self.env()
        for assignment in unit.get("Environment", []):
            name, _, value = assignment.partition("=")
            env[name] = value
        for path in unit.get("EnvironmentFile", []):
            values = dotenv_values(path.lstrip("-"))
            env.update({k: v for k, v in values.items() if v is not None})
        env.update(extra)
        return env

    def start(self, **extra: str) -> subprocess.Popen[str]:
        """``systemctl start pixbot``: ExecStartPre, then ExecStart (stderr kept)."""
        unit = self.unit()
        env = self.service_env(unit, **extra)
        cwd = unit["WorkingDirectory"][0]
        umask = int(unit["UMask"][0], 8)
        for command in unit.get("ExecStartPre", []):
            done = subprocess.run(
                command.split(), cwd=cwd, env=env, capture_output=True, text=True, timeout=120
            )
            assert done.returncode == 0, (command, done.stderr)
        (command,) = unit["ExecStart"]
        process = subprocess.Popen(
            command.split(),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=lambda: os.umask(umask),
        )
        self.processes.append(process)
        return process

    def stop(self, process: subprocess.Popen[str]) -> tuple[int, str]:
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=60)
        return process.returncode, err


def show(command: str, done: subprocess.CompletedProcess[str]) -> None:
    """The transcript of the walkthrough (pytest -s shows it; a failure shows it anyway)."""
    print(f"$ {command}\n{done.stdout}{done.stderr}(code {done.returncode})\n")


def toml(data: dict[str, Any]) -> str:
    """Tables of strings, numbers, booleans and lists of strings (what § 2 uses)."""

    def value(item: Any) -> str:
        if isinstance(item, bool):
            return "true" if item else "false"
        if isinstance(item, int | float):
            return repr(item)
        return json.dumps(item, ensure_ascii=False)

    lines = []
    for table, keys in data.items():
        lines.append(f"[{table}]")
        lines += [f"{key} = {value(item)}" for key, item in keys.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture
def machine(tmp_path: Path, synapse: SynapseServer) -> Iterator[Machine]:
    here = Machine(tmp_path, synapse)
    try:
        yield here
    finally:
        for process in here.processes:
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


async def test_the_deploy_guide_as_written(machine: Machine, synapse: SynapseServer) -> None:
    # § 1: the bot's account.
    password = "mot-de-passe-du-bot"
    machine.user_id, _ = synapse.register("pixbot-dreal-bzh", password)

    # § 3: the wheel built in a copy of the repository, installed in a fresh venv (/opt/pixbot).
    build = machine.root / "depot"
    build.mkdir()
    for name in COPIED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, build / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, build / name)
    machine.sh(shell_block(3, "pip wheel"), cwd=build, skip=("sudo apt",))
    installed = machine.run(machine.opt / "bin" / "python", "-c", "import bot; print(bot.__file__)")
    assert installed.stdout.startswith(str(machine.opt)), installed.stdout

    # § 2: the configuration and the secrets file (the password, without quotes).
    config = machine.write_config()
    secrets_env = machine.etc / "secrets.env"
    secrets_env.write_text(f"PIXBOT_MATRIX__PASSWORD={password}\n", encoding="utf-8")
    secrets_env.chmod(0o640)

    # Without the configuration, from the empty folder: refused, nothing created here.
    bare = machine.run(machine.opt / "bin" / "pixbot", "admin", "add", "@chef:localhost", code=2)
    assert "db upgrade" in bare.stderr, bare.stderr
    # § 3: the administration commands, through the alias, as written.
    (machine.var / "agents.csv").write_text(
        "id,display_name,service\n@alice:localhost,Alice,DREAL-BZH\n", encoding="utf-8"
    )
    admin = machine.sh(shell_block(3, "alias pixbot="))
    assert f"Base de données : sqlite:///{machine.var / 'pixbot.db'}" in admin.stderr
    assert f"(configuration {config})" in admin.stderr
    assert "est administrateur." in admin.stdout and "1 agent" in admin.stdout
    assert list(machine.home.iterdir()) == []

    # First start, as the unit says: the bot signs its device and writes its recovery key.
    active = machine.start()
    assert (await health(machine.port, "active"))[0] == 200
    key_file = machine.var / "matrix-store" / "recovery-key.txt"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = next(line for line in key_file.read_text().splitlines() if not line.startswith("#"))
    # Still in the store, not in the secrets: a person must act.
    waiting = machine.pixbot("matrix", "status", code=1)
    assert "Clé de récupération dans les secrets (PIXBOT_MATRIX__RECOVERY_KEY) : non" in (
        waiting.stdout
    )
    assert "À faire :" in waiting.stdout and "recovery-key.txt" in waiting.stdout

    # § 3: the key moved to secrets.env (with its spaces), the file deleted, then the status.
    moved = machine.sh(shell_block(3, "PIXBOT_MATRIX__RECOVERY_KEY=$("))
    assert not key_file.exists()
    assert secrets_env.read_text().splitlines()[-1] == f"PIXBOT_MATRIX__RECOVERY_KEY={key}"
    for line in (
        "Jeton d'accès : accepté par le serveur",
        "Signé par son identité (signature croisée) : oui",
        "Les agents peuvent joindre le bot : oui",
        "Clé de récupération dans les secrets (PIXBOT_MATRIX__RECOVERY_KEY) : oui",
        "Clé de récupération bien formée (base58, espaces facultatifs) : oui",
        "Clé de récupération reconnue par le serveur : oui",
        "Rien à faire",
    ):
        assert line in moved.stdout, moved.stdout
    assert key in moved.stdout  # the guide's `cat`, for the operator's secrets store…
    status = moved.stdout[moved.stdout.index("Utilisateur :") :]
    assert key not in status and key.replace(" ", "") not in status  # …never the status
    # The same status in English, with the locale.
    english = machine.pixbot("matrix", "status", LANG="en_US.UTF-8")
    assert "Recovery key recognised by the server: yes" in english.stdout, english.stdout

    # § 5: a standby on the same host needs its own [http] port; with it, it waits.
    clash = machine.start()
    assert await asyncio.to_thread(clash.wait, 120) == 2
    standby_port = free_port()
    standby = machine.start(PIXBOT_HTTP__LISTEN=f"127.0.0.1:{standby_port}")
    assert (await health(standby_port, "standby"))[0] == 200

    # § 6: the backup while the bot runs (SQLite), private.
    machine.sh(shell_block(6, "pixbot db backup"), skip=("pg_dump",))
    today = date.today().isoformat()
    copies = [machine.backup / f"matrix-store-{today}.tgz", machine.backup / f"pixbot-{today}.db"]
    assert [stat.S_IMODE(path.stat().st_mode) for path in copies] == [0o600, 0o600]
    for process in (standby, active):
        code, err = machine.stop(process)
        assert code == 0, err
        assert all(json.loads(line) for line in err.splitlines())  # --log-format json, only
        assert key not in err and password not in err

    # § 6: the restore, bot stopped, as written: what was written after the backup is gone;
    # then the service starts on the copy.
    machine.pixbot("ambassador", "add", "@apres:localhost", "--service", "DREAL-BZH")
    machine.sh(shell_block(6, "pg_restore"), skip=("pg_restore", "sudo systemctl"))
    listed = machine.pixbot("ambassador", "list").stdout
    assert "DREAL-BZH" in listed and "@apres:localhost" not in listed, listed
    again = machine.start()
    assert (await health(machine.port, "active"))[0] == 200
    code, err = machine.stop(again)
    assert code == 0, err
