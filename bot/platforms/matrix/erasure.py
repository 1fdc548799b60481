"""What erasure reaches on Matrix (bot/erasure.py runs these steps, after the confirmation).

* the events waiting for their room key (``store_path/pending_events.json``): every event whose
  sender, or whose stored form, names the person is dropped and the file rewritten;
* the direct room: the bot leaves it and forgets it, and the person's entry goes from the bot's
  ``m.direct`` account data (read, changed, written back), so the homeserver's copy of the bot's
  account names them no more. A later message to them opens a new room;
* nio's key store (``store_path``): their devices' keys (SQLite rows, zeroed on delete, file
  vacuumed) and their devices in the trust files (``*.ignored_devices``…), and nio forgets it
  tracked them: should the bot write to them again, the new room's first send queries their
  devices again.

The homeserver keeps what it keeps of the room's history for the person's own account: that is
theirs, and outside the bot's reach (docs/privacy.md).
"""

from __future__ import annotations

import logging

from bot.core import ErasedPerson
from bot.platforms.matrix.connection import MatrixConnection
from bot.platforms.matrix.inbound import InboundTranslator
from bot.platforms.matrix.rooms import DirectRooms

logger = logging.getLogger(__name__)


class PendingErasure:
    name = "matrix pending events"
    anonymous = False

    def __init__(self, inbound: InboundTranslator) -> None:
        self.inbound = inbound

    async def erase(self, person: ErasedPerson) -> None:
        self.inbound.forget_person(person.platform_id, person.needles())


class DirectRoomErasure:
    name = "matrix direct room"
    anonymous = False

    def __init__(self, connection: MatrixConnection, rooms: DirectRooms) -> None:
        self.connection = connection
        self.rooms = rooms

    async def erase(self, person: ErasedPerson) -> None:
        user = person.platform_id
        rooms = self.rooms.forget_person(user)
        client = self.connection.client
        for room_id in sorted(rooms):
            await client.room_leave(room_id)
            await client.room_forget(room_id)
        await self.rooms.drop_person_entry(user)


class KeyStoreErasure:
    name = "matrix key store"
    anonymous = False

    def __init__(self, connection: MatrixConnection) -> None:
        self.connection = connection

    async def erase(self, person: ErasedPerson) -> None:
        client = self.connection.client
        olm = getattr(client, "olm", None)
        store = getattr(client, "store", None)
        if olm is None or store is None:
            return  # no encryption: nio keeps no keys
        user = person.platform_id
        for device in list(olm.device_store[user].values()):
            store.unignore_device(device)
            store.unverify_device(device)
            store.unblacklist_device(device)
        olm.device_store._entries.pop(user, None)
        olm.users_for_key_query.discard(user)
        # No longer tracked either: a later room with them queries their devices again (a
        # tracked user with no device known would get messages encrypted for nobody of theirs).
        olm.tracked_users.discard(user)
        database = store.database
        database.execute_sql("PRAGMA secure_delete=ON")
        with database.atomic():
            database.execute_sql(
                "DELETE FROM keys WHERE device_id IN (SELECT id FROM devicekeys WHERE user_id = ?)",
                (user,),
            )
            database.execute_sql("DELETE FROM devicekeys WHERE user_id = ?", (user,))
        database.execute_sql("VACUUM")
