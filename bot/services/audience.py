"""Looking people up on the platform, before any transaction opens.

Network calls never happen inside a database transaction: handlers and jobs ask the
:class:`Directory` first, then write what they learnt in one short transaction.
"""

from __future__ import annotations

from bot.core import DeliveryError, Member, Platform


class Directory:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    async def room_members(self, room: str) -> list[Member] | None:
        """The people of a room (the bot and other bots excluded); None for an unknown room."""
        try:
            members = await self.platform.room_members(room)
        except DeliveryError:
            return None
        return [m for m in members if not m.is_bot and m.platform_id != self.platform.bot_id]
