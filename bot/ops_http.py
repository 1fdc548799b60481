"""The operations endpoint (aiohttp): ``GET /healthz`` and ``GET /metrics``.

Off unless ``[http] listen`` is set.

``/healthz`` is public and minimal: 200 when the process does its job — the active one serves
and schedules, a standby waits for the lock — else 503; the body says only that (``status``),
the process's ``role``, each check's state word, and for a failing check a short reason. No
number: a count of waiting messages, read after a ``relancer``, is the number of agents not done.
Checks are a list other parts extend with :meth:`Health.register` (a callable returning
``{"status": …, "reason": …}``; any other key stays inside the process).

``/metrics`` (bot/metrics.py) answers only a request carrying ``Authorization: Bearer <[http]
metrics_token>``, or, when no token is configured, a listener on a loopback address: anyone
who reaches the port otherwise gets 401 (or 403).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.core import Platform, ReportsReadiness
from bot.dbwork import DatabaseWorker, InlineDatabase
from bot.metrics import CONTENT_TYPE, Metrics
from storage.health import DatabaseHealth, describe, is_transient
from storage.uow import Store

log = logging.getLogger(__name__)

Check = dict[str, Any]
CheckFunction = Callable[[], Awaitable[Check]]
# A check whose "status" is one of these is fine; anything else makes the process degraded.
GOOD = frozenset({"up", "ok", "running", "idle"})
MAX_REASON = 120


class Health:
    def __init__(self, role: Callable[[], str]) -> None:
        self.role = role
        self.checks: dict[str, CheckFunction] = {}

    def register(self, name: str, check: CheckFunction) -> None:
        self.checks[name] = check

    async def report(self) -> tuple[int, dict[str, Any]]:
        """(HTTP status, public body): state words and reasons only, never a figure."""
        states: dict[str, str] = {}
        reasons: dict[str, str] = {}
        for name, check in self.checks.items():
            try:
                result = await check()
            except Exception as error:  # a failing check is a finding, not a crash
                result = {"status": "error", "reason": type(error).__name__}
            state = str(result.get("status", "error"))
            states[name] = state
            if state not in GOOD:
                reason = result.get("reason") or result.get("error") or state
                reasons[name] = str(reason)[:MAX_REASON]
        body: dict[str, Any] = {
            "status": "ok" if not reasons else "degraded",
            "role": self.role(),
            "checks": states,
        }
        if reasons:
            body["reasons"] = reasons
        return (200 if not reasons else 503), body


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class OpsServer:
    def __init__(self, listen: str, health: Health, metrics: Metrics, token: str = "") -> None:
        host, _, port = listen.rpartition(":")
        self.host = host.strip("[]") or "127.0.0.1"
        self.port = int(port)
        self.health = health
        self.metrics = metrics
        self.token = token
        self._runner: web.AppRunner | None = None
        self.bound_port: int | None = None
        # Other pages served on the same listener (the dashboard): each adds its routes.
        self.mounts: list[Callable[[web.Application], None]] = []

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        for mount in self.mounts:
            mount(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        addresses = self._runner.addresses
        self.bound_port = int(addresses[0][1]) if addresses else self.port
        log.info("santé et métriques sur http://%s:%s/healthz", self.host, self.bound_port)
        if not self.token and not is_loopback(self.host):
            log.warning(
                "[http] listen n'est pas une adresse locale et [http] metrics_token est vide : "
                "/metrics répond 403 à tous"
            )

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, _request: web.Request) -> web.Response:
        status, body = await self.health.report()
        return web.Response(status=status, text=json.dumps(body), content_type="application/json")

    def _allowed(self, request: web.Request) -> int:
        """200, or the refusal's HTTP status."""
        if self.token:
            scheme, _, given = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() == "bearer" and hmac.compare_digest(
                given.strip().encode(), self.token.encode()
            ):
                return 200
            return 401
        return 200 if is_loopback(self.host) else 403

    async def _metrics(self, request: web.Request) -> web.Response:
        status = self._allowed(request)
        if status == 401:
            return web.Response(
                status=401, text="unauthorized\n", headers={"WWW-Authenticate": "Bearer"}
            )
        if status != 200:
            return web.Response(status=status, text="forbidden\n")
        payload = await self.metrics.scrape()
        return web.Response(body=payload, headers={"Content-Type": CONTENT_TYPE})


def database_check(
    store: Store, health: DatabaseHealth, database: DatabaseWorker | InlineDatabase
) -> CheckFunction:
    """``database``: up when a trivial query answers (in the database worker's check thread),
    down on an outage."""

    def probe() -> None:
        with store.transaction() as uow:
            uow.ops.ping()

    async def check() -> Check:
        try:
            await database.check(probe)
        except Exception as error:
            if not is_transient(error):
                raise
            health.failed(error)
            # The detail (host, file) goes to the log once (DatabaseHealth); the public body
            # names the kind of failure only.
            return {"status": "down", "reason": describe(error).split(":", 1)[0]}
        return {"status": "up"}

    return check


def platform_check(platform: Platform, state: str) -> Check:
    """The platform's check: its state; when it is connected ("up") but people cannot reach
    the bot through it (Matrix: E2EE keys missing, mismatched or exhausted, the device not
    cross-signed), a bad status and a short reason code — never a key."""
    check: Check = {"status": state, "name": platform.name}
    if state == "up" and isinstance(platform, ReportsReadiness):
        problem = platform.readiness_problem()
        if problem is not None:
            check.update(status="unreachable_by_people", reason=problem)
    return check
