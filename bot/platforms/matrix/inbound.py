"""Inbound events: invitations, and timeline events translated into :class:`Incoming`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from nio import (
    EncryptionError,
    ErrorResponse,
    Event,
    InviteMemberEvent,
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
    errcode_of,
    invite_allowed,
    is_edit,
    mentions_user,
    normalise_reaction,
    relates_to,
    strip_leading_mention,
    strip_reply_fallback,
)
from bot.platforms.matrix.connection import _NETWORK_ERRORS
from bot.platforms.matrix.pending import Held
from bot.platforms.matrix.rooms import DirectRooms

logger = logging.getLogger(__name__)

_SEEN_EVENTS_KEPT = 4096
# A join refused with M_LIMIT_EXCEEDED is tried again after the delay the server gives.
JOIN_ATTEMPTS = 5
MAX_JOIN_WAIT = 120.0


class InboundEvents(DirectRooms):
    """What the sync brings: invitations to join, messages and reactions to hand over."""

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
        if self.direct_only and not invite.content.get("is_direct"):
            # A sender account of a pool: the main account is the one brought into rooms.
            logger.info("Matrix : le compte d'envoi décline le salon %s", room_id)
            await self._check(await client.room_leave(room_id), "room_leave")
            return
        if not invite_allowed(invite.sender, client.user_id, self.allowed_servers):
            logger.info("Matrix : invitation dans %s de %s déclinée", room_id, invite.sender)
            await self._check(await client.room_leave(room_id), "room_leave")
            return
        policy = self.invite_policy
        if policy is not None and not await policy.inviter_known(invite.sender):
            # Only agents, ambassadors and admins bring the bot into a room.
            logger.info(
                "Matrix : invitation dans %s de l'inconnu %s déclinée", room_id, invite.sender
            )
            await self._check(await client.room_leave(room_id), "room_leave")
            return
        logger.info("Matrix : entrée dans %s sur invitation de %s", room_id, invite.sender)
        joined = await client.join(room_id)
        if isinstance(joined, ErrorResponse):
            if errcode_of(joined) == "M_LIMIT_EXCEEDED":
                wait = (joined.retry_after_ms or 1000) / 1000
                self._in_background(self._join_later(room_id, invite, wait))
            else:
                logger.warning("Matrix : impossible d'entrer dans %s : %s", room_id, joined)
            return
        await self._joined(room_id, invite)

    async def _join_later(self, room_id: str, invite: InviteMemberEvent, wait: float) -> None:
        """Join again after the delay the homeserver asked for (a few times at most)."""
        for _ in range(JOIN_ATTEMPTS):
            if await self._wait_or_stop(min(max(wait, 0.1), MAX_JOIN_WAIT)):
                return
            joined = await self.client.join(room_id)
            if not isinstance(joined, ErrorResponse):
                await self._joined(room_id, invite)
                return
            if errcode_of(joined) != "M_LIMIT_EXCEEDED":
                logger.warning("Matrix : impossible d'entrer dans %s : %s", room_id, joined)
                return
            wait = (joined.retry_after_ms or 1000) / 1000
        logger.warning("Matrix : entrée dans %s abandonnée (limite de débit)", room_id)

    async def _joined(self, room_id: str, invite: InviteMemberEvent) -> None:
        client = self.client
        policy = self.invite_policy
        if policy is not None:
            members = await client.joined_members(room_id)
            count = len(getattr(members, "members", []) or [])
            if count > policy.max_room_members:
                logger.info(
                    "Matrix : départ de %s : %d membres (%d au plus)",
                    room_id,
                    count,
                    policy.max_room_members,
                )
                await self._check(await client.room_leave(room_id), "room_leave")
                return
        if invite.content.get("is_direct") and room_id not in self._direct_rooms.get(
            invite.sender, []
        ):
            self._record_direct(invite.sender, room_id)

    async def _leave_crowded_rooms(self, joined: Iterable[str]) -> set[str]:
        """Leave the group rooms that grew past ``max_room_members`` since the bot joined them
        (checked on every sync that brings them news); returns the rooms left."""
        policy = self.invite_policy
        left: set[str] = set()
        if policy is None:
            return left
        for room_id in joined:
            room = self.client.rooms.get(room_id)
            if room is None or room.joined_count <= policy.max_room_members:
                continue
            logger.info(
                "Matrix : départ de %s : il compte maintenant %d membres (%d au plus)",
                room_id,
                room.joined_count,
                policy.max_room_members,
            )
            left.add(room_id)
            try:
                await self._check(await self.client.room_leave(room_id), "room_leave")
            except _NETWORK_ERRORS as error:
                logger.warning(
                    "Matrix : départ de %s impossible pour l'instant : %s", room_id, error
                )
        return left

    async def _wait_or_stop(self, seconds: float) -> bool:
        """Sleep unless stopped meanwhile; True when stopped."""
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            return False
        return True

    def _in_background(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

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

    def _remember(self, event_id: str) -> None:
        self._seen_events[event_id] = None
        while len(self._seen_events) > _SEEN_EVENTS_KEPT:
            self._seen_events.popitem(last=False)

    def _on_membership(self, room_id: str, event: RoomMemberEvent) -> None:
        if event.membership in ("leave", "ban"):
            for person, cached in list(self._direct_cache.items()):
                if cached == room_id and event.state_key in (person, self.client.user_id):
                    del self._direct_cache[person]

    def _common(self, room: MatrixRoom, event: Event) -> dict[str, Any]:
        return {
            "platform": PLATFORM,
            "event_id": event.event_id,
            "sender_id": event.sender,
            "conversation_id": room.room_id,
            "is_direct": self._is_direct(room, event.sender),
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
                body = strip_leading_mention(body, self.client.user_id, [self.display_name or ""])
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

    def _held_incoming(self) -> list[tuple[str, Incoming | None]]:
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
                self._remember(held.event_id)
                result.append((held.event_id, incoming))
            elif (
                held.event_id in given_up
                or not self.client.olm  # no E2EE here: the key is of no use
                or now - held.held_at >= self.key_wait
            ):
                logger.info("Matrix : pas de clé pour %s ; demande de renvoi", held.event_id)
                self._remember(held.event_id)
                common = self._common(room, event)
                result.append((held.event_id, Incoming(text="", undecryptable=True, **common)))
        # The given up events leave ``_given_up`` once handed over (platform._handle_batch).
        return result

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
                logger.info("Matrix : demande de clé de salon non envoyée : %s", error)

        self._in_background(request())
