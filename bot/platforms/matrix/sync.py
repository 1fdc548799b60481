"""Sync requests: the first one (from the stored token, or from now on a fresh store), the
long-polls after it, paced, and the sync token kept on disk (``store_path/sync_token``,
written only after every handler of a batch returned)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from pathlib import Path
from typing import Any

from nio import ErrorResponse, SyncResponse

from bot.platforms.matrix.codec import errcode_of, http_status_of, is_auth_error
from bot.platforms.matrix.connection import NETWORK_ERRORS, Batch, MatrixConnection
from bot.platforms.matrix.device import DeviceLost
from bot.platforms.matrix.login import Login
from bot.platforms.matrix.session import UNKNOWN_TOKEN
from bot.platforms.matrix.store import write_private

logger = logging.getLogger(__name__)


class SyncFailed(Exception):
    """The homeserver answered a sync with an error (other than an authentication one)."""


class SyncFeed:
    """Asks the homeserver for what happened since the last handled batch."""

    # Long-poll duration of a sync request.
    sync_timeout_ms = 30_000
    # Shortest time between the starts of two syncs (seconds), so that a burst of events is
    # fetched in a few syncs rather than one per event.
    sync_min_interval = 0.5

    def __init__(self, connection: MatrixConnection, login: Login) -> None:
        self.connection = connection
        self.login = login
        self._last_sync = 0.0  # monotonic start of the last long-poll sync

    @property
    def token_path(self) -> Path:
        return self.connection.store_path / "sync_token"

    def load_token(self) -> str | None:
        try:
            token = self.token_path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return token or None

    def save_token(self, token: str) -> None:
        write_private(self.token_path, token)

    async def first(self, login_ms: int) -> Batch:
        """The first sync after a login: from the stored token, else from now on (messages
        sent after ``login_ms``, the bot's first login, are still handed over)."""
        client = self.connection.client
        token = self.load_token()
        # Synapse answers a repeated identical sync request from a cache for a while; a bot
        # restarted within that window would get a stale starting point, so the first request
        # carries a filter no other request uses.
        nonce_filter = {"account_data": {"not_types": [f"org.pixbot.start.{secrets.token_hex(8)}"]}}
        response = await client.sync(
            timeout=0, since=token, full_state=True, sync_filter=nonce_filter
        )
        if token and isinstance(response, ErrorResponse) and http_status_of(response) == 400:
            # The token belongs to another server or database: start afresh.
            logger.warning(
                "Matrix : jeton de synchronisation enregistré refusé (%s) ; reprise à partir de "
                "maintenant",
                response,
            )
            self.token_path.unlink(missing_ok=True)
            token = None
            response = await client.sync(timeout=0, full_state=True, sync_filter=nonce_filter)
        if not isinstance(response, SyncResponse):
            await self._failed(response)
            raise OSError(f"first sync failed: {response}")
        # A fresh store starts from now: old commands in the timeline are not replayed, but a
        # message sent after the bot logged in is (it is for this bot).
        fresh = token is None
        return Batch(
            response,
            replay_timeline=not fresh,
            replay_after_ms=login_ms if fresh else None,
            since=token,
        )

    async def next(self) -> Batch | None:
        """The next sync response (None when stopped); raises on any failure."""
        if await self._pace():
            return None
        client = self.connection.client
        joined_before = set(client.rooms)
        since = client.next_batch
        response = await self._sync_or_stop()
        if response is None:
            return None
        if not isinstance(response, SyncResponse):
            await self._failed(response)
            raise SyncFailed(str(response))
        return Batch(response, joined_before=joined_before, since=since or None)

    async def _pace(self) -> bool:
        """Wait until the next sync may start; True when stopped meanwhile.

        A busy bot (a broadcast: its own new rooms, their members joining) would sync again for
        every event; one sync per ``sync_min_interval`` answers as well and costs the homeserver
        less (a reply waits at most that long more)."""
        wait = self._last_sync + self.sync_min_interval - time.monotonic()
        stopped = await self.connection.sleep_or_stop(wait) if wait > 0 else False
        self._last_sync = time.monotonic()
        return stopped or self.connection.stopping.is_set()

    async def _sync_or_stop(self) -> Any:
        """One long-poll sync, cancelled if the platform is stopped meanwhile (→ None)."""
        client = self.connection.client
        sync = asyncio.ensure_future(client.sync(timeout=self.sync_timeout_ms))
        stopped = asyncio.ensure_future(self.connection.stopping.wait())
        try:
            await asyncio.wait({sync, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
        if not sync.done():
            sync.cancel()
            with contextlib.suppress(asyncio.CancelledError, *NETWORK_ERRORS):
                await sync
            return None
        return sync.result()

    async def _failed(self, response: Any) -> None:
        if isinstance(response, ErrorResponse) and is_auth_error(response):
            if self.login.password and errcode_of(response) == UNKNOWN_TOKEN:
                # Logged out for good (the device deleted on the server): a new device.
                raise DeviceLost("logged_out")
            await self.connection.auth_error(f"sync refused: {errcode_of(response)}")
