"""An asyncio client of Pix's organisation API (MaDDo), on aiohttp.

- OAuth2 client credentials (``POST /api/application/token``, form-encoded): the answer has no
  ``expires_in``, so the token's JWT ``exp`` is read to renew it a minute early, and a 401 on a
  call renews it once more (a token revoked or a clock apart).
- 429 (waiting what ``Retry-After`` says) and 5xx or a network failure (exponential backoff) are
  tried again until :attr:`PixClient.patience` seconds have been waited; then
  :class:`PixUnavailable`. An outage is logged once when it starts (and once, at INFO, when it
  ends), never once per attempt, including across syncs while it lasts.
- Pages: organisations' campaigns by 1000, participations by 200 (the API's maxima).

Nothing here touches the database: payloads go through :mod:`bot.pix.schema`'s allow-list.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp

from bot.pix import schema
from bot.pix.schema import Page, PixCampaign, PixOrganization, SchemaError
from bot.translation import gettext as _

log = logging.getLogger(__name__)

SCOPE = "meta campaigns"
TOKEN_PATH = "/api/application/token"
PARTICIPATIONS_PAGE = 200  # the API's maximum
CAMPAIGNS_PAGE = 1000  # the API's maximum
RENEW_EARLY = timedelta(seconds=60)
MAX_BACKOFF = 60.0
MAX_PAGES = 100_000  # a server whose page count never ends is not followed forever


class PixError(Exception):
    """The API could not be used; the message is short French for operators (no secret)."""


class PixUnavailable(PixError):
    """Pix did not answer usefully (network, 5xx, 429) for longer than the client's patience."""


class PixRefused(PixError):
    """Pix refused (credentials, access to an organisation or campaign) or answered something
    that does not follow its schema: trying again will not help."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status  # the HTTP status, when Pix answered with one


def retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - now).total_seconds())


def iso(moment: datetime) -> str:
    """The ``since`` parameter: ISO 8601 in UTC with milliseconds, as Joi's ``date().iso()``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}Z"
    )


