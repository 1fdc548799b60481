"""The dashboard's pages on the bot's HTTP server (``[http] listen``, aiohttp), GET only.

``/tableau/lien/<token>`` exchanges a one-time link (:mod:`bot.dashboard.tokens`) for a session
cookie (``HttpOnly; SameSite=Strict``, ``Secure`` behind HTTPS, one hour) on a page that moves
on by itself (a same-site navigation, so the Strict cookie goes with it) to the pages:
``/tableau`` (the campaigns of the person's scope), ``/tableau/campagne/<id>`` and, for an
administrator, ``/tableau/ministere``. A link is used once: its nonce is recorded as a
processed event of the ``dashboard`` pseudo-platform (a primary key: two simultaneous uses
cannot both win). Roles are read again on every page; every page seen is written to the audit
log. Responses carry a strict Content-Security-Policy (no script at all), ``no-referrer`` (the
link never leaves in a Referer header) and ``no-store``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.core import Clock
from bot.dashboard.pages import WebRenderer
from bot.dashboard.tokens import LINK, SESSION, Claims, DashboardLinks, TokenError, verify
from bot.dashboard.views import Viewer, Views, viewer_of
from bot.domain import Person, Roles
from storage.uow import Store, UnitOfWork

log = logging.getLogger(__name__)

COOKIE = "pixbot_tableau"
PREFIX = "/tableau"
LINK_PLATFORM = "dashboard"
STATIC = Path(__file__).parent / "static"
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; font-src 'self'; img-src 'self' data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True, slots=True)
class Reader:
    """What a page needs from the application (no App object: its parts, typed)."""

    store: Store
    clock: Clock
    views: Views
    roles_of: Callable[[UnitOfWork, Person], Roles]
    locale_of: Callable[[Person], str]
    run: Callable[[Callable[[], Any]], Awaitable[Any]]


class Dashboard:
    def __init__(self, links: DashboardLinks, reader: Reader, pages: WebRenderer) -> None:
        self.links = links
        self.reader = reader
        self.pages = pages
        # Two requests with one link race in this process one at a time (the primary key of
        # processed_events still decides between processes).
        self._redeeming = asyncio.Lock()

    def mount(self, app: web.Application) -> None:
        app.middlewares.append(_headers)
        get = app.router.add_get
        get(f"{PREFIX}/lien/{{token}}", self.redeem, allow_head=False)
        get(PREFIX, self.overview, allow_head=False)
        get(f"{PREFIX}/campagne/{{campaign_id:\\d+}}", self.campaign, allow_head=False)
        get(f"{PREFIX}/ministere", self.ministry, allow_head=False)
        get(f"{PREFIX}/static/{{path:.+}}", self.static, allow_head=False)

    # -- the link --------------------------------------------------------------------------

    async def redeem(self, request: web.Request) -> web.StreamResponse:
        now = self.reader.clock.now()
        try:
            claims = verify(self.links.key, LINK, request.match_info["token"], now)
        except TokenError as error:
            log.info("lien du tableau de bord refusé : %s", error.reason)
            return self._refusal(error.reason)
        code = request.query.get("campagne", "")

        def exchange() -> tuple[str, int | None, str | None]:
            with self.reader.store.transaction() as uow:
                viewer = self._viewer(uow, claims)
                if viewer is None:
                    return "rights", None, None
                if not uow.events.mark_processed(LINK_PLATFORM, claims.nonce, now):
                    uow.audit.add(viewer.person.platform_id, "dashboard_reused", now)
                    return "reused", None, None
                uow.audit.add(viewer.person.platform_id, "dashboard_open", now)
                found = uow.campaigns.with_code(code, viewer.scope) if code else []
                locale = self.reader.locale_of(viewer.person)
                return "ok", found[0].id if found else None, locale

        async with self._redeeming:
            outcome, campaign_id, locale = await self.reader.run(exchange)
        if outcome != "ok":
            return self._refusal(outcome)
        cookie, session = self.links.session(claims, now)
        target = f"{PREFIX}/campagne/{campaign_id}" if campaign_id else PREFIX
        # Not a redirect: a link followed from the chat's site is a cross-site navigation, and
        # a redirect keeps it cross-site, so the browser would not send the SameSite=Strict
        # cookie to the next page. This page, on our site, moves on by itself (same-site).
        body = self.pages.render("opening", locale, target=target, now=now)
        response = self._html(body)
        response.set_cookie(
            COOKIE,
            cookie,
            max_age=int((session.expires - now).total_seconds()),
            path=PREFIX,
            httponly=True,
            samesite="Strict",
            secure=self.links.secure,
        )
        return response

    # -- the pages -------------------------------------------------------------------------

    async def overview(self, request: web.Request) -> web.StreamResponse:
        def read(uow: UnitOfWork, viewer: Viewer, now: datetime) -> dict[str, Any]:
            return {"view": self.reader.views.overview(uow, viewer, now)}

        return await self._page(request, "overview", read)

    async def campaign(self, request: web.Request) -> web.StreamResponse:
        campaign_id = int(request.match_info["campaign_id"])

        def read(uow: UnitOfWork, viewer: Viewer, now: datetime) -> dict[str, Any] | None:
            detail = self.reader.views.campaign(uow, viewer, campaign_id, now)
            return None if detail is None else {"view": detail}

        return await self._page(request, "campaign", read, campaign_id)

    async def ministry(self, request: web.Request) -> web.StreamResponse:
        def read(uow: UnitOfWork, viewer: Viewer, now: datetime) -> dict[str, Any] | None:
            if viewer.role != "admin":
                return None
            return {"view": self.reader.views.ministry(uow, now)}

        return await self._page(request, "ministry", read)

    async def static(self, request: web.Request) -> web.StreamResponse:
        """The stylesheet, DSFR's files when vendored (scripts/vendor_dsfr.py), nothing else."""
        root = STATIC.resolve()
        path = (root / request.match_info["path"]).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers={"Cache-Control": "public, max-age=3600"})

    async def _page(
        self,
        request: web.Request,
        name: str,
        read: Callable[[UnitOfWork, Viewer, datetime], dict[str, Any] | None],
        campaign_id: int | None = None,
    ) -> web.StreamResponse:
        now = self.reader.clock.now()
        try:
            claims = verify(self.links.key, SESSION, request.cookies.get(COOKIE, ""), now)
        except TokenError as error:
            reason = "missing" if COOKIE not in request.cookies else error.reason
            return self._refusal(reason)

        def transaction() -> tuple[str, dict[str, Any] | None, str]:
            with self.reader.store.transaction() as uow:
                viewer = self._viewer(uow, claims)
                if viewer is None:
                    return "rights", None, ""
                variables = read(uow, viewer, now)
                # Every page seen, found or not, is in the audit log (no figure in it).
                uow.audit.add(
                    viewer.person.platform_id,
                    "dashboard_view",
                    now,
                    campaign_id if variables is not None else None,
                    detail=request.path,
                )
                if variables is not None:
                    variables["viewer"] = viewer
                return "ok", variables, self.reader.locale_of(viewer.person)

        outcome, variables, locale = await self.reader.run(transaction)
        if outcome != "ok":
            return self._refusal(outcome)
        if variables is None:
            return self._html(self.pages.render("not_found", locale, now=now), 404)
        return self._html(self.pages.render(name, locale, now=now, **variables))

    # -- helpers -----------------------------------------------------------------------------

    def _viewer(self, uow: UnitOfWork, claims: Claims) -> Viewer | None:
        person = uow.people.get(claims.person_id)
        roles = self.reader.roles_of(uow, person) if person is not None else None
        return viewer_of(person, roles, claims.role)

    def _refusal(self, reason: str) -> web.Response:
        """A French page saying why, and how to get a new link (no detail for an attacker)."""
        status = 401 if reason in ("missing", "expired") else 403
        body = self.pages.render("refused", None, reason=reason, now=self.reader.clock.now())
        return self._html(body, status)

    @staticmethod
    def _html(body: str, status: int = 200) -> web.Response:
        return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")


@web.middleware
async def _headers(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    if not request.path.startswith(PREFIX):
        return await handler(request)
    try:
        response = await handler(request)
    except web.HTTPException as error:  # 404, 405: the same headers
        _secure(error.headers)
        raise
    _secure(response.headers)
    return response


def _secure(headers: Any) -> None:
    for name, value in HEADERS.items():
        headers.setdefault(name, value)
