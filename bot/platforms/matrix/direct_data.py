"""The bot's ``m.direct`` account data (which room is the direct room with whom), read and
written whole: recording new direct rooms and erasing a person both go through here."""

from __future__ import annotations

import json
from typing import Any

from nio.api import Api


async def read_direct(client: Any) -> dict[str, list[str]]:
    """The bot's ``m.direct`` as a plain mapping (empty when the server has none)."""
    current = await client.list_direct_rooms()
    rooms = getattr(current, "rooms", None)
    return {user: list(ids) for user, ids in rooms.items()} if isinstance(rooms, dict) else {}


async def write_direct(client: Any, direct: dict[str, list[str]]) -> int:
    """Replace the bot's ``m.direct`` with ``direct``; returns the HTTP status."""
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
    status: int = answer.status
    answer.release()
    return status
