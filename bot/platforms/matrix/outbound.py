"""Sending: an :class:`Outgoing` becomes an ``m.notice`` (or an ``m.image`` uploaded to the
media repository, encrypted as an attachment in encrypted rooms) in a room; nio's error values
become one :class:`bot.core.DeliveryError`. Retries belong to the caller's outbox."""

from __future__ import annotations

import asyncio
import io
from typing import Any

from nio import LocalProtocolError, RoomSendError, UploadError

from bot.core import DeliveryError, Outgoing, SendResult
from bot.platforms.matrix.codec import (
    PLATFORM,
    build_content,
    build_image_content,
    transaction_id,
    unreachable,
)
from bot.platforms.matrix.connection import NETWORK_ERRORS, MatrixConnection
from bot.platforms.matrix.rooms import DirectRooms

# How long one picture upload may take.
UPLOAD_TIMEOUT = 60.0


class OutboundMessages:
    """Sends one message to a room the platform chose (direct or group)."""

    def __init__(self, connection: MatrixConnection, rooms: DirectRooms) -> None:
        self.connection = connection
        self.rooms = rooms

    async def send(self, room_id: str, message: Outgoing) -> SendResult:
        client = self.connection.client
        try:
            await self.rooms.ensure_ready(room_id)
            if message.image is not None:
                content = await self.upload_image(room_id, message)
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
        except NETWORK_ERRORS as error:
            self.rooms.forget_broken_share(room_id)
            raise unreachable(error) from error
        except LocalProtocolError as error:
            raise DeliveryError(PLATFORM, "local_error", str(error)) from error
        if isinstance(response, RoomSendError):
            raise await self.connection.delivery_error(response)
        return SendResult(remote_id=response.event_id, conversation_id=room_id)

    async def upload_image(self, room_id: str, message: Outgoing) -> dict[str, Any]:
        """Upload the picture to the media repository (encrypted in an encrypted room)."""
        image = message.image
        assert image is not None
        client = self.connection.client
        room = client.rooms.get(room_id)
        encrypt = bool(client.olm and room is not None and room.encrypted)
        # nio uploads without a timeout: bound it here (a timeout is an unreachable server).
        response, keys = await asyncio.wait_for(
            client.upload(
                io.BytesIO(image.data),
                content_type=image.mimetype,
                filename=image.filename,
                encrypt=encrypt,
                filesize=image.size,
            ),
            UPLOAD_TIMEOUT,
        )
        if isinstance(response, UploadError):
            raise await self.connection.delivery_error(response)
        return build_image_content(message, response.content_uri, keys if encrypt else None)
