"""Matrix sessions that outlive their access tokens, on the same device.

:class:`SessionClient` is nio's ``AsyncClient`` with one change: when the homeserver answers
``M_UNKNOWN_TOKEN``, the session is renewed (``/refresh`` with the refresh token when one is
held, else a password login on the *same* device id after a soft logout) and the failed request
is sent once more, so nothing is lost and the device (with its E2EE keys) stays the same.
A hard logout (``soft_logout`` false and no usable refresh token) is handed back unchanged:
the platform then stops with ``MatrixAuthError``.

It also sends raw JSON requests for the endpoints nio has no method for
(:meth:`SessionClient.request_json`), through the same renewal.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nio import AsyncClient, ErrorResponse
from nio.api import Api
from nio.responses import Response

logger = logging.getLogger(__name__)

UNKNOWN_TOKEN = "M_UNKNOWN_TOKEN"


@dataclass
class JsonResponse(Response):
    """Any JSON answer, success or error, with its HTTP status."""

    body: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, parsed_dict: Any) -> JsonResponse:
        return cls(body=parsed_dict if isinstance(parsed_dict, dict) else {})

    @property
    def status(self) -> int:
        status = getattr(self.transport_response, "status", 0)
        return status if isinstance(status, int) else 0

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def errcode(self) -> str | None:
        code = self.body.get("errcode")
        return code if isinstance(code, str) else None

    @property
    def soft_logout(self) -> bool:
        return bool(self.body.get("soft_logout"))

    def __str__(self) -> str:
        return f"HTTP {self.status} {self.errcode or ''} {self.body.get('error', '')}".strip()


@dataclass
class Credentials:
    """What renews a session; ``on_renewed`` persists the new tokens (session file)."""

    password: str = ""
    refresh_token: str = ""
    device_name: str = "pixbot"
    on_renewed: Callable[[str, str], None] | None = None


class SessionRenewalError(Exception):
    """A login was refused; ``status``/``errcode`` tell a bad password from a busy server."""

    def __init__(self, message: str, status: int = 0, errcode: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.errcode = errcode

    @property
    def credentials_refused(self) -> bool:
        return self.status in (401, 403) or self.errcode in ("M_FORBIDDEN", UNKNOWN_TOKEN)


def _unknown_token(response: Any) -> tuple[bool, bool]:
    """(is M_UNKNOWN_TOKEN, soft logout) for a nio or raw JSON answer."""
    if isinstance(response, ErrorResponse):
        return response.status_code == UNKNOWN_TOKEN, bool(response.soft_logout)
    if isinstance(response, JsonResponse):
        return response.errcode == UNKNOWN_TOKEN, response.soft_logout
    return False, False


class SessionClient(AsyncClient):
    """``AsyncClient`` that renews its access token and retries the refused request once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.credentials = Credentials()
        self.renewals = 0
        self._renew_lock = asyncio.Lock()

    def _token(self) -> str:
        token = getattr(self, "access_token", "")
        return token if isinstance(token, str) else ""

    async def _send(
        self, response_class: type, method: str, path: str, *args: Any, **kwargs: Any
    ) -> Any:
        used_token = self._token()
        response = await super()._send(response_class, method, path, *args, **kwargs)
        unknown, soft = _unknown_token(response)
        if not unknown or not used_token:
            return response
        # nio forgets the token after a soft logout; keep it until renewed, so that concurrent
        # requests fail the same way (and wait for the renewal) instead of "not logged in".
        if not self._token():
            self.access_token = used_token
        if not await self.renew(used_token, soft_logout=soft):
            return response
        return await super()._send(response_class, method, path, *args, **kwargs)

    async def renew(self, used_token: str, *, soft_logout: bool) -> bool:
        """Renew the session once for every request refused with ``used_token``."""
        async with self._renew_lock:
            current = self._token()
            if current and current != used_token:
                return True  # another request renewed it meanwhile
            creds = self.credentials
            if creds.refresh_token:
                renewed = await self._refresh()
                if renewed is not None:
                    return renewed
                # The refresh token itself is refused: only a soft logout allows a new login.
            if soft_logout and creds.password:
                return await self._relogin()
            logger.error("Matrix : session close par le serveur (déconnexion définitive)")
            return False

    async def _refresh(self) -> bool | None:
        """True when refreshed, False on network trouble, None when the token is refused."""
        path = Api._build_path(["refresh"])
        body = json.dumps({"refresh_token": self.credentials.refresh_token})
        try:
            answer = await self.send(
                "POST", path, body, headers={"Content-Type": "application/json"}
            )
            data = await answer.json(content_type=None)
        except (OSError, TimeoutError, ValueError) as error:
            logger.warning("Matrix : renouvellement du jeton en échec (%s)", type(error).__name__)
            return False
        if answer.status != 200 or not isinstance(data, dict) or "access_token" not in data:
            logger.warning("Matrix : jeton de rafraîchissement refusé (HTTP %s)", answer.status)
            return None
        self._install(data["access_token"], data.get("refresh_token") or "")
        logger.info(
            "Matrix : jeton d'accès renouvelé avec le jeton de rafraîchissement (même appareil)"
        )
        return True

    async def _relogin(self) -> bool:
        try:
            data = await password_login(self, self.credentials.password, self.device_id)
        except SessionRenewalError as error:
            logger.error(
                "Matrix : reconnexion impossible après une déconnexion temporaire : %s", error
            )
            return False
        self._install(data["access_token"], data.get("refresh_token") or "")
        logger.info("Matrix : reconnecté sur le même appareil %s", self.device_id)
        return True

    def _install(self, access_token: str, refresh_token: str) -> None:
        self.access_token = access_token
        self.credentials.refresh_token = refresh_token
        self.renewals += 1
        if self.credentials.on_renewed is not None:
            self.credentials.on_renewed(access_token, refresh_token)

    async def request_json(
        self, method: str, path: str, body: Any = None, *, query: dict[str, str] | None = None
    ) -> JsonResponse:
        """A client-server API request (``path`` after ``/_matrix/client/v3``), renewed."""
        full = Api._build_path(path.strip("/").split("/"), query)
        data = None if body is None else json.dumps(body)
        response: JsonResponse = await self._send(JsonResponse, method, full, data)
        return response


async def password_login(
    client: AsyncClient, password: str, device_id: str | None, device_name: str = "pixbot"
) -> dict[str, Any]:
    """``/login`` with a password on ``device_id``, asking for a refresh token.

    Returns the answer (``access_token``, ``device_id``, maybe ``refresh_token``,
    ``expires_in_ms``); raises :class:`SessionRenewalError` with the server's error otherwise,
    or ``OSError`` subclasses when the homeserver is unreachable.
    """
    body: dict[str, Any] = {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": client.user},
        "password": password,
        "initial_device_display_name": device_name,
        "refresh_token": True,
    }
    if device_id:
        body["device_id"] = device_id
    answer = await client.send(
        "POST",
        Api._build_path(["login"]),
        json.dumps(body),
        headers={"Content-Type": "application/json"},
    )
    try:
        data = await answer.json(content_type=None)
    except ValueError:
        data = {}
    if answer.status != 200 or not isinstance(data, dict) or "access_token" not in data:
        errcode = str(data.get("errcode", "")) if isinstance(data, dict) else ""
        raise SessionRenewalError(
            f"login refused: HTTP {answer.status} {errcode}".strip(), answer.status, errcode
        )
    return data
