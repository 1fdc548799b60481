"""The operations endpoint (aiohttp): ``GET /healthz`` and ``GET /metrics``.

Off unless ``[http] listen`` is set. ``/healthz`` answers 200 when the process does its job —
the active one serves and schedules, a standby waits for the lock — with the database
answering; otherwise 503. Each entry of ``checks`` comes from a registered callable, so other
parts (e.g. the Matrix cross-signing status) plug in with :meth:`Health.register`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from bot.core import Clock, Platform, ReportsReadiness
from bot.metrics import CONTENT_TYPE, Metrics
from storage.health import DatabaseHealth, describe, is_transient
from storage.uow import Store

log = logging.getLogger(__name__)

Check = dict[str, Any]
CheckFunction = Callable[[], Awaitable[Check]]
# A check whose "status" is one of these is fine; anything else makes the process degraded.
GOOD = frozenset({"up", "ok", "running", "idle"})


class Health:
    def __init__(self, role: Callable[[], str]) -> None:
        self.role = role
        self.checks: dict[str, CheckFunction] = {}
        # Checks reported but not deciding the status (e.g. the outbox backlog).
        self.informative: set[str] = set()

    def register(self, name: str, check: CheckFunction, *, informative: bool = False) -> None:
        self.checks[name] = check
        if informative:
            self.informative.add(name)

    async def report(self) -> tuple[int, dict[str, Any]]:
        results: dict[str, Any] = {}
        healthy = True
        for name, check in self.checks.items():
            try:
                result = await check()
            except Exception as error:  # a failing check is a finding, not a crash
                result = {"status": "error", "error": type(error).__name__}
            results[name] = result
            if name not in self.informative and result.get("status") not in GOOD:
                healthy = False
        body = {
            "status": "ok" if healthy else "degraded",
            "role": self.role(),
            "checks": results,
        }
        return (200 if healthy else 503), body


class OpsServer:
    def __init__(self, listen: str, health: Health, metrics: Metrics) -> None:
        host, _, port = listen.rpartition(":")
        self.host = host.strip("[]") or "127.0.0.1"
        self.port = int(port)
        self.health = health
        self.metrics = metrics
        self._runner: web.AppRunner | None = None
        self.bound_port: int | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        addresses = self._runner.addresses
        self.bound_port = int(addresses[0][1]) if addresses else self.port
        log.info("health and metrics on http://%s:%s/healthz", self.host, self.bound_port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, _request: web.Request) -> web.Response:
        status, body = await self.health.report()
        return web.Response(status=status, text=json.dumps(body), content_type="application/json")

    async def _metrics(self, _request: web.Request) -> web.Response:
        payload = self.metrics.render()
        return web.Response(body=payload, headers={"Content-Type": CONTENT_TYPE})


def database_check(store: Store, health: DatabaseHealth) -> CheckFunction:
    """``database``: up when a trivial query answers (in a thread), down on an outage."""

    def probe() -> None:
        with store.transaction() as uow:
            uow.ops.ping()

    async def check() -> Check:
        try:
            await asyncio.to_thread(probe)
        except Exception as error:
            if not is_transient(error):
                raise
            health.failed(error)
            return {"status": "down", "error": describe(error)}
        return {"status": "up"}

    return check


def outbox_check(store: Store, clock: Clock) -> CheckFunction:
    """``outbox``: how many messages wait and for how long the oldest has waited."""

    def backlog() -> tuple[int, datetime | None]:
        with store.transaction() as uow:
            return uow.ops.outbox_backlog()

    async def check() -> Check:
        pending, oldest = await asyncio.to_thread(backlog)
        age = 0.0
        if oldest is not None:
            age = max(0.0, (clock.now() - oldest).total_seconds())
        return {"status": "ok", "pending": pending, "oldest_seconds": round(age, 1)}

    return check


def platform_check(platform: Platform, state: str) -> Check:
    """The platform's check: its state and name; when it is connected ("up") but people cannot
    reach the bot through it (Matrix: E2EE keys missing, mismatched or exhausted, the device
    not cross-signed), a bad status and a short reason code — never a key."""
    check: Check = {"status": state, "name": platform.name}
    if state == "up" and isinstance(platform, ReportsReadiness):
        problem = platform.readiness_problem()
        if problem is not None:
            check.update(status="unreachable_by_people", reason=problem)
    return check
