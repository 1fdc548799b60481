"""Inbound events: a sync's timeline events translated into :class:`Incoming`."""

from __future__ import annotations

import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from nio import (
    AsyncClient,
    EncryptionError,
    Event,
    LocalProtocolError,
    MatrixRoom,
    MegolmEvent,
    ReactionEvent,
    RoomMemberEvent,
    RoomMessageEmote,
    RoomMessageNotice,
    RoomMessageText,
)

from bot.core import (
    Incoming,
)
from bot.platforms.matrix.codec import (
    PLATFORM,
    invite_allowed,
    is_edit,
    mentions_user,
    normalise_reaction,
    relates_to,
    strip_leading_mention,
    strip_reply_fallback,
)
from bot.platforms.matrix.connection import NETWORK_ERRORS, MatrixConnection
from bot.platforms.matrix.pending import KEY_WAIT, Held, PendingEvents
from bot.platforms.matrix.rooms import DirectRooms

logger = logging.getLogger(__name__)

_SEEN_EVENTS_KEPT = 4096


class InboundTranslator:
    """Turns a sync's timeline events into :class:`Incoming` messages, once each: events
    already handed over are skipped, and an encrypted event whose room key has not come yet
    is held (on disk) until it decrypts or waited too long."""

    def __init__(
        self,
        connection: MatrixConnection,
        rooms: DirectRooms,
        *,
        allowed_servers: Sequence[str],
        key_wait: float = KEY_WAIT,
    ) -> None:
        self.connection = connection
        self.rooms = rooms
        self.allowed_servers = tuple(allowed_servers)
        self.key_wait = key_wait
        self._seen_events: OrderedDict[str, None] = OrderedDict()
        self._requested_sessions: set[str] = set()
        # Messages waiting for their room key (see bot.platforms.matrix.pending).
        self._pending_events = PendingEvents(connection.store_path / "pending_events.json")
        self._given_up: list[Held] = []

    @property
    def client(self) -> AsyncClient:
        return self.connection.client

    def room_incoming(
        self, room: MatrixRoom, events: Sequence[Any], *, newly_joined: bool
    ) -> list[Incoming]:
        own_id = self.client.user_id
        result: list[Incoming] = []
        for event in events:
            if isinstance(event, RoomMemberEvent):
                if event.membership in ("leave", "ban"):
                    self.rooms.left(room.room_id, event.state_key)
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
            if not invite_allowed(sender, own_id, self.allowed_servers):
                # The server allow-list applies to every sender, not only to invitations.
                continue
            if event_id in self._seen_events:
                continue
            incoming = self._to_incoming(room, event)
            if incoming is not None:
                # Remembered once handled (platform._handle_batch), not before: an event whose
                # handling failed is handed over again.
                result.append(incoming)
        return result

    def remember(self, event_id: str) -> None:
        self._seen_events[event_id] = None
        while len(self._seen_events) > _SEEN_EVENTS_KEPT:
            self._seen_events.popitem(last=False)

    def _common(self, room: MatrixRoom, event: Event) -> dict[str, Any]:
        return {
            "platform": PLATFORM,
            "event_id": event.event_id,
            "sender_id": event.sender,
            "conversation_id": room.room_id,
            "is_direct": self.rooms.is_direct(room, event.sender),
            "timestamp": datetime.fromtimestamp(event.server_timestamp / 1000, tz=UTC),
            "sender_name": getattr(room.users.get(event.sender), "display_name", None),
        }

    def _to_incoming(self, room: MatrixRoom, event: Event) -> Incoming | None:
        content: Mapping[str, Any] = event.source.get("content", {}) or {}
        common = self._common(room, event)
        if isinstance(event, (RoomMessageText, RoomMessageNotice, RoomMessageEmote)):
            if is_edit(content):
                return None
            body = strip_reply_fallback(event.body or "", content)
            mentioned = mentions_user(content, self.client.user_id)
            if mentioned:
                body = strip_leading_mention(
                    body, self.client.user_id, [self.connection.display_name or ""]
                )
            return Incoming(
                text=body,
                sender_is_bot=isinstance(event, RoomMessageNotice),
                mentions_bot=mentioned,
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
            # Not yet: kept until its key arrives (see _held_incoming).
            self._request_key(event)
            held = Held(room.room_id, dict(event.source), time.time())
            self._given_up.extend(self._pending_events.add(held))
            return None
        return None

    def held_incoming(self) -> list[tuple[str, Incoming | None]]:
        """Held events that decrypt now, or that waited too long for their key (handed over
        as undecryptable): (event id, what to hand over — None for a room the bot left)."""
        self._pending_events.load()
        now = time.time()
        result: list[tuple[str, Incoming | None]] = []
        given_up = {held.event_id for held in self._given_up}
        for held in [*self._given_up, *self._pending_events.items()]:
            room = self.client.rooms.get(held.room_id)
            event = Event.parse_encrypted_event(held.source)
            if room is None or not isinstance(event, MegolmEvent):
                result.append((held.event_id, None))
                continue
            event.room_id = held.room_id
            decrypted = None
            if held.event_id not in given_up:
                with contextlib.suppress(EncryptionError, LocalProtocolError, AssertionError):
                    decrypted = self.client.decrypt_event(event)
            if decrypted is not None and not isinstance(decrypted, MegolmEvent):
                logger.info("Matrix : %s déchiffré à l'arrivée de sa clé", held.event_id)
                incoming = self._to_incoming(room, decrypted)
                self.remember(held.event_id)
                result.append((held.event_id, incoming))
            elif (
                held.event_id in given_up
                or not self.client.olm  # no E2EE here: the key is of no use
                or now - held.held_at >= self.key_wait
            ):
                logger.info("Matrix : pas de clé pour %s ; demande de renvoi", held.event_id)
                self.remember(held.event_id)
                common = self._common(room, event)
                result.append((held.event_id, Incoming(text="", undecryptable=True, **common)))
        # The given up events are let go once handed over (done_with).
        return result

    def done_with(self, event_id: str) -> None:
        """A held event was handed over (or its room left): no longer held."""
        self._pending_events.remove([event_id])
        self._given_up = [held for held in self._given_up if held.event_id != event_id]

    def forget_key_requests(self) -> None:
        """A new device: room keys are asked for again."""
        self._requested_sessions.clear()

    def forget_person(self, person_id: str, needles: list[str]) -> None:
        """Drop the held events that name ``person_id`` (erasure)."""
        self._pending_events.forget(person_id, needles)
        self._given_up = [held for held in self._given_up if held.source.get("sender") != person_id]

    def _request_key(self, event: MegolmEvent) -> None:
        if event.session_id in self._requested_sessions:
            return
        self._requested_sessions.add(event.session_id)

        async def request() -> None:
            try:
                await self.client.request_room_key(event)
            except (LocalProtocolError, *NETWORK_ERRORS) as error:
                logger.info("Matrix : demande de clé de salon non envoyée : %s", error)

        self.connection.in_background(request())
