"""Rooms: direct conversations (found, created, recorded in ``m.direct``), aliases, members."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from nio import (
    AsyncClient,
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
from bot.platforms.matrix.connection import NETWORK_ERRORS, MatrixConnection
from bot.platforms.matrix.direct_data import read_direct, write_direct

logger = logging.getLogger(__name__)

# How long a stop waits for the direct rooms still to be recorded in m.direct.
DIRECT_FLUSH_TIMEOUT = 10.0


class DirectRooms:
    """Finding and opening the rooms the bot talks in; what this account knows of its direct
    rooms (``m.direct``, the rooms it created, the rooms whose state it has read)."""

    def __init__(self, connection: MatrixConnection) -> None:
        self.connection = connection
        self._direct_rooms: dict[str, list[str]] = {}
        self._direct_cache: dict[str, str] = {}
        # Person → a direct room the bot created but never recorded (None: not looked yet).
        self._unrecorded_direct: dict[str, str] | None = None
        self._unrecorded_lock = asyncio.Lock()
        self._direct_locks: dict[str, asyncio.Lock] = {}
        # Rooms whose state was read from the server before a first send (see ensure_ready).
        self._ready_rooms: set[str] = set()
        # Direct rooms this process created, not sent to yet: room id → the invited person.
        self._created_rooms: dict[str, str] = {}
        # m.direct entries not yet written to the homeserver (see record_direct).
        self._direct_unsaved: dict[str, list[str]] = {}
        self._direct_writer: asyncio.Task[None] | None = None
        # Rooms left and forgotten by erasure: every copy of m.direct read or written after
        # that (a sync's, the background writer's) is stripped of them, so a copy read before
        # the erasure cannot bring the person back (see forget_person).
        self._forgotten: set[str] = set()
        # One read-modify-write of the server's m.direct at a time (the writer's, erasure's).
        self._direct_lock = asyncio.Lock()

    @property
    def client(self) -> AsyncClient:
        return self.connection.client

    async def load(self) -> None:
        """Read the account's ``m.direct`` (at start)."""
        response = await self.client.list_direct_rooms()
        rooms = getattr(response, "rooms", None)
        if isinstance(rooms, dict):
            self._direct_rooms = self._without_forgotten(
                {
                    user: [room for room in room_ids if isinstance(room, str)]
                    for user, room_ids in rooms.items()
                    if isinstance(room_ids, list)
                }
            )

    def update(self, response: SyncResponse) -> None:
        """A sync's ``m.direct`` account data replaces what was known."""
        for event in response.account_data_events:
            if isinstance(event, UnknownAccountDataEvent) and event.type == "m.direct":
                self._direct_rooms = self._without_forgotten(
                    {
                        user: list(rooms)
                        for user, rooms in event.content.items()
                        if isinstance(rooms, list)
                    }
                )
                # The server's copy may predate rooms recorded since: they stay known here.
                _merge(self._direct_rooms, self._direct_unsaved)

    async def resolve(self, conversation_id: str) -> str:
        if not conversation_id.startswith("#"):
            return conversation_id
        try:
            response = await self.client.room_resolve_alias(conversation_id)
        except NETWORK_ERRORS as error:
            raise unreachable(error) from error
        if isinstance(response, RoomResolveAliasError):
            raise await self.connection.delivery_error(response)
        room_id: str = response.room_id
        return room_id

    async def ensure_ready(self, room_id: str) -> None:
        """Before the first send to a room: its encryption and members as the server has them.

        nio encrypts only for rooms it knows, and shares the room key only with the members it
        knows. The sync loop builds a new room concurrently with sends (it awaits between
        timeline events), so a send right after creating a direct room could see the room
        half-built: encrypted for nobody but ourselves (the recipient could never read the
        message) or not marked encrypted yet (sent in clear). So, once per room and process,
        the room's state is read from the homeserver — or, for a direct room this process just
        created, taken from what it created (encrypted; the bot joined, the person invited),
        which saves a request per new conversation — and the members' device keys are queried
        before nio shares the room key.
        """
        client = self.client
        if not client.olm or room_id in self._ready_rooms:
            return
        invited = self._created_rooms.pop(room_id, None)
        if invited is not None:
            room = self._room_as_created(room_id, invited)
        else:
            room = await self._room_from_server(room_id)
        # nio would otherwise list the joined members again before its first send (and
        # forget the invited person, who could then not read the message).
        room.members_synced = True
        if room.encrypted and client.olm is not None:
            client.encrypted_rooms.add(room_id)
            client.olm.update_tracked_users(room)
            if client.should_query_keys:
                keys = await client.keys_query()
                if isinstance(keys, ErrorResponse):
                    # Without the members' devices nobody could read the message: retry later.
                    raise DeliveryError(PLATFORM, "keys_query", keys.message or str(keys))
        self._ready_rooms.add(room_id)

    def forget_broken_share(self, room_id: str) -> None:
        """nio marks a room key as "being shared" before claiming the members' one-time keys
        and never unmarks it if that request fails: every later send to the room would wait
        for that share forever. Unmark it (and wake any waiter) so the retry shares again."""
        sharing = self.client.sharing_session.pop(room_id, None)
        if sharing is not None:
            sharing.set()

    def _local_room(self, room_id: str) -> MatrixRoom:
        """The room as nio knows it (a sync may have added it meanwhile), or a new one."""
        client = self.client
        room = client.rooms.get(room_id)
        if room is None:
            room = client.rooms[room_id] = MatrixRoom(room_id, client.user_id)
        return room

    def _room_as_created(self, room_id: str, invited: str) -> MatrixRoom:
        room = self._local_room(room_id)
        room.encrypted = True  # only encrypted rooms are remembered as created
        room.add_member(self.client.user_id, None, None)
        room.add_member(invited, None, None, invited=True)
        return room

    async def _room_from_server(self, room_id: str) -> MatrixRoom:
        response = await self.client.room_get_state(room_id)
        if isinstance(response, RoomGetStateError):
            raise await self.connection.delivery_error(response)
        # Looked up after the request: a sync may have added the room meanwhile.
        room = self._local_room(room_id)
        for raw in response.events:
            event = Event.parse_event(raw)
            if isinstance(event, RoomMemberEvent):
                room.handle_membership(event)
            elif raw.get("type") == "m.room.encryption":
                room.encrypted = True
            elif isinstance(event, Event):
                room.handle_event(event)
        return room

    def has_direct_room(self, person_id: str) -> bool:
        """Whether this account has a direct room with ``person_id`` (known here)."""
        return bool(self._direct_cache.get(person_id) or self._direct_rooms.get(person_id))

    def direct_rooms(self) -> dict[str, str]:
        """Person → this account's latest direct room with them, as known here."""
        found = {person: rooms[-1] for person, rooms in self._direct_rooms.items() if rooms}
        found.update(self._direct_cache)
        return found

    def in_room(self, room_id: str) -> bool:
        return self.connection.has_client and room_id in self.client.rooms

    def is_direct(self, room: MatrixRoom, sender: str) -> bool:
        """Whether ``room`` is a direct conversation with ``sender``."""
        if room.room_id in self._direct_rooms.get(sender, []):
            return True
        joined = {user for user, member in room.users.items() if not member.invited}
        return joined == {self.client.user_id, sender}

    def left(self, room_id: str, user_id: str) -> None:
        """``user_id`` left (or was banned from) ``room_id``: not a direct room to reuse."""
        for person, cached in list(self._direct_cache.items()):
            if cached == room_id and user_id in (person, self.client.user_id):
                del self._direct_cache[person]

    def is_recorded(self, person_id: str, room_id: str) -> bool:
        """Whether ``room_id`` is known as a direct room with ``person_id`` (``m.direct``)."""
        return room_id in self._direct_rooms.get(person_id, [])

    def forget_ready_rooms(self) -> None:
        """A new device: each room's state is read again before its first send."""
        self._ready_rooms.clear()

    def forget_person(self, person_id: str) -> set[str]:
        """Drop every direct room with ``person_id`` known here (erasure); returns them.

        The rooms stay refused for the rest of the process: a sync or the background writer
        may hold a copy of ``m.direct`` read before this call, and would otherwise put them
        back (here, and on the homeserver). A later message to the person opens a new room.
        """
        rooms = set(self._direct_rooms.pop(person_id, []))
        rooms.update(self._direct_unsaved.pop(person_id, []))
        cached = self._direct_cache.pop(person_id, None)
        if cached:
            rooms.add(cached)
        for room_id, invited in list(self._created_rooms.items()):
            if invited == person_id:
                rooms.add(room_id)
                del self._created_rooms[room_id]
        self._forgotten.update(rooms)
        self._ready_rooms.difference_update(rooms)
        return rooms

    async def drop_person_entry(self, person_id: str) -> None:
        """Remove ``person_id``'s entry from the server's ``m.direct`` (erasure), in turn with
        the background writer so that neither writes back a copy naming them."""
        async with self._direct_lock:
            direct = await read_direct(self.client)
            if person_id not in direct:
                return
            del direct[person_id]
            status = await write_direct(self.client, self._without_forgotten(direct))
        if status != 200:
            raise RuntimeError(f"m.direct not rewritten (HTTP {status})")

    def _without_forgotten(self, direct: dict[str, list[str]]) -> dict[str, list[str]]:
        """``direct`` without the rooms erasure forgot (and without the people left roomless)."""
        if not self._forgotten:
            return direct
        kept = {
            person: [room for room in rooms if room not in self._forgotten]
            for person, rooms in direct.items()
        }
        return {person: rooms for person, rooms in kept.items() if rooms}

    def opens_conversation(self, person_id: str) -> bool:
        """True when a message to ``person_id`` would first create a direct room: Synapse
        counts a room creation against the same limit as messages (``rc_message``), so the
        outbox paces it like one. A room listed in ``m.direct`` is reused (no creation)."""
        return person_id not in self._direct_cache and not self._direct_rooms.get(person_id)

    async def open_direct(self, person_id: str) -> str:
        """The direct room with ``person_id``: reused from ``m.direct`` or created (encrypted)."""
        if person_id in self._direct_cache:
            return self._direct_cache[person_id]
        lock = self._direct_locks.setdefault(person_id, asyncio.Lock())
        async with lock:
            if person_id in self._direct_cache:
                return self._direct_cache[person_id]
            try:
                room_id = await self._find_direct(person_id) or await self._create_direct(person_id)
            except NETWORK_ERRORS as error:
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
            logger.info(
                "Matrix : salon direct %s non enregistré retrouvé avec %s", room_id, person_id
            )
            self.record_direct(person_id, room_id)
        return room_id

    async def _find_unrecorded(self) -> dict[str, str]:
        client = self.client
        joined = await client.joined_rooms()
        if isinstance(joined, ErrorResponse):
            raise await self.connection.delivery_error(joined)
        recorded = {room for rooms in self._direct_rooms.values() for room in rooms}
        found: dict[str, str] = {}
        for room_id in joined.rooms:
            if room_id in recorded:
                continue
            state = await client.room_get_state(room_id)
            if isinstance(state, RoomGetStateError):
                continue  # left meanwhile, or not readable: not one of ours
            person_id = unrecorded_direct_invitee(
                client.user_id, state.events, encrypted=self.connection.e2ee
            )
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
            if self.connection.e2ee
            else []
        )
        response = await self.client.room_create(
            is_direct=True,
            preset=RoomPreset.trusted_private_chat,
            invite=[person_id],
            initial_state=initial_state,
        )
        if isinstance(response, RoomCreateError):
            raise await self.connection.delivery_error(response)
        room_id: str = response.room_id
        logger.info("Matrix : salon direct %s créé avec %s", room_id, person_id)
        if initial_state:
            self._created_rooms[room_id] = person_id
        self.record_direct(person_id, room_id)
        return room_id

    def record_direct(self, person_id: str, room_id: str) -> None:
        """Add the room to the bot's ``m.direct`` account data, in the background.

        Known here at once; written off the send path by one writer that reads, merges and
        writes every room recorded meanwhile in one go (a broadcast creates one room per
        recipient: the send no longer waits for two more requests). :meth:`flush` (on
        stop) waits for what is left. A room erasure forgot is never recorded again.
        """
        if room_id in self._forgotten:
            return
        _merge(self._direct_rooms, {person_id: [room_id]})
        _merge(self._direct_unsaved, {person_id: [room_id]})
        if self._direct_writer is None or self._direct_writer.done():
            self._direct_writer = asyncio.ensure_future(self._write_direct())

    async def flush(self) -> None:
        """Wait (a bounded time) until the recorded direct rooms are written."""
        writer = self._direct_writer
        if writer is not None and not writer.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(writer), DIRECT_FLUSH_TIMEOUT)

    async def _write_direct(self) -> None:
        while self._direct_unsaved:
            batch = {person: list(rooms) for person, rooms in self._direct_unsaved.items()}
            try:
                await self._put_direct(batch)
            except NETWORK_ERRORS as error:
                # The rooms exist and are cached; a restart finds them again
                # (_unrecorded_direct_room).
                logger.warning(
                    "Matrix : impossible d'enregistrer les salons directs dans m.direct : %s", error
                )
            except Exception:
                logger.exception(
                    "Matrix : impossible d'enregistrer les salons directs dans m.direct"
                )
            for person, rooms in batch.items():
                left = [r for r in self._direct_unsaved.get(person, []) if r not in rooms]
                if left:
                    self._direct_unsaved[person] = left
                else:
                    self._direct_unsaved.pop(person, None)

    async def _put_direct(self, batch: dict[str, list[str]]) -> None:
        """Read the bot's ``m.direct``, add ``batch`` to it, write it back."""
        async with self._direct_lock:
            direct = await read_direct(self.client)
            _merge(direct, batch)
            status = await write_direct(self.client, self._without_forgotten(direct))
        if status != 200:
            logger.warning(
                "Matrix : impossible d'enregistrer les salons directs dans m.direct (%s)", status
            )
        # Filtered again: erasure may have forgotten a room while the write was awaited.
        _merge(direct, self._direct_unsaved)
        self._direct_rooms = self._without_forgotten(direct)

    async def members(self, conversation_id: str) -> Sequence[Member]:
        room_id = await self.resolve(conversation_id)
        try:
            response = await self.client.joined_members(room_id)
        except NETWORK_ERRORS as error:
            raise unreachable(error) from error
        if isinstance(response, JoinedMembersError):
            failure = await self.connection.delivery_error(response)
            failure.permanent = True
            raise failure
        return [
            Member(platform_id=member.user_id, display_name=member.display_name or None)
            for member in response.members
            if member.user_id != self.client.user_id
        ]


def _merge(direct: dict[str, list[str]], more: dict[str, list[str]]) -> None:
    """Add ``more``'s rooms to ``direct`` (in place), each room once, in order."""
    for person, rooms in more.items():
        known = direct.setdefault(person, [])
        known.extend(room for room in rooms if room not in known)
