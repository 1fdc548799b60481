"""The Matrix connection every part of the adapter shares.

It holds what does not belong to one part: the account and its store, the nio client in use
(replaced when the bot moves to a new device, :mod:`bot.platforms.matrix.healing`), whether the
adapter is started or stopping, background tasks, and how a homeserver's refusal becomes a log
line, one alert to the operator, or a :class:`bot.core.DeliveryError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import aiohttp
from nio import AsyncClient, ErrorResponse, SyncResponse
from nio.crypto import ENCRYPTION_ENABLED

from bot.core import DeliveryError
from bot.platforms.matrix.codec import (
    MatrixAuthError,
    delivery_error,
    errcode_of,
    is_auth_error,
)

logger = logging.getLogger(__name__)

NETWORK_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)


async def keep_keys(client: AsyncClient) -> list[tuple[str, Any]]:
    """What nio's ``sync_forever`` does between two syncs for an E2EE client: send the queued
    to-device messages, then upload, query and claim keys as its olm machine asks. Returns the
    (request, response) pairs, for the caller to check."""
    await client.send_to_device_messages()
    answered: list[tuple[str, Any]] = []
    if client.should_upload_keys:
        answered.append(("keys_upload", await client.keys_upload()))
    if client.should_query_keys:
        answered.append(("keys_query", await client.keys_query()))
    if client.should_claim_keys:
        users = client.get_users_for_key_claiming()
        answered.append(("keys_claim", await client.keys_claim(users)))
    return answered


@dataclass
class Batch:
    """A sync response waiting to be handled; the first one of a fresh store is not replayed."""

    response: SyncResponse
    replay_timeline: bool = True
    joined_before: set[str] = field(default_factory=set)
    # When the timeline is not replayed: still hand over messages sent at or after this
    # (ms since the epoch), i.e. after the bot logged in for the first time.
    replay_after_ms: int | None = None
    # The token the sync started from (None: a fresh store), and what each limited
    # timeline left out since then, once fetched (bot.platforms.matrix.gaps).
    since: str | None = None
    gaps: dict[str, list[Any]] = field(default_factory=dict)


class MatrixConnection:
    """The account, its store, the client in use and the adapter's lifecycle flags."""

    def __init__(
        self,
        *,
        homeserver: str,
        user_id: str,
        store_path: Path,
        e2ee: bool = True,
        display_name: str | None = None,
        on_auth_error: Callable[[str], Awaitable[None]] | None = None,
        on_new_client: Callable[[AsyncClient], None] | None = None,
    ) -> None:
        self.homeserver = homeserver.rstrip("/")
        # The configured id until the login says the server's (same user, canonical form).
        self.bot_id = user_id
        self.store_path = Path(store_path)
        self.e2ee = e2ee and ENCRYPTION_ENABLED
        if e2ee and not ENCRYPTION_ENABLED:
            logger.warning(
                "matrix-nio sans chiffrement de bout en bout : les salons chiffrés sont illisibles"
            )
        self.display_name = display_name
        # Logged in and first sync done; set by the platform, cleared when the device is left.
        self.started = False
        self.stopping = asyncio.Event()
        self._on_auth_error = on_auth_error
        self._on_new_client = on_new_client
        self._auth_failed = False
        self._client: AsyncClient | None = None
        self._background: set[asyncio.Future[None]] = set()

    @property
    def client(self) -> AsyncClient:
        if self._client is None:
            raise RuntimeError("MatrixPlatform.start() has not been called")
        return self._client

    @property
    def has_client(self) -> bool:
        return self._client is not None

    def use(self, client: AsyncClient) -> None:
        """Talk to the homeserver through ``client`` from now on (a login, a new device)."""
        self._client = client
        if self._on_new_client is not None:
            self._on_new_client(client)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()

    async def sleep_or_stop(self, seconds: float) -> bool:
        """Sleep unless stopped meanwhile; True when stopped."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), timeout=seconds)
        return self.stopping.is_set()

    def in_background(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def auth_error(self, detail: str) -> NoReturn:
        """Log, tell the operator once, and raise: retrying with the same credentials is futile."""
        message = (
            f"Identifiants Matrix refusés pour {self.bot_id} : vérifiez le mot de passe ou le "
            f"jeton / Matrix credentials refused for {self.bot_id}: check the password or "
            f"token ({detail})"
        )
        logger.error(message)
        if not self._auth_failed and self._on_auth_error is not None:
            self._auth_failed = True
            try:
                await self._on_auth_error(message)
            except Exception:
                logger.exception("le rappel on_auth_error a échoué")
        raise MatrixAuthError(message)

    async def check(self, response: Any, what: str) -> None:
        if isinstance(response, ErrorResponse):
            logger.warning("Matrix : %s en échec : %s", what, response)

    async def delivery_error(self, response: ErrorResponse) -> DeliveryError:
        if is_auth_error(response) and not self._auth_failed:
            with contextlib.suppress(MatrixAuthError):
                await self.auth_error(f"request refused: {errcode_of(response)}")
        return delivery_error(response)