class PixClient:
    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        now: Callable[[], datetime],
        timeout: float = 30.0,
        patience: float = 300.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        scope: str = SCOPE,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret
        self._scope = scope
        self._now = now
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self.patience = patience
        self._sleep = sleep
        self._session: aiohttp.ClientSession | None = None
        self._token: str | None = None
        self._expires: datetime | None = None
        self._down_since: datetime | None = None
        self._down_attempts = 0
        self._down_request = ""
        self.tokens_obtained = 0  # how many times a token was requested (status, tests)

    async def __aenter__(self) -> PixClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def token_expires(self) -> datetime | None:
        return self._expires

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, headers={"Accept": "application/json"}
            )
        return self._session

    # -- resilience ----------------------------------------------------------------------------

    def _outage(self, problem: str, request: str) -> None:
        self._down_attempts += 1
        if self._down_since is None:
            self._down_since, self._down_request = self._now(), request
            log.warning("API Pix indisponible (%s) : nouveaux essais espacés", problem)

    def _recovered(self, request: str) -> None:
        """The outage ends when the request that failed succeeds (another one succeeding,
        such as an earlier page, does not end a route's outage)."""
        if self._down_since is not None and request == self._down_request:
            lasted = (self._now() - self._down_since).total_seconds()
            log.info(
                "API Pix de retour après %.0f s (%d essais en échec)", lasted, self._down_attempts
            )
            self._down_since = None
            self._down_attempts = 0

    async def _send(
        self, method: str, path: str, *, headers: dict[str, str], **kwargs: Any
    ) -> tuple[int, Any]:
        """One call, tried again through 429, 5xx and network failures; the final status and
        the decoded JSON body (None unless 200)."""
        waited, attempt = 0.0, 0
        url = self.base_url + path
        # What identifies this request for the outage log (``since`` moves between syncs).
        params = kwargs.get("params") or {}
        request = " ".join(
            [method, path, *(f"{k}={v}" for k, v in sorted(params.items()) if k != "since")]
        )
        while True:
            try:
                async with self._http().request(method, url, headers=headers, **kwargs) as answer:
                    if answer.status == 429 or answer.status >= 500:
                        problem = f"HTTP {answer.status}"
                        delay = retry_after(answer.headers.get("Retry-After"), self._now())
                    else:
                        body = None
                        if answer.status == 200:
                            try:
                                body = await answer.json(content_type=None)
                            except ValueError:
                                raise PixRefused(
                                    _("réponse illisible de Pix ({path})", path=path)
                                ) from None
                        self._recovered(request)
                        return answer.status, body
            except (aiohttp.ClientError, TimeoutError) as error:
                problem, delay = type(error).__name__, None
            if delay is None:
                delay = min(MAX_BACKOFF, 2.0**attempt)
            self._outage(problem, request)
            if waited + delay > self.patience:
                raise PixUnavailable(
                    _(
                        "Pix ne répond pas ({problem}) depuis {seconds} s : nouvel essai plus tard",
                        problem=problem,
                        seconds=f"{waited:.0f}",
                    )
                )
            await self._sleep(delay)
            waited += delay
            attempt += 1

    # -- authentication ------------------------------------------------------------------------

    async def _obtain_token(self) -> str:
        status, body = await self._send(
            "POST",
            TOKEN_PATH,
            headers={},
            data={
                "grant_type": "client_credentials",
                "client_id": self._client_id,
                "client_secret": self._client_secret,
                "scope": self._scope,
            },
        )
        if status != 200 or not isinstance(body, dict):
            raise PixRefused(
                _("jeton refusé par Pix (HTTP {status}) : vérifiez [pix] client_id", status=status)
            )
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise PixRefused(_("réponse de jeton sans access_token"))
        self.tokens_obtained += 1
        self._token, self._expires = token, schema.token_expiry(token)
        return token

    async def _bearer(self) -> str:
        if self._token is None or (
            self._expires is not None and self._expires - RENEW_EARLY <= self._now()
        ):
            return await self._obtain_token()
        return self._token

    async def get(self, path: str, params: dict[str, str] | None = None) -> Any:
        """GET a route with the bearer token, renewing it once on 401."""
        renewed = False
        while True:
            token = await self._bearer()
            status, body = await self._send(
                "GET", path, headers={"Authorization": f"Bearer {token}"}, params=params or {}
            )
            if status == 401 and not renewed:
                self._token, renewed = None, True
                continue
            if status == 200:
                return body
            if status in (401, 403):
                raise PixRefused(
                    _("accès refusé par Pix (HTTP {status}) à {path}", status=status, path=path),
                    status,
                )
            raise PixRefused(
                _("Pix a répondu HTTP {status} à {path}", status=status, path=path), status
            )

    async def token(self) -> str:
        """A valid token (obtained now if needed): ``pixbot pix status`` shows it was."""
        return await self._bearer()

    # -- routes --------------------------------------------------------------------------------

    async def organizations(self) -> list[PixOrganization]:
        try:
            return schema.organizations(await self.get("/api/organizations"))
        except SchemaError as error:
            raise PixRefused(_("réponse inattendue de Pix : {error}", error=error)) from None

    async def campaigns(self, organization_id: int) -> list[PixCampaign]:
        found: list[PixCampaign] = []
        number = 1
        while number <= MAX_PAGES:
            body = await self.get(
                f"/api/organizations/{organization_id}/campaigns",
                {"page[number]": str(number), "page[size]": str(CAMPAIGNS_PAGE)},
            )
            try:
                items, current, count = schema.campaigns_page(body, organization_id)
            except SchemaError as error:
                raise PixRefused(_("réponse inattendue de Pix : {error}", error=error)) from None
            if current != number:
                raise PixRefused(
                    _(
                        "pagination inattendue : page {got} au lieu de {wanted}",
                        got=current,
                        wanted=number,
                    )
                )
            found.extend(items)
            if not items or current >= count:
                break
            number += 1
        return found

    async def participations(self, campaign_id: int, since: datetime | None) -> AsyncIterator[Page]:
        """The campaign's participations changed after ``since`` (all when None), page by
        page (``sharedAt > since OR createdAt > since``; deleted ones are never returned)."""
        number = 1
        while number <= MAX_PAGES:
            params = {"page[number]": str(number), "page[size]": str(PARTICIPATIONS_PAGE)}
            if since is not None:
                params["since"] = iso(since)
            body = await self.get(f"/api/campaigns/{campaign_id}/participations", params)
            try:
                page = schema.participations_page(body)
            except SchemaError as error:
                raise PixRefused(_("réponse inattendue de Pix : {error}", error=error)) from None
            if page.number != number:  # a server ignoring page[number] would loop forever
                raise PixRefused(
                    _(
                        "pagination inattendue : page {got} au lieu de {wanted}",
                        got=page.number,
                        wanted=number,
                    )
                )
            yield page
            if not (page.items or page.skipped) or page.number >= page.count:
                return
            number += 1
