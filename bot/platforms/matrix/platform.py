"""Matrix (Tchap) platform on matrix-nio, with end-to-end encryption when available.

The adapter only translates: nio sync responses become :class:`bot.core.Incoming`,
:class:`bot.core.Outgoing` becomes an ``m.notice`` (or an ``m.image`` uploaded to the media
repository, encrypted as an attachment in encrypted rooms); nio error *values* become one
:class:`bot.core.DeliveryError` here. Retries belong to the caller's outbox, so nio is told
never to retry on its own.

Files in ``store_path``: ``session.json`` (user id, device id, access token; mode 0600) so the
device never changes, ``sync_token`` (written only after every handler of a batch returned) and
nio's E2EE store.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import secrets
import time
from typing import Any

from nio import (
    ErrorResponse,
    LocalProtocolError,
    RoomMemberEvent,
    RoomSendError,
    SyncResponse,
    UploadError,
)

from bot.core import (
    DeliveryError,
    ErasureStep,
    Incoming,
    MessageHandler,
    Outgoing,
    SendResult,
)
from bot.platforms.matrix.codec import (
    PLATFORM,
    MatrixAuthError,
    build_content,
    build_image_content,
    errcode_of,
    http_status_of,
    is_auth_error,
    transaction_id,
    unreachable,
)
from bot.platforms.matrix.connection import _NETWORK_ERRORS, _Batch
from bot.platforms.matrix.device import DeviceCare, DeviceLost
from bot.platforms.matrix.erasure import DirectRoomErasure, KeyStoreErasure, PendingErasure
from bot.platforms.matrix.gaps import TimelineGaps
from bot.platforms.matrix.session import UNKNOWN_TOKEN

logger = logging.getLogger(__name__)

# How long stop() waits for the handler in progress before closing the connection anyway.
STOP_TIMEOUT = 10.0
# How long one picture upload may take.
UPLOAD_TIMEOUT = 60.0


def _after(event: Any, moment_ms: int) -> bool:
    """Membership events always count; other events only when sent at or after the moment."""
    if isinstance(event, RoomMemberEvent):
        return True
    return int(getattr(event, "server_timestamp", 0) or 0) >= moment_ms


class _SyncFailed(Exception):
    """The homeserver answered a sync with an error (other than an authentication one)."""


class _HandlingFailed(Exception):
    """The bot could not handle an event (its database is away): the batch is kept, in order,
    and handed over again; the sync token does not move past it."""


class MatrixPlatform(DeviceCare, TimelineGaps):
    """:class:`bot.core.Platform` for Matrix homeservers (Tchap)."""

    async def start(self) -> None:
        """Log in (or restore the session) and do the first sync; retry while unreachable."""
        backoff = 0.5
        # Not once stopped: the client's HTTP session may be closed already.
        while not self._started and not self._stopping.is_set():
            try:
                await self._start_once()
            except _NETWORK_ERRORS as error:
                logger.warning(
                    "Serveur Matrix injoignable (%s) ; nouvel essai dans %.1f s",
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
            self._login_ms = self._login_ms or int(time.time() * 1000)
            try:
                await self._login_on_a_usable_device()
            except DeviceLost as lost:  # one-time keys refused: this store is not the server's
                await self._leave_device(lost.reason)
                await self._on_a_new_device()
            client = self.client
            self.bot_id = client.user_id
            await self._load_profile()
            await self._load_direct_rooms()
            await self._first_sync()
            await self._ensure_identity()
            self._started = True
            logger.info(
                "Matrix : connecté en tant que %s (appareil %s)", self.bot_id, client.device_id
            )

    async def _load_profile(self) -> None:
        client = self.client
        response = await client.get_displayname(client.user_id)
        current = getattr(response, "displayname", None)
        if self.display_name and current != self.display_name:
            await client.set_displayname(self.display_name)
        elif not self.display_name and current:
            self.display_name = current

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
            logger.warning(
                "Matrix : jeton de synchronisation enregistré refusé (%s) ; reprise à partir de "
                "maintenant",
                response,
            )
            self.sync_token_path.unlink(missing_ok=True)
            token = None
            response = await self.client.sync(timeout=0, full_state=True, sync_filter=nonce_filter)
        if not isinstance(response, SyncResponse):
            await self._sync_failed(response)
            raise OSError(f"first sync failed: {response}")
        # A fresh store starts from now: old commands in the timeline are not replayed, but a
        # message sent after the bot logged in is (it is for this bot).
        fresh = token is None
        self._pending.append(
            _Batch(
                response,
                replay_timeline=not fresh,
                replay_after_ms=self._login_ms if fresh else None,
                since=token,
            )
        )

    def erasure_steps(self) -> list[ErasureStep]:
        return [PendingErasure(self), DirectRoomErasure(self), KeyStoreErasure(self)]

    async def stop(self) -> None:
        """End ``run`` promptly (after the handler in progress, if any); close the session."""
        self._stopping.set()
        run_task = self._run_task
        if run_task is not None and run_task is not asyncio.current_task():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._run_finished.wait()), STOP_TIMEOUT)
        self._started = False
        if self._client is not None:
            await self.flush_direct()
            await self._client.close()

    async def _sleep_or_stop(self, seconds: float) -> bool:
        """Sleep unless stopped meanwhile; True when stopped."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        return self._stopping.is_set()

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
            batch: _Batch | None = None
            try:
                batch = self._pending.pop(0) if self._pending else await self._next_batch()
                if batch is None:
                    break
                self._note_key_counts(batch.response)
                await self._keep_keys()
                await self._after_sync(batch.response)
                if await self._handle_batch(batch, on_message):
                    # Written (and fsynced) in a thread: with several accounts syncing during a
                    # broadcast, the loop waited for the disk a few times a second.
                    await asyncio.to_thread(self._save_sync_token, batch.response.next_batch)
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
                if await self._sleep_or_stop(backoff):
                    break
                backoff = min(backoff * 2, self.max_backoff)
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
        if await self._pace_sync():
            return None
        joined_before = set(self.client.rooms)
        since = self.client.next_batch
        response = await self._sync_or_stop()
        if response is None:
            return None
        if not isinstance(response, SyncResponse):
            await self._sync_failed(response)
            raise _SyncFailed(str(response))
        return _Batch(response, joined_before=joined_before, since=since or None)

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
            if self._password and errcode_of(response) == UNKNOWN_TOKEN:
                # Logged out for good (the device deleted on the server): a new device.
                raise DeviceLost("logged_out")
            await self._auth_error(f"sync refused: {errcode_of(response)}")

    async def _handle_batch(self, batch: _Batch, on_message: MessageHandler) -> bool:
        """Handle one sync response; False if stopped midway (its token is then not saved)."""
        response = batch.response
        try:
            await self._fill_gaps(batch)
        except _NETWORK_ERRORS as error:
            self._pending.insert(0, batch)
            raise _HandlingFailed(f"timeline gap not fetched ({type(error).__name__})") from None
        self._update_direct_rooms(response)
        for room_id, info in response.rooms.invite.items():
            try:
                await self._handle_invite(room_id, info.invite_state)
            except _NETWORK_ERRORS as error:
                # The invite stays pending on the server; it comes back after a restart.
                logger.warning("Matrix : invitation dans %s non traitée : %s", room_id, error)
        crowded = await self._leave_crowded_rooms(response.rooms.join)
        if batch.replay_timeline or batch.replay_after_ms is not None:
            for room_id, info in response.rooms.join.items():
                room = self.client.rooms.get(room_id)
                if room is None or room_id in crowded:
                    continue
                events = [*batch.gaps.get(room_id, []), *info.timeline.events]
                if not batch.replay_timeline:
                    events = [e for e in events if _after(e, batch.replay_after_ms or 0)]
                for incoming in self._room_incoming(
                    room, events, newly_joined=room_id not in batch.joined_before
                ):
                    if self._stopping.is_set():
                        return False
                    await self._hand_over(incoming, on_message, batch)
        # Messages that arrived before their room key: the key may have come with this sync.
        for event_id, ready in self._held_incoming():
            if self._stopping.is_set():
                return False
            if ready is not None:
                await self._hand_over(ready, on_message, batch)
            self._pending_events.remove([event_id])
            self._given_up = [held for held in self._given_up if held.event_id != event_id]
        return True

    async def _hand_over(
        self, incoming: Incoming, on_message: MessageHandler, batch: _Batch
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
        self._remember(incoming.event_id)

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
            if message.image is not None:
                content = await self._upload_image(room_id, message)
            else:
                content = build_content(message)
            # A retry after a crash may upload the picture again, but the event itself is
            # de-duplicated by its transaction id: one m.image in the room.
            response = await client.room_send(
                room_id,
                "m.room.message",
                content,
                tx_id=transaction_id(message.key),
                ignore_unverified_devices=True,
            )
        except _NETWORK_ERRORS as error:
            self._forget_broken_share(room_id)
            raise unreachable(error) from error
        except LocalProtocolError as error:
            raise DeliveryError(PLATFORM, "local_error", str(error)) from error
        if isinstance(response, RoomSendError):
            raise await self._delivery_error(response)
        return SendResult(remote_id=response.event_id, conversation_id=room_id)

    async def _upload_image(self, room_id: str, message: Outgoing) -> dict[str, Any]:
        """Upload the picture to the media repository (encrypted in an encrypted room)."""
        image = message.image
        assert image is not None
        room = self.client.rooms.get(room_id)
        encrypt = bool(self.client.olm and room is not None and room.encrypted)
        # nio uploads without a timeout: bound it here (a timeout is an unreachable server).
        response, keys = await asyncio.wait_for(
            self.client.upload(
                io.BytesIO(image.data),
                content_type=image.mimetype,
                filename=image.filename,
                encrypt=encrypt,
                filesize=image.size,
            ),
            UPLOAD_TIMEOUT,
        )
        if isinstance(response, UploadError):
            raise await self._delivery_error(response)
        return build_image_content(message, response.content_uri, keys if encrypt else None)
