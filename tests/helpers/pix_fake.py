"""A local fake of Pix's organisation API (MaDDo), following its published schema.

Routes (``api/src/maddo/application/*-routes.js`` in 1024pix/pix): ``POST
/api/application/token`` (form-encoded client credentials → ``{token_type, access_token}``, a
JWT whose ``exp`` is the only expiry), ``GET /api/organizations``, ``GET
/api/organizations/{id}/campaigns`` (pages ≤ 1000), ``GET /api/campaigns/{id}/participations``
(``since``: ``sharedAt > since OR createdAt > since``; pages ≤ 200; sorted by last name, first
name, then newest first, as Pix does). A participation carries every result field Pix sends,
and some unknown ones. Faults on demand: 401 on an expired or revoked token, 429 with
``Retry-After``, 5xx, a connection dropped.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

CLIENT_ID, CLIENT_SECRET = "pixbot-test", "s3cret-not-logged"
SCORE_MARKERS = (
    "masteryRate",
    "pixScore",
    "reachedStage",
    "acquisitionPercentage",
    "reachedLevel",
    "practicalTitle",
    "Badge-Cyber-Expert",
    "0.8765",
    "7531",
    "unknownField",
    "secretHobby",
)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def make_token(number: int, expires: datetime) -> str:
    header = _b64({"alg": "HS256", "typ": "JWT"})
    claims = _b64(
        {
            "client_id": CLIENT_ID,
            "scope": "meta campaigns",
            "n": number,
            "exp": int(expires.timestamp()),
        }
    )
    return f"{header}.{claims}.signature{number}"


def results(index: int) -> dict[str, Any]:
    """Every result field of a MaDDo participation, and fields nobody documented."""
    return {
        "masteryRate": 0.8765,
        "pixScore": 7531,
        "stages": {"reachedStage": 3, "numberOfStages": 5},
        "badges": [
            {
                "id": 12,
                "key": "Badge-Cyber-Expert",
                "title": "Badge-Cyber-Expert",
                "message": "Bravo",
                "altMessage": "Badge-Cyber-Expert obtenu",
                "imageUrl": "https://images.pix.fr/badge.svg",
                "isAcquired": True,
                "acquisitionPercentage": 100,
            }
        ],
        "tubes": [
            {
                "competenceId": "recComp1",
                "id": "recTube1",
                "maxLevel": 4,
                "reachedLevel": 3,
                "practicalTitle": "practicalTitle Sécuriser ses mots de passe",
                "practicalDescription": "…",
            }
        ],
        "unknownField": {"secretHobby": f"secretHobby-{index}"},
        "campaignId": 0,
        "participantId": f"sha1-of-user-{index}",
        "organizationLearnerId": 9000 + index,
    }


@dataclass
class Participation:
    id: int
    external_id: str | None
    first_name: str
    last_name: str
    status: str = "STARTED"
    created_at: datetime = field(default_factory=lambda: datetime(2026, 11, 20, tzinfo=UTC))
    shared_at: datetime | None = None

    def payload(self, campaign_id: int) -> dict[str, Any]:
        body = results(self.id)
        body.update(
            id=self.id,
            campaignId=campaign_id,
            createdAt=self.created_at.isoformat().replace("+00:00", "Z"),
            sharedAt=self.shared_at.isoformat().replace("+00:00", "Z") if self.shared_at else None,
            status=self.status,
            participantExternalId=self.external_id,
            participantFirstName=self.first_name,
            participantLastName=self.last_name,
        )
        return body


@dataclass
class Fault:
    """Answer ``status`` (with ``Retry-After`` when given) to the next ``times`` requests whose
    path contains ``path`` (and asking ``page`` when given); status 0 drops the connection."""

    path: str
    status: int
    times: int = 1
    retry_after: str | None = None
    page: int | None = None


class FakeMaddo:
    def __init__(self, now: Callable[[], datetime], token_lifetime: timedelta) -> None:
        self.now = now
        self.token_lifetime = token_lifetime
        self.organizations: list[dict[str, Any]] = [
            {"id": 101, "name": "Ministère — DREAL Bretagne", "externalId": "DREAL-BZH"}
        ]
        # organisation id -> campaigns (id, code, name, type, archivedAt …)
        self.campaigns: dict[int, list[dict[str, Any]]] = {101: []}
        self.participations: dict[int, list[Participation]] = {}
        self.tokens: dict[str, datetime] = {}
        self.tokens_issued = 0
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.stuck_on_first_page = False  # a broken server that ignores page[number]
        self.rejects_since = False  # an older MaDDo whose route has no `since` (Joi: 400)
        self.base_url = ""

    # -- set-up ---------------------------------------------------------------------------------

    def add_campaign(self, campaign_id: int, code: str, organization: int = 101) -> None:
        self.campaigns.setdefault(organization, []).append(
            {
                "id": campaign_id,
                "name": f"Campagne {code}",
                "type": "ASSESSMENT",
                "targetProfileName": "Cybersécurité",
                "code": code,
                "createdAt": "2026-11-01T08:00:00.000Z",
                "archivedAt": None,
            }
        )
        self.participations.setdefault(campaign_id, [])

    def revoke_tokens(self) -> None:
        """Every token issued so far is refused from now on (401)."""
        self.tokens = {token: datetime.min.replace(tzinfo=UTC) for token in self.tokens}

    # -- routes ---------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._faults_and_log])
        app.router.add_post("/api/application/token", self._token)
        app.router.add_get("/api/organizations", self._organizations)
        app.router.add_get("/api/organizations/{id}/campaigns", self._campaigns)
        app.router.add_get("/api/campaigns/{id}/participations", self._participations)
        return app

    @web.middleware
    async def _faults_and_log(self, request: web.Request, handler: Any) -> web.StreamResponse:
        query = dict(request.query)
        self.requests.append((request.method, request.path, query))
        for fault in self.faults:
            page = int(query.get("page[number]", "1"))
            if fault.times > 0 and fault.path in request.path and fault.page in (None, page):
                fault.times -= 1
                if fault.status == 0:
                    assert request.transport is not None
                    request.transport.close()
                    raise ConnectionResetError("dropped by the fake")
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                return web.json_response(
                    {"errors": [{"status": str(fault.status)}]},
                    status=fault.status,
                    headers=headers,
                )
        return await handler(request)

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("grant_type") != "client_credentials" or (
            form.get("client_id"),
            form.get("client_secret"),
        ) != (CLIENT_ID, CLIENT_SECRET):
            return web.json_response({"errors": [{"status": "401"}]}, status=401)
        if set(str(form.get("scope", "")).split()) != {"meta", "campaigns"}:
            return web.json_response({"errors": [{"status": "403"}]}, status=403)
        self.tokens_issued += 1
        expires = self.now() + self.token_lifetime
        token = make_token(self.tokens_issued, expires)
        self.tokens[token] = expires
        return web.json_response({"token_type": "bearer", "access_token": token})

    def _authorised(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ")
        expires = self.tokens.get(token)
        return expires is not None and expires > self.now()

    @staticmethod
    def _unauthorised() -> web.Response:
        return web.json_response(
            {"errors": [{"status": "401", "title": "Unauthorized"}]}, status=401
        )

    async def _organizations(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._unauthorised()
        return web.json_response(self.organizations)

    @staticmethod
    def _page(request: web.Request, maximum: int, default: int) -> tuple[int, int] | None:
        try:
            number = int(request.query.get("page[number]", "1"))
            size = int(request.query.get("page[size]", str(default)))
        except ValueError:
            return None
        if size > maximum or size < 1 or number < 1:
            return None
        return number, size

    async def _campaigns(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._unauthorised()
        page = self._page(request, 1000, 1000)
        if page is None:
            return web.json_response({"errors": [{"status": "400"}]}, status=400)
        number, size = page
        rows = self.campaigns.get(int(request.match_info["id"]))
        if rows is None:
            return web.json_response({"errors": [{"status": "403"}]}, status=403)
        chunk = rows[(number - 1) * size : number * size]
        count = math.ceil(len(rows) / size)
        return web.json_response(
            {"campaigns": chunk, "page": {"number": number, "size": size, "count": count}}
        )

    async def _participations(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._unauthorised()
        page = self._page(request, 200, 10)
        if page is None:
            return web.json_response({"errors": [{"status": "400"}]}, status=400)
        number, size = page
        if self.stuck_on_first_page:
            number = 1
        campaign_id = int(request.match_info["id"])
        if campaign_id not in self.participations:
            return web.json_response({"errors": [{"status": "403"}]}, status=403)
        rows = list(self.participations[campaign_id])
        since_text = request.query.get("since")
        if since_text is not None and self.rejects_since:
            return web.json_response({"errors": [{"status": "400"}]}, status=400)
        if since_text is not None:
            try:
                since = datetime.fromisoformat(since_text.replace("Z", "+00:00"))
            except ValueError:
                return web.json_response({"errors": [{"status": "400"}]}, status=400)
            rows = [
                r
                for r in rows
                if (r.shared_at is not None and r.shared_at > since) or r.created_at > since
            ]
        rows.sort(key=lambda r: -r.created_at.timestamp())
        rows.sort(key=lambda r: (r.last_name, r.first_name))
        chunk = rows[(number - 1) * size : number * size]
        count = math.ceil(len(rows) / size)
        return web.json_response(
            {
                "campaignParticipations": [r.payload(campaign_id) for r in chunk],
                "page": {"number": number, "size": size, "count": count},
            }
        )


@asynccontextmanager
async def running_maddo(
    now: Callable[[], datetime], token_lifetime: timedelta = timedelta(hours=1)
) -> AsyncIterator[FakeMaddo]:
    """The fake on an ephemeral loopback port; ``fake.base_url`` is where it listens."""
    fake = FakeMaddo(now, token_lifetime)
    runner = web.AppRunner(fake.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None
    port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake.base_url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        await runner.cleanup()


@contextmanager
def maddo_in_thread(
    now: Callable[[], datetime], token_lifetime: timedelta = timedelta(hours=1)
) -> Iterator[FakeMaddo]:
    """The fake on its own event loop in a thread, for code that runs ``asyncio.run`` itself
    (the in-process CLI). Set it up from the test thread before the calls it answers."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def serve() -> None:
        async with running_maddo(now, token_lifetime) as fake:
            holder["fake"], holder["stop"] = fake, asyncio.Event()
            ready.set()
            await holder["stop"].wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(30), "the fake MaDDo did not start"
    try:
        yield holder["fake"]
    finally:
        loop.call_soon_threadsafe(holder["stop"].set)
        thread.join(30)
        loop.close()
