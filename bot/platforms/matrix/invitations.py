"""Invitations: which rooms the bot joins, and the group rooms it leaves once they grow."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from nio import ErrorResponse, InviteMemberEvent

from bot.core import InvitePolicy
from bot.platforms.matrix.codec import errcode_of, invite_allowed
from bot.platforms.matrix.connection import NETWORK_ERRORS, MatrixConnection
from bot.platforms.matrix.rooms import DirectRooms

logger = logging.getLogger(__name__)

# A join refused with M_LIMIT_EXCEEDED is tried again after the delay the server gives.
JOIN_ATTEMPTS = 5
MAX_JOIN_WAIT = 120.0


class Invitations:
    """Accepts or declines the invitations a sync brings; leaves rooms grown too big.

    ``policy`` is the core's (:class:`bot.core.InvitePolicy`, built by ``bot.runner`` before
    the platform): who may bring the bot into a room, and how big a room; None (no
    application) accepts any allowed server.
    """

    def __init__(
        self,
        connection: MatrixConnection,
        rooms: DirectRooms,
        *,
        allowed_servers: Sequence[str],
        direct_only: bool,
        policy: InvitePolicy | None = None,
    ) -> None:
        self.connection = connection
        self.rooms = rooms
        self.allowed_servers = tuple(allowed_servers)
        # A sender account of a pool (bot.platforms.matrix.pool): joins direct rooms only.
        self.direct_only = direct_only
        self.policy = policy

    async def handle(self, room_id: str, invite_state: Sequence[Any]) -> None:
        connection = self.connection
        client = connection.client
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
            await connection.check(await client.room_leave(room_id), "room_leave")
            return
        if not invite_allowed(invite.sender, client.user_id, self.allowed_servers):
            logger.info("Matrix : invitation dans %s de %s déclinée", room_id, invite.sender)
            await connection.check(await client.room_leave(room_id), "room_leave")
            return
        policy = self.policy
        if policy is not None and not await policy.inviter_known(invite.sender):
            # Only agents, ambassadors and admins bring the bot into a room.
            logger.info(
                "Matrix : invitation dans %s de l'inconnu %s déclinée", room_id, invite.sender
            )
            await connection.check(await client.room_leave(room_id), "room_leave")
            return
        logger.info("Matrix : entrée dans %s sur invitation de %s", room_id, invite.sender)
        joined = await client.join(room_id)
        if isinstance(joined, ErrorResponse):
            if errcode_of(joined) == "M_LIMIT_EXCEEDED":
                wait = (joined.retry_after_ms or 1000) / 1000
                connection.in_background(self._join_later(room_id, invite, wait))
            else:
                logger.warning("Matrix : impossible d'entrer dans %s : %s", room_id, joined)
            return
        await self._joined(room_id, invite)

    async def _join_later(self, room_id: str, invite: InviteMemberEvent, wait: float) -> None:
        """Join again after the delay the homeserver asked for (a few times at most)."""
        for _ in range(JOIN_ATTEMPTS):
            if await self.connection.sleep_or_stop(min(max(wait, 0.1), MAX_JOIN_WAIT)):
                return
            joined = await self.connection.client.join(room_id)
            if not isinstance(joined, ErrorResponse):
                await self._joined(room_id, invite)
                return
            if errcode_of(joined) != "M_LIMIT_EXCEEDED":
                logger.warning("Matrix : impossible d'entrer dans %s : %s", room_id, joined)
                return
            wait = (joined.retry_after_ms or 1000) / 1000
        logger.warning("Matrix : entrée dans %s abandonnée (limite de débit)", room_id)

    async def _joined(self, room_id: str, invite: InviteMemberEvent) -> None:
        client = self.connection.client
        policy = self.policy
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
                await self.connection.check(await client.room_leave(room_id), "room_leave")
                return
        if invite.content.get("is_direct") and not self.rooms.is_recorded(invite.sender, room_id):
            self.rooms.record_direct(invite.sender, room_id)

    async def leave_crowded_rooms(self, joined: Iterable[str]) -> set[str]:
        """Leave the group rooms that grew past ``max_room_members`` since the bot joined them
        (checked on every sync that brings them news); returns the rooms left."""
        policy = self.policy
        left: set[str] = set()
        if policy is None:
            return left
        client = self.connection.client
        for room_id in joined:
            room = client.rooms.get(room_id)
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
                await self.connection.check(await client.room_leave(room_id), "room_leave")
            except NETWORK_ERRORS as error:
                logger.warning(
                    "Matrix : départ de %s impossible pour l'instant : %s", room_id, error
                )
        return left
