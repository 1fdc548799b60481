"""Who may bring the bot into a room: what a platform asks before joining one it is invited
to (platforms know no storage: they call this port, :class:`bot.core.InvitePolicy`, which
``bot.runner`` builds before the platform and hands to its constructor)."""

from __future__ import annotations

from collections.abc import Sequence

from bot.dbwork import DatabaseWorker, InlineDatabase
from bot.text import is_clean_id
from storage.uow import Store


class StoreInvitePolicy:
    def __init__(
        self,
        store: Store,
        database: DatabaseWorker | InlineDatabase,
        admins: Sequence[str],
        max_room_members: int,
    ) -> None:
        self._store = store
        self._database = database
        self._admins = frozenset(admins)
        self.max_room_members = max_room_members

    async def inviter_known(self, platform_id: str) -> bool:
        return await self._database.run(self.known, platform_id)

    def known(self, platform_id: str) -> bool:
        """An agent (imported, with a service), an ambassador or an admin."""
        if not is_clean_id(platform_id):
            return False
        if platform_id in self._admins:
            return True
        with self._store.transaction() as uow:
            person = uow.people.by_platform_id(platform_id)
            if person is None:
                return False
            roles = uow.roles.roles_of(person.id)
        return person.service is not None or roles.is_admin or roles.is_ambassador
