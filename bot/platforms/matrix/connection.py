"""The Matrix connection's state and the helpers every part of the adapter shares."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import aiohttp
from nio import (
    AsyncClient,
    ErrorResponse,
    SyncResponse,
)
from nio.crypto import ENCRYPTION_ENABLED

from bot.core import (
    Capabilities,
    DeliveryError,
    InvitePolicy,
)
from bot.platforms.matrix.codec import (
    PLATFORM,
    MatrixAuthError,
    delivery_error,
    errcode_of,
    is_auth_error,
)
from bot.platforms.matrix.identity import CrossSigning
from bot.platforms.matrix.pending import KEY_WAIT, Held, PendingEvents
from bot.platforms.matrix.readiness import DeviceMatch
from bot.platforms.matrix.store import Session, write_private

logger = logging.getLogger(__name__)

_NETWORK_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)


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
class _Batch:
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
    """Settings, state and shared helpers of the Matrix adapter."""

    name = PLATFORM
    # Longest text sent in one event (the outbox splits longer ones into numbered parts):
    # an event is at most 64 KiB, and the text is there twice (body and HTML), JSON-escaped,
    # then encrypted and base64-encoded — up to 16 bytes per character.
    MAX_TEXT_LENGTH = 4000
    # Long-poll duration of a sync request.
    sync_timeout_ms = 30_000
    # Shortest time between the starts of two syncs (seconds), so that a burst of events is
    # fetched in a few syncs rather than one per event.
    sync_min_interval = 0.5
    max_backoff = 30.0

    def __init__(
        self,
        *,
        homeserver: str,
        user_id: str,
        password: str = "",
        access_token: str = "",
        device_id: str = "PIXBOT",
        store_path: Path,
        e2ee: bool = True,
        allowed_servers: Sequence[str] = (),
        rate_limit: float = 1.0,
        display_name: str | None = None,
        on_auth_error: Callable[[str], Awaitable[None]] | None = None,
        request_timeout: float = 20.0,
        recovery_key: str = "",
        key_wait: float = KEY_WAIT,
    ) -> None:
        if not password and not access_token:
            raise ValueError("MatrixPlatform needs a password or an access token")
        self.homeserver = homeserver.rstrip("/")
        self.bot_id = user_id
        # One message at a time, paced by ``rate_limit`` (Synapse's rc_message); the first
        # message to someone also opens a room (``opens_conversation``).
        self.capabilities = Capabilities(rate_limit, max_text_length=self.MAX_TEXT_LENGTH)
        self.store_path = Path(store_path)
        self.e2ee = e2ee and ENCRYPTION_ENABLED
        if e2ee and not ENCRYPTION_ENABLED:
            logger.warning(
                "matrix-nio sans chiffrement de bout en bout : les salons chiffrés sont illisibles"
            )
        self.allowed_servers = tuple(allowed_servers)
        self.display_name = display_name
        # Set by the application: who may bring the bot into a room, and how big a room.
        self.invite_policy: InvitePolicy | None = None
        # A sender account of a pool (bot.platforms.matrix.pool): joins direct rooms only.
        self.direct_only = False
        self._password = password
        self._access_token = access_token
        self._device_id = device_id
        # The [matrix] device_id; ``_device_id`` moves to a derived one when the bot starts a
        # new device by itself (see bot.platforms.matrix.device).
        self._configured_device_id = device_id
        self._on_auth_error = on_auth_error
        self._request_timeout = request_timeout
        # Opens the secret storage of the bot's cross-signing identity (docs/tchap.md).
        self._recovery_key = recovery_key
        self._identity: CrossSigning | None = None

        self._client: AsyncClient | None = None
        self._started = False
        self._start_lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._pending: list[_Batch] = []
        self._direct_rooms: dict[str, list[str]] = {}
        self._direct_cache: dict[str, str] = {}
        # Person → a direct room the bot created but never recorded (None: not looked yet).
        self._unrecorded_direct: dict[str, str] | None = None
        self._unrecorded_lock = asyncio.Lock()
        self._direct_locks: dict[str, asyncio.Lock] = {}
        self._seen_events: OrderedDict[str, None] = OrderedDict()
        self._requested_sessions: set[str] = set()
        # Rooms whose state was read from the server before a first send (see _ensure_room_ready).
        self._ready_rooms: set[str] = set()
        # Direct rooms this process created, not sent to yet: room id → the invited person.
        self._created_rooms: dict[str, str] = {}
        # m.direct entries not yet written to the homeserver (see rooms.DirectRooms).
        self._direct_unsaved: dict[str, list[str]] = {}
        self._direct_writer: asyncio.Task[None] | None = None
        self._auth_failed = False
        self._background: set[asyncio.Future[None]] = set()
        self._run_task: asyncio.Task[Any] | None = None
        self._run_finished = asyncio.Event()
        # Messages waiting for their room key (see bot.platforms.matrix.pending).
        self.key_wait = key_wait
        self._pending_events = PendingEvents(self.store_path / "pending_events.json")
        self._given_up: list[Held] = []
        self._login_ms: int | None = None
        self._last_sync = 0.0  # monotonic start of the last long-poll sync
        # What is known of this device's E2EE keys on the server (bot.platforms.matrix.device).
        self._device_match: DeviceMatch | None = None
        self._device_checked_at = 0.0
        self._one_time_keys: int | None = None
        self._upload_failure: str | None = None
        self._upload_causes_reported: set[str] = set()
        self._has_identity = False
        self._healed: tuple[str, str] | None = None  # (reason, replaced device id)
        self._healed_at: str | None = None
        self._device_status_key: tuple[Any, ...] | None = None
        # The stored session a different configured device_id replaces (logged out once the
        # new device is logged in).
        self._replaced_session: Session | None = None

    @property
    def session_path(self) -> Path:
        return self.store_path / "session.json"

    @property
    def sync_token_path(self) -> Path:
        return self.store_path / "sync_token"

    @property
    def device_id(self) -> str:
        return (self._client.device_id if self._client else None) or self._device_id

    @property
    def client(self) -> AsyncClient:
        if self._client is None:
            raise RuntimeError("MatrixPlatform.start() has not been called")
        return self._client

    async def _pace_sync(self) -> bool:
        """Wait until the next sync may start; True when stopped meanwhile.

        A busy bot (a broadcast: its own new rooms, their members joining) would sync again for
        every event; one sync per ``sync_min_interval`` answers as well and costs the homeserver
        less (a reply waits at most that long more)."""
        wait = self._last_sync + self.sync_min_interval - time.monotonic()
        if wait > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=wait)
        self._last_sync = time.monotonic()
        return self._stopping.is_set()

    def _load_sync_token(self) -> str | None:
        try:
            token = self.sync_token_path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return token or None

    def _save_sync_token(self, token: str) -> None:
        write_private(self.sync_token_path, token)

    async def _auth_error(self, detail: str) -> NoReturn:
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

    async def _check(self, response: Any, what: str) -> None:
        if isinstance(response, ErrorResponse):
            logger.warning("Matrix : %s en échec : %s", what, response)

    async def _delivery_error(self, response: ErrorResponse) -> DeliveryError:
        if is_auth_error(response) and not self._auth_failed:
            with contextlib.suppress(MatrixAuthError):
                await self._auth_error(f"request refused: {errcode_of(response)}")
        return delivery_error(response)

    async def start(self) -> None:
        """Log in and do the first sync (implemented by the platform)."""
        raise NotImplementedError

    async def _ready(self) -> None:
        """Start lazily for callers that act before ``run`` (implemented by the platform)."""
        raise NotImplementedError
