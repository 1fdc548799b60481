"""Rooms: direct conversations (found, created, recorded in ``m.direct``), aliases, members."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence

from nio import (
    ErrorResponse,
    Event,
    JoinedMembersError,
    MatrixRoom,
    RoomCreateError,
    RoomGetStateError,
    RoomMemberEvent,
    RoomPreset,
    RoomResolveAliasError,
    SyncResponse,
    UnknownAccountDataEvent,
)
from nio.api import Api

from bot.core import (
    DeliveryError,
    Member,
)
from bot.platforms.matrix.codec import (
    MEGOLM,
    PLATFORM,
    errcode_of,
    http_status_of,
    unreachable,
    unrecorded_direct_invitee,
)
from bot.platforms.matrix.connection import _NETWORK_ERRORS, MatrixConnection

logger = logging.getLogger(__name__)


class DirectRooms(MatrixConnection):
    """Finding and opening the rooms the bot talks in."""

    async def _load_direct_rooms(self) -> None:
        response = await self.client.list_direct_rooms()
        rooms = getattr(response, "rooms", None)
        if isinstance(rooms, dict):
            self._direct_rooms = {
                user: [room for room in room_ids if isinstance(room, str)]
                for user, room_ids in rooms.items()
                if isinstance(room_ids, list)
            }

    def _update_direct_rooms(self, response: SyncResponse) -> None:
        for event in response.account_data_events:
            if isinstance(event, UnknownAccountDataEvent) and event.type == "m.direct":
                self._direct_rooms = {
                    user: list(rooms)
                    for user, rooms in event.content.items()
                    if isinstance(rooms, list)
                }

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
        return await self._unrecorded_direct_room(person_id)

    async def _unrecorded_direct_room(self, person_id: str) -> str | None:
        """A direct room with ``person_id`` that the bot created but never recorded.

        A process killed while the homeserver created a room (or before it recorded it in
        ``m.direct``) leaves a room where the bot is joined and the person only invited. The
        next message to that person goes there, instead of inviting them to a second room.
        The bot's joined rooms missing from ``m.direct`` are looked at once per process, the
        first time a direct room is needed (the first sync after a restart may not carry them).
        """
        async with self._unrecorded_lock:
            if self._unrecorded_direct is None:
                self._unrecorded_direct = await self._find_unrecorded()
            room_id = self._unrecorded_direct.pop(person_id, None)
        if room_id is not None:
            logger.info("Matrix: found unrecorded direct room %s with %s", room_id, person_id)
            await self._record_direct_quietly(person_id, room_id)
        return room_id

    async def _find_unrecorded(self) -> dict[str, str]:
        client = self.client
        joined = await client.joined_rooms()
        if isinstance(joined, ErrorResponse):
            raise await self._delivery_error(joined)
        recorded = {room for rooms in self._direct_rooms.values() for room in rooms}
        found: dict[str, str] = {}
        for room_id in joined.rooms:
            if room_id in recorded:
                continue
            state = await client.room_get_state(room_id)
            if isinstance(state, RoomGetStateError):
                continue  # left meanwhile, or not readable: not one of ours
            person_id = unrecorded_direct_invitee(client.user_id, state.events, encrypted=self.e2ee)
            if person_id is not None:
                found[person_id] = room_id
        return found

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
        await self._record_direct_quietly(person_id, room_id)
        return room_id

    async def _record_direct_quietly(self, person_id: str, room_id: str) -> None:
        try:
            await self._record_direct(person_id, room_id)
        except _NETWORK_ERRORS as error:
            # The room is cached; a restart finds it again (_unrecorded_direct_room).
            logger.warning("Matrix: could not record %s in m.direct: %s", room_id, error)

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
