"""Matrix (Tchap) platform on matrix-nio, with end-to-end encryption when available.

:class:`MatrixPlatform` is composed of parts, each built once, in order, from the ones before
it: the connection (account, store, client in use, lifecycle), the login, the device's keys,
healing a lost device, the direct rooms, the invitations, the inbound translator, the timeline
gaps, the sync requests and the outbound messages. The platform runs the sync loop over them;
no part reads another's private state.

The adapter only translates: nio sync responses become :class:`bot.core.Incoming`,
:class:`bot.core.Outgoing` becomes an ``m.notice`` (or an ``m.image`` uploaded to the media
repository, encrypted as an attachment in encrypted rooms); nio error *values* become one
:class:`bot.core.DeliveryError` (``outbound``). Retries belong to the caller's outbox, so nio
is told never to retry on its own.

Files in ``store_path``: ``session.json`` (user id, device id, access token; mode 0600) so the
device never changes, ``sync_token`` (written only after every handler of a batch returned) and
nio's E2EE store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from nio import (
    AsyncClient,
    LocalProtocolError,
    RoomMemberEvent,
)

from bot.core import (
    Capabilities,
    ErasureStep,
    Incoming,
    InvitePolicy,
    Member,
    MessageHandler,
    Outgoing,
    SendResult,
)
from bot.platforms.matrix.codec import (
    PLATFORM,
    MatrixAuthError,
    unreachable,
)
from bot.platforms.matrix.connection import NETWORK_ERRORS, Batch, MatrixConnection
from bot.platforms.matrix.device import DeviceKeys, DeviceLost
from bot.platforms.matrix.erasure import DirectRoomErasure, KeyStoreErasure, PendingErasure
from bot.platforms.matrix.gaps import TimelineGaps
from bot.platforms.matrix.healing import DeviceHealing
from bot.platforms.matrix.identity import IdentityStatus
from bot.platforms.matrix.inbound import InboundTranslator
from bot.platforms.matrix.invitations import Invitations
from bot.platforms.matrix.login import Login
from bot.platforms.matrix.outbound import OutboundMessages
from bot.platforms.matrix.pending import KEY_WAIT
from bot.platforms.matrix.readiness import Readiness
from bot.platforms.matrix.rooms import DirectRooms
from bot.platforms.matrix.sync import SyncFeed

logger = logging.getLogger(__name__)

# How long stop() waits for the handler in progress before closing the connection anyway.
STOP_TIMEOUT = 10.0


def _after(event: Any, moment_ms: int) -> bool:
    """Membership events always count; other events only when sent at or after the moment."""
    if isinstance(event, RoomMemberEvent):
        return True
    return int(getattr(event, "server_timestamp", 0) or 0) >= moment_ms


class _HandlingFailed(Exception):
    """The bot could not handle an event (its database is away): the batch is kept, in order,
    and handed over again; the sync token does not move past it."""


class MatrixPlatform:
    """:class:`bot.core.Platform` for Matrix homeservers (Tchap)."""

    name = PLATFORM
    # Longest text sent in one event (the outbox splits longer ones into numbered parts):
    # an event is at most 64 KiB, and the text is there twice (body and HTML), JSON-escaped,
    # then encrypted and base64-encoded — up to 16 bytes per character.
    MAX_TEXT_LENGTH = 4000
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
        direct_only: bool = False,
        on_new_client: Callable[[AsyncClient], None] | None = None,
        invite_policy: InvitePolicy | None = None,
    ) -> None:
        """``direct_only``: a sender account of a pool (:mod:`bot.platforms.matrix.pool`),
        which joins direct rooms only. ``invite_policy``: the core's answer to "may the bot
        join this room?" (``bot.runner`` builds it before the platform; None accepts any
        allowed server). ``on_new_client`` is called with each nio client the
        platform makes (a benchmark counts their requests)."""
        # One message at a time, paced by ``rate_limit`` (Synapse's rc_message); the first
        # message to someone also opens a room (``opens_conversation``).
        self.capabilities = Capabilities(rate_limit, max_text_length=self.MAX_TEXT_LENGTH)
        self.connection = MatrixConnection(
            homeserver=homeserver,
            user_id=user_id,
            store_path=store_path,
            e2ee=e2ee,
            display_name=display_name,
            on_auth_error=on_auth_error,
            on_new_client=on_new_client,
        )
        self.login = Login(
            self.connection,
            password=password,
            access_token=access_token,
            device_id=device_id,
            request_timeout=request_timeout,
        )
        self.keys = DeviceKeys(self.connection, self.login, recovery_key=recovery_key)
        self.rooms = DirectRooms(self.connection)
        self.invitations = Invitations(
            self.connection,
            self.rooms,
            allowed_servers=allowed_servers,
            direct_only=direct_only,
            policy=invite_policy,
        )
        self.inbound = InboundTranslator(
            self.connection, self.rooms, allowed_servers=allowed_servers, key_wait=key_wait
        )
        self.healing = DeviceHealing(
            self.connection,
            self.login,
            self.keys,
            on_new_device=(self.rooms.forget_ready_rooms, self.inbound.forget_key_requests),
        )
        self.gaps = TimelineGaps(self.connection)
        self.sync = SyncFeed(self.connection, self.login)
        self.outbound = OutboundMessages(self.connection, self.rooms)
        self._start_lock = asyncio.Lock()
        self._pending: list[Batch] = []
        self._login_ms: int | None = None
        self._run_task: asyncio.Task[Any] | None = None
        self._run_finished = asyncio.Event()

    # -- what the core and the pool read -------------------------------------------------------

    @property
    def bot_id(self) -> str:
        return self.connection.bot_id

    @property
    def display_name(self) -> str | None:
        return self.connection.display_name

    @property
    def client(self) -> AsyncClient:
        return self.connection.client

    @property
    def store_path(self) -> Path:
        return self.connection.store_path

    @property
    def sync_token_path(self) -> Path:
        return self.sync.token_path

    @property
    def device_id(self) -> str:
        connection = self.connection
        return (connection.client.device_id if connection.has_client else None) or (
            self.login.device_id
        )

    @property
    def direct_only(self) -> bool:
        return self.invitations.direct_only

    @property
    def invite_policy(self) -> InvitePolicy | None:
        return self.invitations.policy

    @property
    def identity_status(self) -> IdentityStatus | None:
        """The cross-signing status of this device (for health checks); None before start."""
        return self.keys.identity_status

    def readiness(self) -> Readiness:
        return self.keys.readiness()

    def readiness_problem(self) -> str | None:
        """None when agents can reach the bot; else a short reason (no key, no secret)."""
        return self.keys.readiness_problem()

    def has_direct_room(self, person_id: str) -> bool:
        """Whether this account has a direct room with ``person_id`` (known here)."""
        return self.rooms.has_direct_room(person_id)

    def direct_rooms(self) -> dict[str, str]:
        """Person → this account's latest direct room with them, as known here."""
        return self.rooms.direct_rooms()

    def in_room(self, room_id: str) -> bool:
        return self.rooms.in_room(room_id)

    def opens_conversation(self, person_id: str) -> bool:
        return self.rooms.opens_conversation(person_id)

    async def open_direct(self, person_id: str) -> str:
        await self._ready()
        return await self.rooms.open_direct(person_id)

    async def room_members(self, conversation_id: str) -> Sequence[Member]:
        await self._ready()
        return await self.rooms.members(conversation_id)

    def erasure_steps(self) -> list[ErasureStep]:
        return [
            PendingErasure(self.inbound),
            DirectRoomErasure(self.connection, self.rooms),
            KeyStoreErasure(self.connection),
        ]

    # -- starting and stopping -----------------------------------------------------------------

    async def start(self) -> None:
        """Log in (or restore the session) and do the first sync; retry while unreachable."""
        backoff = 0.5
        connection = self.connection
        # Not once stopped: the client's HTTP session may be closed already.
        while not connection.started and not connection.stopping.is_set():
            try:
                await self._start_once()
            except NETWORK_ERRORS as error:
                logger.warning(
                    "Serveur Matrix injoignable (%s) ; nouvel essai dans %.1f s",
                    type(error).__name__,
                    backoff,
                )
                if await connection.sleep_or_stop(backoff):
                    return
                backoff = min(backoff * 2, self.max_backoff)

    async def _start_once(self) -> None:
        connection = self.connection
        async with self._start_lock:
            if connection.started:
                return
            if not connection.has_client:
                self.login.new_client()
            self._login_ms = self._login_ms or int(time.time() * 1000)
            try:
                await self.healing.log_in()
            except DeviceLost as lost:  # one-time keys refused: this store is not the server's
                await self.healing.leave(lost.reason)
                await self.healing.log_in_on_a_new_device()
            client = connection.client
            connection.bot_id = client.user_id
            await self.login.load_profile()
            await self.rooms.load()
            self._pending.append(await self.sync.first(self._login_ms))
            await self.keys.ensure_identity()
            connection.started = True
            logger.info(
                "Matrix : connecté en tant que %s (appareil %s)", self.bot_id, client.device_id
            )

    async def stop(self) -> None:
        """End ``run`` promptly (after the handler in progress, if any); close the session."""
        connection = self.connection
        connection.stopping.set()
        run_task = self._run_task
        if run_task is not None and run_task is not asyncio.current_task():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._run_finished.wait()), STOP_TIMEOUT)
        connection.started = False
        if connection.has_client:
            await self.rooms.flush()
            await connection.close()

    async def _continue_on_new_device(self, reason: str) -> None:
        """While running: leave the device, then start again on a new one (the stored sync
        token makes the first sync resume where the old device stopped)."""
        async with self._start_lock:
            await self.healing.leave(reason)
        await self.start()

    # -- the sync loop -------------------------------------------------------------------------

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
        connection = self.connection
        backoff = 0.5
        while not connection.stopping.is_set():
            batch: Batch | None = None
            try:
                batch = self._pending.pop(0) if self._pending else await self.sync.next()
                if batch is None:
                    break
                self.keys.note_key_counts(batch.response)
                await self.keys.keep()
                await self.keys.after_sync(batch.response)
                if await self._handle_batch(batch, on_message):
                    # Written (and fsynced) in a thread: with several accounts syncing during a
                    # broadcast, the loop waited for the disk a few times a second.
                    await asyncio.to_thread(self.sync.save_token, batch.response.next_batch)
                backoff = 0.5
            except MatrixAuthError:
                raise
            except DeviceLost as lost:
                # Not handled yet: the batch is handed over again on the new device.
                if batch is not None:
                    self._pending.insert(0, batch)
                await self._continue_on_new_device(lost.reason)
            except _HandlingFailed as error:
                logger.info("Matrix : %s ; le lot est remis en file", error)
                if await connection.sleep_or_stop(backoff):
                    break
                backoff = min(backoff * 2, self.max_backoff)
            except LocalProtocolError as error:
                # nio forgets the access token after a "soft logout" answer.
                await connection.auth_error(f"logged out by the homeserver: {error}")
            except Exception as error:
                network = isinstance(error, NETWORK_ERRORS)
                logger.log(
                    logging.WARNING if network else logging.ERROR,
                    "Synchronisation Matrix impossible / Matrix sync failed (%s: %s); "
                    "nouvel essai dans %.1f s",
                    type(error).__name__,
                    error,
                    backoff,
                    exc_info=not network,
                )
                if await connection.sleep_or_stop(backoff):
                    break
                backoff = min(backoff * 2, self.max_backoff)

    async def _handle_batch(self, batch: Batch, on_message: MessageHandler) -> bool:
        """Handle one sync response; False if stopped midway (its token is then not saved)."""
        response = batch.response
        stopping = self.connection.stopping
        client = self.connection.client
        try:
            await self.gaps.fill(batch)
        except NETWORK_ERRORS as error:
            self._pending.insert(0, batch)
            raise _HandlingFailed(f"timeline gap not fetched ({type(error).__name__})") from None
        self.rooms.update(response)
        for room_id, info in response.rooms.invite.items():
            try:
                await self.invitations.handle(room_id, info.invite_state)
            except NETWORK_ERRORS as error:
                # The invite stays pending on the server; it comes back after a restart.
                logger.warning("Matrix : invitation dans %s non traitée : %s", room_id, error)
        crowded = await self.invitations.leave_crowded_rooms(response.rooms.join)
        if batch.replay_timeline or batch.replay_after_ms is not None:
            for room_id, info in response.rooms.join.items():
                room = client.rooms.get(room_id)
                if room is None or room_id in crowded:
                    continue
                events = [*batch.gaps.get(room_id, []), *info.timeline.events]
                if not batch.replay_timeline:
                    events = [e for e in events if _after(e, batch.replay_after_ms or 0)]
                for incoming in self.inbound.room_incoming(
                    room, events, newly_joined=room_id not in batch.joined_before
                ):
                    if stopping.is_set():
                        return False
                    await self._hand_over(incoming, on_message, batch)
        # Messages that arrived before their room key: the key may have come with this sync.
        for event_id, ready in self.inbound.held_incoming():
            if stopping.is_set():
                return False
            if ready is not None:
                await self._hand_over(ready, on_message, batch)
            self.inbound.done_with(event_id)
        return True

    async def _hand_over(
        self, incoming: Incoming, on_message: MessageHandler, batch: Batch
    ) -> None:
        try:
            await on_message(incoming)
        except Exception as error:
            # Not handled: neither the sync token nor the position moves past it; the batch is
            # handed over again (events already handled are skipped; a held event stays held
            # until it is handled).
            self._pending.insert(0, batch)
            raise _HandlingFailed(
                f"event {incoming.event_id} not handled ({type(error).__name__})"
            ) from None
        self.inbound.remember(incoming.event_id)

    # -- sending -------------------------------------------------------------------------------

    async def _ready(self) -> None:
        """Start lazily for callers that send before ``run`` (one attempt, no waiting)."""
        if self.connection.started:
            return
        try:
            await self._start_once()
        except NETWORK_ERRORS as error:
            raise unreachable(error) from error

    async def send(self, message: Outgoing) -> SendResult:
        await self._ready()
        if message.person_id is not None:
            room_id = await self.open_direct(message.person_id)
        else:
            assert message.conversation_id is not None
            room_id = await self.rooms.resolve(message.conversation_id)
        return await self.outbound.send(room_id, message)
