"""A throw-away Synapse homeserver for tests, listening on 127.0.0.1 only.

``SynapseServer`` writes its own configuration (SQLite, no federation, shared-secret
registration, rate limits raised unless the caller overrides them), runs
``python -m synapse.app.homeserver`` as a subprocess and registers users through the
shared-secret admin API. The session-scoped ``synapse`` fixture starts one for the test run.

    from tests.synapse import synapse  # noqa: F401  (re-export the fixture in conftest.py)

    def test_something(synapse: SynapseServer) -> None:
        user_id, token = synapse.register("alice", "secret")
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0

# Generous enough that no test trips over a limit it did not ask for.
_UNLIMITED = {"per_second": 10_000, "burst_count": 100_000}
DEFAULT_RATE_LIMITS: dict[str, Any] = {
    "rc_message": _UNLIMITED,
    "rc_registration": _UNLIMITED,
    "rc_login": {
        "address": _UNLIMITED,
        "account": _UNLIMITED,
        "failed_attempts": _UNLIMITED,
    },
    "rc_joins": {"local": _UNLIMITED, "remote": _UNLIMITED},
    "rc_joins_per_room": _UNLIMITED,
    "rc_invites": {
        "per_room": _UNLIMITED,
        "per_user": _UNLIMITED,
        "per_issuer": _UNLIMITED,
    },
    "rc_third_party_invite": _UNLIMITED,
    "rc_key_requests": _UNLIMITED,
    "rc_3pid_validation": _UNLIMITED,
    "rc_admin_redaction": _UNLIMITED,
    "rc_room_creation": _UNLIMITED,
    "rc_presence": {"per_user": _UNLIMITED},
    "rc_delayed_event_mgmt": _UNLIMITED,
    "rc_reports": _UNLIMITED,
    "rc_user_directory": _UNLIMITED,
    "rc_profile": _UNLIMITED,
    "rc_media_create": _UNLIMITED,
}


class SynapseError(RuntimeError):
    """Synapse did not start, or an admin call failed."""


def free_port() -> int:
    """An ephemeral TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class SynapseServer:
    """One Synapse process with its configuration, database and logs in ``directory``."""

    def __init__(
        self,
        directory: Path | None = None,
        *,
        server_name: str = "localhost",
        config_overrides: Mapping[str, Any] | None = None,
    ) -> None:
        self._own_directory = directory is None
        self.directory = Path(directory or tempfile.mkdtemp(prefix="pixbot-synapse-"))
        self.server_name = server_name
        self.config_overrides = dict(config_overrides or {})
        self.port = free_port()
        self.shared_secret = secrets.token_urlsafe(24)
        self.config_path = self.directory / "homeserver.yaml"
        self.log_path = self.directory / "homeserver.log"
        self.start_seconds: float | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the homeserver (writing its configuration the first time) and wait for it."""
        if self.running:
            return
        if not self.config_path.exists():
            self._write_config()
        began = time.monotonic()
        self._log_file = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "synapse.app.homeserver", "-c", str(self.config_path)],
            cwd=self.directory,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self._wait_until_ready()
        self.start_seconds = time.monotonic() - began

    def stop(self) -> None:
        """Stop gracefully (SIGTERM), killing the process if it does not exit in time."""
        self._terminate(graceful=True)

    def kill(self) -> None:
        """Stop abruptly (SIGKILL), like a crashed homeserver."""
        self._terminate(graceful=False)

    def restart(self) -> None:
        """Stop and start again: same port, same database, same users and rooms."""
        self.stop()
        self.start()

    def cleanup(self) -> None:
        """Stop and, if the directory was created here, delete it."""
        self.kill()
        if self._own_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # -- admin API ---------------------------------------------------------------------------

    def register(self, localpart: str, password: str, admin: bool = False) -> tuple[str, str]:
        """Create a user with the shared-secret admin API; return (user_id, access_token)."""
        url = f"{self.base_url}/_synapse/admin/v1/register"
        nonce = self._request("GET", url)["nonce"]
        mac = hmac.new(self.shared_secret.encode(), digestmod=hashlib.sha1)
        for part in (nonce, localpart, password):
            mac.update(part.encode())
            mac.update(b"\x00")
        mac.update(b"admin" if admin else b"notadmin")
        body = {
            "nonce": nonce,
            "username": localpart,
            "password": password,
            "admin": admin,
            "mac": mac.hexdigest(),
        }
        answer = self._request("POST", url, body)
        return answer["user_id"], answer["access_token"]

    def user_id(self, localpart: str) -> str:
        return f"@{localpart}:{self.server_name}"

    def register_many(self, localparts: Sequence[str], password: str) -> list[str]:
        """Register many users at once (a few requests in parallel); return their ids."""
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = pool.map(lambda localpart: self.register(localpart, password), localparts)
            return [user_id for user_id, _ in answers]

    def messages_per_invitee(self, sender: str) -> dict[str, list[int]]:
        """For every user ``sender`` invited to a room: how many messages ``sender`` sent in each
        of those rooms (``[1]``: one room, one message).

        Read from the homeserver's own database (read-only, beside the running server): one
        query, where thousands of admin requests would take minutes. ``events`` and
        ``room_memberships`` are Synapse's long-standing tables.
        """
        database = self.directory / "homeserver.db"
        connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
        try:
            rows = connection.execute(
                """
                SELECT m.user_id, m.room_id, count(e.event_id)
                FROM room_memberships AS m
                LEFT JOIN events AS e
                  ON e.room_id = m.room_id AND e.sender = m.sender
                 AND e.type IN ('m.room.message', 'm.room.encrypted')
                WHERE m.sender = ? AND m.membership = 'invite'
                GROUP BY m.user_id, m.room_id
                """,
                (sender,),
            ).fetchall()
        finally:
            connection.close()
        found: dict[str, list[int]] = {}
        for user_id, _room_id, count in rows:
            found.setdefault(str(user_id), []).append(int(count))
        return found

    # -- internals ---------------------------------------------------------------------------

    def _config(self) -> dict[str, Any]:
        data = self.directory
        config: dict[str, Any] = {
            "server_name": self.server_name,
            "pid_file": str(data / "homeserver.pid"),
            "listeners": [
                {
                    "port": self.port,
                    "bind_addresses": ["127.0.0.1"],
                    "type": "http",
                    "tls": False,
                    "x_forwarded": False,
                    "resources": [{"names": ["client"], "compress": False}],
                }
            ],
            "database": {"name": "sqlite3", "args": {"database": str(data / "homeserver.db")}},
            "log_config": str(data / "log.config"),
            "media_store_path": str(data / "media_store"),
            "signing_key_path": str(data / "signing.key"),
            "registration_shared_secret": self.shared_secret,
            "macaroon_secret_key": secrets.token_urlsafe(24),
            "form_secret": secrets.token_urlsafe(24),
            "enable_registration": False,
            "report_stats": False,
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            # No federation: no federation listener and no remote server allowed.
            "federation_domain_whitelist": [],
            "presence": {"enabled": False},
            "url_preview_enabled": False,
            "enable_metrics": False,
            # Password hashing at the production cost makes every registration and login slow.
            "bcrypt_rounds": 4,
        }
        config.update(DEFAULT_RATE_LIMITS)
        config.update(self.config_overrides)
        return config

    def _write_config(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "media_store").mkdir(exist_ok=True)
        log_config = {
            "version": 1,
            "formatters": {"plain": {"format": "%(asctime)s %(name)s %(levelname)s %(message)s"}},
            "handlers": {
                "console": {
                    "class": "logging.StreamHandler",
                    "formatter": "plain",
                    "stream": "ext://sys.stdout",
                }
            },
            "loggers": {"synapse.storage.SQL": {"level": "WARNING"}},
            "root": {"level": "INFO", "handlers": ["console"]},
            "disable_existing_loggers": False,
        }
        (self.directory / "log.config").write_text(yaml.safe_dump(log_config))
        self.config_path.write_text(yaml.safe_dump(self._config()))
        # The signing key Synapse would generate itself, without a second interpreter start.
        from signedjson.key import generate_signing_key, write_signing_keys

        with (self.directory / "signing.key").open("w") as stream:
            write_signing_keys(stream, [generate_signing_key("a_test")])

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        url = f"{self.base_url}/_matrix/client/versions"
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise SynapseError(
                    f"Synapse exited with {self._process.returncode}:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.1)
        self.kill()
        raise SynapseError(f"Synapse not ready after {START_TIMEOUT:.0f} s:\n{self.log_tail()}")

    def _terminate(self, *, graceful: bool) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM if graceful else signal.SIGKILL)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_TIMEOUT)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        # A stale pid file would make the next start refuse to run.
        (self.directory / "homeserver.pid").unlink(missing_ok=True)

    def _request(self, method: str, url: str, body: Any = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            url, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                answer: dict[str, Any] = json.loads(response.read())
                return answer
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")
            raise SynapseError(f"{method} {url}: HTTP {error.code} {detail}") from error


def _require_synapse() -> None:
    try:
        import synapse  # noqa: F401
    except ImportError as error:
        pytest.skip(f"matrix-synapse not installed: {error}")


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SynapseServer]:
    """One Synapse homeserver for the whole test session (server name ``localhost``)."""
    _require_synapse()
    server = SynapseServer(tmp_path_factory.mktemp("synapse"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def make_synapse(
    directory: Path, config_overrides: Mapping[str, Any] | None = None
) -> SynapseServer:
    """Start an extra homeserver (e.g. with low rate limits); the caller must ``cleanup()``."""
    _require_synapse()
    server = SynapseServer(directory, config_overrides=config_overrides)
    server.start()
    return server
