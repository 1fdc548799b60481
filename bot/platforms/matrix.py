"""Matrix (Tchap) platform on matrix-nio, with end-to-end encryption when available.

The adapter only translates: nio sync responses become :class:`bot.core.Incoming`,
:class:`bot.core.Outgoing` becomes an ``m.notice``; nio error *values* become one
:class:`bot.core.DeliveryError` here. Retries belong to the caller's outbox, so nio is told
never to retry on its own.

Files in ``store_path``: ``session.json`` (user id, device id, access token; mode 0600) so the
device never changes, ``sync_token`` (written only after every handler of a batch returned) and
nio's E2EE store.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import html
import json
import logging
import os
import re
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import aiohttp
from nio import (
    AsyncClient,
    AsyncClientConfig,
    ErrorResponse,
    Event,
    InviteMemberEvent,
    JoinedMembersError,
    LocalProtocolError,
    MatrixRoom,
    MegolmEvent,
    ReactionEvent,
    RoomCreateError,
    RoomGetStateError,
    RoomMemberEvent,
    RoomMessageEmote,
    RoomMessageNotice,
    RoomMessageText,
    RoomPreset,
    RoomResolveAliasError,
    RoomSendError,
    SyncResponse,
    UnknownAccountDataEvent,
    WhoamiError,
)
from nio.api import Api
from nio.crypto import ENCRYPTION_ENABLED

from bot.core import (
    DeliveryError,
    Incoming,
    Member,
    MessageHandler,
    Outgoing,
    PlatformAuthError,
    SendResult,
)

# -- cross-signing and token renewal (issue #16): see matrix_identity / matrix_session --------
from bot.platforms.matrix_identity import CrossSigning, IdentityStatus
from bot.platforms.matrix_session import (
    Credentials,
    SessionClient,
    SessionRenewalError,
    password_login,
)

logger = logging.getLogger(__name__)

PLATFORM = "matrix"
THUMBS_UP = "👍"
MEGOLM = "m.megolm.v1.aes-sha2"
# Legacy clients ping everyone on "@room" in the body; a word joiner after "@" defuses it.
_ROOM_PING = re.compile(r"@(room)\b", re.IGNORECASE)
_TXN_SAFE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_TXN_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._-]")
# Error codes after which the same request cannot succeed.
_PERMANENT_ERRCODES = frozenset(
    {
        "M_FORBIDDEN",
        "M_UNKNOWN",
        "M_NOT_FOUND",
        "M_INVALID_PARAM",
        "M_BAD_JSON",
        "M_NOT_JSON",
        "M_TOO_LARGE",
        "M_BAD_ALIAS",
        "M_UNSUPPORTED_ROOM_VERSION",
    }
)
# Error codes meaning our credentials are no longer accepted.
_AUTH_ERRCODES = frozenset(
    {
        "M_UNKNOWN_TOKEN",
        "M_MISSING_TOKEN",
        "M_USER_DEACTIVATED",
        "ORG_MATRIX_EXPIRED_ACCOUNT",
    }
)
_NETWORK_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)
_SEEN_EVENTS_KEPT = 4096
# How long stop() waits for the handler in progress before closing the connection anyway.
STOP_TIMEOUT = 10.0


class MatrixAuthError(PlatformAuthError):
    """The homeserver refused our credentials (bad password, revoked token, expired account)."""


class _SyncFailed(Exception):
    """The homeserver answered a sync with an error (other than an authentication one)."""


# -- pure helpers (sans-I/O) ---------------------------------------------------------------------


def server_of(user_id: str) -> str:
    """``@alice:example.gouv.fr`` → ``example.gouv.fr``."""
    return user_id.partition(":")[2]


def invite_allowed(inviter: str, bot_id: str, allowed_servers: Sequence[str]) -> bool:
    """Join an invite only from the listed servers (by default, the bot's own server)."""
    allowed = set(allowed_servers) or {server_of(bot_id)}
    return server_of(inviter) in allowed


def transaction_id(key: str) -> str:
    """A Matrix txnId derived from the idempotency key: stable, URL-safe, bounded length."""
    if _TXN_SAFE.match(key):
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    readable = _TXN_UNSAFE_CHARS.sub("_", key)[:24]
    return f"{readable}-{digest}"


def defuse_room_ping(text: str) -> str:
    return _ROOM_PING.sub("@\u2060\\1", text)


def message_text(message: Outgoing) -> str:
    """The plain text shown to the user: the caller's text, then the replies to type."""
    text = message.text
    if message.buttons:
        replies = " · ".join(f"« {button.reply} »" for button in message.buttons)
        text = f"{text}\n{replies}" if text else replies
    return defuse_room_ping(text)


def build_content(message: Outgoing) -> dict[str, Any]:
    """The ``m.room.message`` content for an outgoing message (always an ``m.notice``)."""
    body = message_text(message)
    content: dict[str, Any] = {
        "msgtype": "m.notice",
        "body": body,
        "format": "org.matrix.custom.html",
        "formatted_body": html.escape(body).replace("\n", "<br>"),
        # Always present, never "room": only the listed users are notified.
        "m.mentions": {"user_ids": list(dict.fromkeys(message.mentions))},
    }
    if message.in_reply_to:
        content["m.relates_to"] = {"m.in_reply_to": {"event_id": message.in_reply_to}}
    return content


def errcode_of(response: ErrorResponse) -> str:
    return response.status_code or "unknown"


def http_status_of(response: Any) -> int | None:
    transport = getattr(response, "transport_response", None)
    status = getattr(transport, "status", None)
    return status if isinstance(status, int) else None


def is_auth_error(response: ErrorResponse) -> bool:
    return errcode_of(response) in _AUTH_ERRCODES or http_status_of(response) == 401


def is_credentials_refusal(response: ErrorResponse) -> bool:
    """A login/whoami answer that retrying cannot fix (unlike 429 or 5xx)."""
    return (
        is_auth_error(response)
        or errcode_of(response) == "M_FORBIDDEN"
        or http_status_of(response) == 403
    )


def delivery_error(response: ErrorResponse) -> DeliveryError:
    """One exception for every nio error value."""
    code = errcode_of(response)
    retry_after = None
    if code == "M_LIMIT_EXCEEDED" or http_status_of(response) == 429:
        retry_after = (response.retry_after_ms or 1000) / 1000
    return DeliveryError(
        PLATFORM,
        code,
        response.message or "",
        retry_after=retry_after,
        permanent=code in _PERMANENT_ERRCODES,
    )


def unreachable(error: BaseException) -> DeliveryError:
    return DeliveryError(PLATFORM, "unreachable", f"{type(error).__name__}: {error}".strip())


def normalise_reaction(key: str) -> str:
    """Any thumbs up (skin tone, variation selector) counts as 👍."""
    return THUMBS_UP if key.startswith(THUMBS_UP) else key


def mentions_user(
    content: Mapping[str, Any], body: str, user_id: str, names: Iterable[str]
) -> bool:
    mentions = content.get("m.mentions")
    if isinstance(mentions, Mapping):
        user_ids = mentions.get("user_ids")
        if isinstance(user_ids, list) and user_id in user_ids:
            return True
    folded = body.casefold()
    return any(name and name.casefold() in folded for name in (user_id, *names))


def relates_to(content: Mapping[str, Any]) -> str | None:
    relation = content.get("m.relates_to")
    if not isinstance(relation, Mapping):
        return None
    reply = relation.get("m.in_reply_to")
    if isinstance(reply, Mapping) and isinstance(reply.get("event_id"), str):
        return str(reply["event_id"])
    event_id = relation.get("event_id")
    return event_id if isinstance(event_id, str) else None


def is_edit(content: Mapping[str, Any]) -> bool:
    relation = content.get("m.relates_to")
    return isinstance(relation, Mapping) and relation.get("rel_type") == "m.replace"


def write_private(path: Path, text: str) -> None:
    """Atomically replace ``path`` with ``text``, readable by the owner only."""
    temporary = path.with_name(f".{path.name}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


@dataclass
class _Session:
    user_id: str
    device_id: str
    access_token: str
    homeserver: str = ""
    refresh_token: str = ""

    @classmethod
    def load(cls, path: Path) -> _Session | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                user_id=data["user_id"],
                device_id=data["device_id"],
                access_token=data["access_token"],
                homeserver=data.get("homeserver", ""),
                refresh_token=data.get("refresh_token", ""),
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            logger.warning("Ignoring unreadable Matrix session file %s", path)
            return None

    def save(self, path: Path) -> None:
        data = {
            "homeserver": self.homeserver,
            "user_id": self.user_id,
            "device_id": self.device_id,
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
        }
        write_private(path, json.dumps(data, indent=2))


@dataclass
class _Batch:
    """A sync response waiting to be handled; the first one of a fresh store is not replayed."""

    response: SyncResponse
    replay_timeline: bool = True
    joined_before: set[str] = field(default_factory=set)


class MatrixPlatform:
    """:class:`bot.core.Platform` for Matrix homeservers (Tchap)."""

    name = PLATFORM
    # Long-poll duration of a sync request.
    sync_timeout_ms = 30_000
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
    ) -> None:
        if not password and not access_token:
            raise ValueError("MatrixPlatform needs a password or an access token")
        self.homeserver = homeserver.rstrip("/")
        self.bot_id = user_id
        self.rate_limit = rate_limit
        self.store_path = Path(store_path)
        self.e2ee = e2ee and ENCRYPTION_ENABLED
        if e2ee and not ENCRYPTION_ENABLED:
            logger.warning("matrix-nio E2EE support is missing; encrypted rooms are unreadable")
        self.allowed_servers = tuple(allowed_servers)
        self.display_name = display_name
        self._password = password
        self._access_token = access_token
        self._device_id = device_id
        self._on_auth_error = on_auth_error
        self._request_timeout = request_timeout
        self._recovery_key = recovery_key
        self._identity: CrossSigning | None = None

        self._client: AsyncClient | None = None
        self._started = False
        self._start_lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._pending: list[_Batch] = []
        self._direct_rooms: dict[str, list[str]] = {}
        self._direct_cache: dict[str, str] = {}
        self._direct_locks: dict[str, asyncio.Lock] = {}
        self._seen_events: OrderedDict[str, None] = OrderedDict()
        self._requested_sessions: set[str] = set()
        # Rooms whose state was read from the server before a first send (see _ensure_room_ready).
        self._ready_rooms: set[str] = set()
        self._auth_failed = False
        self._background: set[asyncio.Future[None]] = set()
        self._run_task: asyncio.Task[Any] | None = None
        self._run_finished = asyncio.Event()

    # -- paths and state ----------------------------------------------------------------------

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

    def _load_sync_token(self) -> str | None:
        try:
            token = self.sync_token_path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return token or None

    def _save_sync_token(self, token: str) -> None:
        write_private(self.sync_token_path, token)

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Log in (or restore the session) and do the first sync; retry while unreachable."""
        backoff = 0.5
        while not self._started:
            try:
                await self._start_once()
            except _NETWORK_ERRORS as error:
                logger.warning(
                    "Serveur Matrix injoignable / Matrix homeserver unreachable (%s); "
                    "nouvel essai dans %.1f s",
                    type(error).__name__,
                    backoff,
                )
                if await self._sleep_or_stop(backoff):
                    return
                backoff = min(backoff * 2, self.max_backoff)

    async def _start_once(self) -> None:
        async with self._start_lock:
            if self._started:
                return
            if self._client is None:
                self._client = self._make_client()
            await self._login()
            client = self.client
            self.bot_id = client.user_id
            if client.should_upload_keys:
                await self._check(await client.keys_upload(), "keys_upload")
            await self._load_profile()
            await self._load_direct_rooms()
            await self._first_sync()
            await self._ensure_identity()  # issue #16 hook
            self._started = True
            logger.info("Matrix: connected as %s (device %s)", self.bot_id, client.device_id)

    def _make_client(self) -> SessionClient:
        self.store_path.mkdir(parents=True, exist_ok=True, mode=0o700)
        config = AsyncClientConfig(
            # The outbox owns retries: nio must hand back 429s and connection errors at once.
            max_limit_exceeded=0,
            max_timeouts=0,
            request_timeout=self._request_timeout,
            encryption_enabled=self.e2ee,
            store_sync_tokens=False,
        )
        client = SessionClient(
            self.homeserver,
            self.bot_id,
            device_id=self._device_id,
            store_path=str(self.store_path),
            config=config,
        )
        # issue #16 hook: renewed tokens are saved at once (same device id).
        client.credentials = Credentials(password=self._password, on_renewed=self._save_tokens)
        return client

    # -- cross-signing and token renewal (issue #16) ------------------------------------------

    @property
    def identity_status(self) -> IdentityStatus | None:
        """The cross-signing status of this device (for health checks); None before start."""
        return self._identity.status if self._identity else None

    def _save_tokens(self, access_token: str, refresh_token: str) -> None:
        client = self.client
        _Session(
            client.user_id, client.device_id, access_token, self.homeserver, refresh_token
        ).save(self.session_path)

    async def _ensure_identity(self) -> None:
        client = self._client
        if not isinstance(client, SessionClient) or not self.e2ee or client.olm is None:
            return
        if self._identity is None:
            self._identity = CrossSigning(
                client,
                store_path=self.store_path,
                password=self._password,
                recovery_key=self._recovery_key,
            )
        await self._identity.ensure()

    async def _identity_on_sync(self, response: SyncResponse) -> None:
        if self._identity is None:
            return
        try:
            await self._identity.on_device_lists_changed(response.device_list.changed)
        except Exception:
            logger.exception("Matrix: identity check after a key change failed")

    async def _login(self) -> None:
        client = self.client
        session = _Session.load(self.session_path)
        if session and session.user_id == self.bot_id:
            client.restore_login(session.user_id, session.device_id, session.access_token)
            if isinstance(client, SessionClient):
                client.credentials.refresh_token = session.refresh_token
            whoami = await client.whoami()
            if not isinstance(whoami, WhoamiError):
                return
            if not is_auth_error(whoami):
                raise OSError(f"whoami failed: {whoami}")
            logger.warning("Matrix: stored access token refused (%s)", errcode_of(whoami))
            if not self._password:
                await self._auth_error(f"access token refused: {errcode_of(whoami)}")
            # Log in again on the same device so the E2EE identity is kept.
            self._device_id = session.device_id
            client.device_id = session.device_id
            client.access_token = ""
        elif session:
            logger.warning("Matrix: session file is for another user; logging in again")

        refresh_token = ""
        if self._password:
            # issue #16: a password login asks for a refresh token (renewed by SessionClient).
            try:
                answer = await password_login(client, self._password, client.device_id)
            except SessionRenewalError as error:
                if not error.credentials_refused:
                    raise OSError(f"login failed: {error}") from None
                await self._auth_error(str(error))
            device_id = answer["device_id"]
            token = answer["access_token"]
            refresh_token = answer.get("refresh_token") or ""
            client.restore_login(answer.get("user_id") or self.bot_id, device_id, token)
            if isinstance(client, SessionClient):
                client.credentials.refresh_token = refresh_token
        else:
            client.access_token = self._access_token
            client.user_id = self.bot_id
            whoami = await client.whoami()
            if isinstance(whoami, WhoamiError):
                if not is_credentials_refusal(whoami):
                    raise OSError(f"whoami failed: {whoami}")
                await self._auth_error(f"access token refused: {whoami}")
            device_id = whoami.device_id or self._device_id
            token = self._access_token
            client.restore_login(whoami.user_id, device_id, token)
        _Session(client.user_id, device_id, token, self.homeserver, refresh_token).save(
            self.session_path
        )

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
                logger.exception("on_auth_error callback failed")
        raise MatrixAuthError(message)

    async def _load_profile(self) -> None:
        client = self.client
        response = await client.get_displayname(client.user_id)
        current = getattr(response, "displayname", None)
        if self.display_name and current != self.display_name:
            await client.set_displayname(self.display_name)
        elif not self.display_name and current:
            self.display_name = current

    async def _load_direct_rooms(self) -> None:
        response = await self.client.list_direct_rooms()
        rooms = getattr(response, "rooms", None)
        if isinstance(rooms, dict):
            self._direct_rooms = {
                user: [room for room in room_ids if isinstance(room, str)]
                for user, room_ids in rooms.items()
                if isinstance(room_ids, list)
            }

    async def _first_sync(self) -> None:
        token = self._load_sync_token()
        # Synapse answers a repeated identical sync request from a cache for a while; a bot
        # restarted within that window would get a stale starting point, so the first request
        # carries a filter no other request uses.
        nonce_filter = {"account_data": {"not_types": [f"org.pixbot.start.{secrets.token_hex(8)}"]}}
        response = await self.client.sync(
            timeout=0, since=token, full_state=True, sync_filter=nonce_filter
        )
        if token and isinstance(response, ErrorResponse) and http_status_of(response) == 400:
            # The token belongs to another server or database: start afresh.
            logger.warning("Matrix: stored sync token rejected (%s); starting from now", response)
            self.sync_token_path.unlink(missing_ok=True)
            token = None
            response = await self.client.sync(timeout=0, full_state=True, sync_filter=nonce_filter)
        if not isinstance(response, SyncResponse):
            await self._sync_failed(response)
            raise OSError(f"first sync failed: {response}")
        # A fresh store starts from now: old commands in the timeline are not replayed.
        self._pending.append(_Batch(response, replay_timeline=token is not None))

    async def stop(self) -> None:
        """End ``run`` promptly (after the handler in progress, if any); close the session."""
        self._stopping.set()
        run_task = self._run_task
        if run_task is not None and run_task is not asyncio.current_task():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._run_finished.wait()), STOP_TIMEOUT)
        self._started = False
        if self._client is not None:
            await self._client.close()

    async def _sleep_or_stop(self, seconds: float) -> bool:
        """Sleep unless stopped meanwhile; True when stopped."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        return self._stopping.is_set()

    # -- receiving ----------------------------------------------------------------------------

    async def run(self, on_message: MessageHandler) -> None:
        """Sync until :meth:`stop`; hand each message to ``on_message``, in order."""
        self._run_task = asyncio.current_task()
        self._run_finished.clear()
        try:
            await self._run(on_message)
        finally:
            self._run_task = None
            self._run_finished.set()

    async def _run(self, on_message: MessageHandler) -> None:
        await self.start()
        backoff = 0.5
        while not self._stopping.is_set():
            try:
                batch = self._pending.pop(0) if self._pending else await self._next_batch()
                if batch is None:
                    break
                await self._keep_keys()
                await self._identity_on_sync(batch.response)  # issue #16 hook
                if await self._handle_batch(batch, on_message):
                    self._save_sync_token(batch.response.next_batch)
                backoff = 0.5
            except MatrixAuthError:
                raise
            except LocalProtocolError as error:
                # nio forgets the access token after a "soft logout" answer.
                await self._auth_error(f"logged out by the homeserver: {error}")
            except Exception as error:
                network = isinstance(error, _NETWORK_ERRORS)
                logger.log(
                    logging.WARNING if network else logging.ERROR,
                    "Synchronisation Matrix impossible / Matrix sync failed (%s: %s); "
                    "nouvel essai dans %.1f s",
                    type(error).__name__,
                    error,
                    backoff,
                    exc_info=not network,
                )
                if await self._sleep_or_stop(backoff):
                    break
                backoff = min(backoff * 2, self.max_backoff)

    async def _next_batch(self) -> _Batch | None:
        """The next sync response (None when stopped); raises on any failure."""
        joined_before = set(self.client.rooms)
        response = await self._sync_or_stop()
        if response is None:
            return None
        if not isinstance(response, SyncResponse):
            await self._sync_failed(response)
            raise _SyncFailed(str(response))
        return _Batch(response, joined_before=joined_before)

    async def _sync_or_stop(self) -> Any:
        """One long-poll sync, cancelled if :meth:`stop` is called meanwhile (→ None)."""
        sync = asyncio.ensure_future(self.client.sync(timeout=self.sync_timeout_ms))
        stopped = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({sync, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
        if not sync.done():
            sync.cancel()
            with contextlib.suppress(asyncio.CancelledError, *_NETWORK_ERRORS):
                await sync
            return None
        return sync.result()

    async def _sync_failed(self, response: Any) -> None:
        if isinstance(response, ErrorResponse) and is_auth_error(response):
            await self._auth_error(f"sync refused: {errcode_of(response)}")

    async def _keep_keys(self) -> None:
        """What nio's sync_forever does between syncs: to-device messages and key upkeep."""
        client = self.client
        if not client.olm:
            return
        try:
            await client.send_to_device_messages()
            if client.should_upload_keys:
                await self._check(await client.keys_upload(), "keys_upload")
            if client.should_query_keys:
                await self._check(await client.keys_query(), "keys_query")
            if client.should_claim_keys:
                users = client.get_users_for_key_claiming()
                await self._check(await client.keys_claim(users), "keys_claim")
        except _NETWORK_ERRORS as error:
            logger.warning("Matrix key upkeep failed: %s", error)

    async def _check(self, response: Any, what: str) -> None:
        if isinstance(response, ErrorResponse):
            logger.warning("Matrix %s failed: %s", what, response)

    async def _handle_batch(self, batch: _Batch, on_message: MessageHandler) -> bool:
        """Handle one sync response; False if stopped midway (its token is then not saved)."""
        response = batch.response
        self._update_direct_rooms(response)
        for room_id, info in response.rooms.invite.items():
            try:
                await self._handle_invite(room_id, info.invite_state)
            except _NETWORK_ERRORS as error:
                # The invite stays pending on the server; it comes back after a restart.
                logger.warning("Matrix: invite to %s not handled: %s", room_id, error)
        if not batch.replay_timeline:
            return True
        for room_id, info in response.rooms.join.items():
            room = self.client.rooms.get(room_id)
            if room is None:
                continue
            for incoming in self._room_incoming(
                room, info.timeline.events, newly_joined=room_id not in batch.joined_before
            ):
                if self._stopping.is_set():
                    return False
                try:
                    await on_message(incoming)
                except Exception:
                    logger.exception("Handler failed for Matrix event %s", incoming.event_id)
        return True

    def _update_direct_rooms(self, response: SyncResponse) -> None:
        for event in response.account_data_events:
            if isinstance(event, UnknownAccountDataEvent) and event.type == "m.direct":
                self._direct_rooms = {
                    user: list(rooms)
                    for user, rooms in event.content.items()
                    if isinstance(rooms, list)
                }

    async def _handle_invite(self, room_id: str, invite_state: Sequence[Any]) -> None:
        client = self.client
        own = [
            event
            for event in invite_state
            if isinstance(event, InviteMemberEvent)
            and event.state_key == client.user_id
            and event.membership == "invite"
        ]
        if not own:
            return
        invite = own[-1]
        if not invite_allowed(invite.sender, client.user_id, self.allowed_servers):
            logger.info("Matrix: declining invite to %s from %s", room_id, invite.sender)
            await self._check(await client.room_leave(room_id), "room_leave")
            return
        logger.info("Matrix: joining %s on invitation from %s", room_id, invite.sender)
        joined = await client.join(room_id)
        if isinstance(joined, ErrorResponse):
            logger.warning("Matrix: could not join %s: %s", room_id, joined)
            return
        if invite.content.get("is_direct") and room_id not in self._direct_rooms.get(
            invite.sender, []
        ):
            await self._record_direct(invite.sender, room_id)

    def _room_incoming(
        self, room: MatrixRoom, events: Sequence[Any], *, newly_joined: bool
    ) -> list[Incoming]:
        own_id = self.client.user_id
        result: list[Incoming] = []
        for event in events:
            if isinstance(event, RoomMemberEvent):
                self._on_membership(room.room_id, event)
                # Messages sent before the bot joined are not for it.
                if (
                    newly_joined
                    and event.state_key == own_id
                    and event.membership == "join"
                    and event.prev_membership != "join"
                ):
                    result.clear()
                continue
            sender = getattr(event, "sender", None)
            event_id = getattr(event, "event_id", None)
            if not isinstance(sender, str) or not isinstance(event_id, str) or sender == own_id:
                continue
            if event_id in self._seen_events:
                continue
            incoming = self._to_incoming(room, event)
            if incoming is not None:
                self._remember(event_id)
                result.append(incoming)
        return result

    def _remember(self, event_id: str) -> None:
        self._seen_events[event_id] = None
        while len(self._seen_events) > _SEEN_EVENTS_KEPT:
            self._seen_events.popitem(last=False)

    def _on_membership(self, room_id: str, event: RoomMemberEvent) -> None:
        if event.membership in ("leave", "ban"):
            for person, cached in list(self._direct_cache.items()):
                if cached == room_id and event.state_key in (person, self.client.user_id):
                    del self._direct_cache[person]

    def _to_incoming(self, room: MatrixRoom, event: Event) -> Incoming | None:
        content: Mapping[str, Any] = event.source.get("content", {}) or {}
        common: dict[str, Any] = {
            "platform": PLATFORM,
            "event_id": event.event_id,
            "sender_id": event.sender,
            "conversation_id": room.room_id,
            "is_direct": self._is_direct(room, event.sender),
            "timestamp": datetime.fromtimestamp(event.server_timestamp / 1000, tz=UTC),
            "sender_name": getattr(room.users.get(event.sender), "display_name", None),
        }
        if isinstance(event, (RoomMessageText, RoomMessageNotice, RoomMessageEmote)):
            if is_edit(content):
                return None
            body = event.body or ""
            names = [self.display_name or ""]
            return Incoming(
                text=body,
                sender_is_bot=isinstance(event, RoomMessageNotice),
                mentions_bot=mentions_user(content, body, self.client.user_id, names),
                relates_to=relates_to(content),
                **common,
            )
        if isinstance(event, ReactionEvent):
            return Incoming(
                text="",
                reaction=normalise_reaction(event.key),
                relates_to=event.reacts_to,
                **common,
            )
        if isinstance(event, MegolmEvent):
            self._request_key(event)
            return Incoming(text="", undecryptable=True, **common)
        return None

    def _is_direct(self, room: MatrixRoom, sender: str) -> bool:
        if room.room_id in self._direct_rooms.get(sender, []):
            return True
        joined = {user for user, member in room.users.items() if not member.invited}
        return joined == {self.client.user_id, sender}

    def _request_key(self, event: MegolmEvent) -> None:
        if event.session_id in self._requested_sessions:
            return
        self._requested_sessions.add(event.session_id)

        async def request() -> None:
            try:
                await self.client.request_room_key(event)
            except (LocalProtocolError, *_NETWORK_ERRORS) as error:
                logger.info("Matrix: room key request not sent: %s", error)

        task = asyncio.ensure_future(request())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- sending ------------------------------------------------------------------------------

    async def _ready(self) -> None:
        """Start lazily for callers that send before ``run`` (one attempt, no waiting)."""
        if self._started:
            return
        try:
            await self._start_once()
        except _NETWORK_ERRORS as error:
            raise unreachable(error) from error

    async def send(self, message: Outgoing) -> SendResult:
        await self._ready()
        if message.person_id is not None:
            room_id = await self.open_direct(message.person_id)
        else:
            assert message.conversation_id is not None
            room_id = await self._resolve_room(message.conversation_id)
        client = self.client
        try:
            await self._ensure_room_ready(room_id)
            response = await client.room_send(
                room_id,
                "m.room.message",
                build_content(message),
                tx_id=transaction_id(message.key),
                ignore_unverified_devices=True,
            )
        except _NETWORK_ERRORS as error:
            raise unreachable(error) from error
        except LocalProtocolError as error:
            raise DeliveryError(PLATFORM, "local_error", str(error)) from error
        if isinstance(response, RoomSendError):
            raise await self._delivery_error(response)
        return SendResult(remote_id=response.event_id, conversation_id=room_id)

    async def _delivery_error(self, response: ErrorResponse) -> DeliveryError:
        if is_auth_error(response) and not self._auth_failed:
            with contextlib.suppress(MatrixAuthError):
                await self._auth_error(f"request refused: {errcode_of(response)}")
        return delivery_error(response)

    async def _resolve_room(self, conversation_id: str) -> str:
        if not conversation_id.startswith("#"):
            return conversation_id
        try:
            response = await self.client.room_resolve_alias(conversation_id)
        except _NETWORK_ERRORS as error:
            raise unreachable(error) from error
        if isinstance(response, RoomResolveAliasError):
            raise await self._delivery_error(response)
        room_id: str = response.room_id
        return room_id

    async def _ensure_room_ready(self, room_id: str) -> None:
        """Before the first send to a room: its encryption and members as the server has them.

        nio encrypts only for rooms it knows, and shares the room key only with the members it
        knows. The sync loop builds a new room concurrently with sends (it awaits between
        timeline events), so a send right after creating a direct room could see the room
        half-built: encrypted for nobody but ourselves (the recipient could never read the
        message) or not marked encrypted yet (sent in clear). So, once per room and process,
        the room's state is read from the homeserver and the members' device keys are queried
        before nio shares the room key.
        """
        client = self.client
        if not client.olm or room_id in self._ready_rooms:
            return
        response = await client.room_get_state(room_id)
        if isinstance(response, RoomGetStateError):
            raise await self._delivery_error(response)
        # Looked up after the request: a sync may have added the room meanwhile.
        room = client.rooms.get(room_id)
        if room is None:
            room = client.rooms[room_id] = MatrixRoom(room_id, client.user_id)
        for raw in response.events:
            event = Event.parse_event(raw)
            if isinstance(event, RoomMemberEvent):
                room.handle_membership(event)
            elif raw.get("type") == "m.room.encryption":
                room.encrypted = True
            elif isinstance(event, Event):
                room.handle_event(event)
        if room.encrypted and client.olm is not None:
            client.encrypted_rooms.add(room_id)
            client.olm.update_tracked_users(room)
            if client.should_query_keys:
                keys = await client.keys_query()
                if isinstance(keys, ErrorResponse):
                    # Without the members' devices nobody could read the message: retry later.
                    raise DeliveryError(PLATFORM, "keys_query", keys.message or str(keys))
        self._ready_rooms.add(room_id)

    async def open_direct(self, person_id: str) -> str:
        """The direct room with ``person_id``: reused from ``m.direct`` or created (encrypted)."""
        await self._ready()
        if person_id in self._direct_cache:
            return self._direct_cache[person_id]
        lock = self._direct_locks.setdefault(person_id, asyncio.Lock())
        async with lock:
            if person_id in self._direct_cache:
                return self._direct_cache[person_id]
            try:
                room_id = await self._find_direct(person_id) or await self._create_direct(person_id)
            except _NETWORK_ERRORS as error:
                raise unreachable(error) from error
            self._direct_cache[person_id] = room_id
            return room_id

    async def _find_direct(self, person_id: str) -> str | None:
        client = self.client
        for room_id in reversed(self._direct_rooms.get(person_id, [])):
            ours = await client.room_get_state_event(room_id, "m.room.member", client.user_id)
            theirs = await client.room_get_state_event(room_id, "m.room.member", person_id)
            if getattr(ours, "content", {}).get("membership") == "join" and getattr(
                theirs, "content", {}
            ).get("membership") in ("join", "invite"):
                return room_id
        return None

    async def _create_direct(self, person_id: str) -> str:
        # Synapse lets us invite a local id nobody registered; a profile lookup tells.
        profile = await self.client.get_profile(person_id)
        if isinstance(profile, ErrorResponse) and (
            errcode_of(profile) == "M_NOT_FOUND" or http_status_of(profile) == 404
        ):
            raise DeliveryError(
                PLATFORM, "M_NOT_FOUND", f"unknown user {person_id}", permanent=True
            )
        initial_state = (
            [{"type": "m.room.encryption", "state_key": "", "content": {"algorithm": MEGOLM}}]
            if self.e2ee
            else []
        )
        response = await self.client.room_create(
            is_direct=True,
            preset=RoomPreset.trusted_private_chat,
            invite=[person_id],
            initial_state=initial_state,
        )
        if isinstance(response, RoomCreateError):
            raise await self._delivery_error(response)
        room_id: str = response.room_id
        logger.info("Matrix: created direct room %s with %s", room_id, person_id)
        try:
            await self._record_direct(person_id, room_id)
        except _NETWORK_ERRORS as error:
            # The room exists and is cached; only a restart could miss it.
            logger.warning("Matrix: could not record %s in m.direct: %s", room_id, error)
        return room_id

    async def _record_direct(self, person_id: str, room_id: str) -> None:
        """Add the room to the bot's ``m.direct`` account data (read, merge, write)."""
        client = self.client
        current = await client.list_direct_rooms()
        rooms = getattr(current, "rooms", None)
        direct: dict[str, list[str]] = dict(rooms) if isinstance(rooms, dict) else {}
        existing = direct.get(person_id, [])
        direct[person_id] = [*existing, room_id] if room_id not in existing else existing
        path = Api._build_path(["user", client.user_id, "account_data", "m.direct"])
        answer = await client.send(
            "PUT",
            path,
            json.dumps(direct),
            headers={
                "Authorization": f"Bearer {client.access_token}",
                "Content-Type": "application/json",
            },
        )
        if answer.status != 200:
            logger.warning("Matrix: could not record %s in m.direct (%s)", room_id, answer.status)
        answer.release()
        self._direct_rooms = direct

    # -- rooms --------------------------------------------------------------------------------

    async def room_members(self, conversation_id: str) -> Sequence[Member]:
        await self._ready()
        room_id = await self._resolve_room(conversation_id)
        try:
            response = await self.client.joined_members(room_id)
        except _NETWORK_ERRORS as error:
            raise unreachable(error) from error
        if isinstance(response, JoinedMembersError):
            failure = await self._delivery_error(response)
            failure.permanent = True
            raise failure
        return [
            Member(platform_id=member.user_id, display_name=member.display_name or None)
            for member in response.members
            if member.user_id != self.client.user_id
        ]
