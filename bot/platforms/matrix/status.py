"""``pixbot matrix status``: can agents reach the bot? Asked to the homeserver, with the bot's
own last word (``device-status.json``) as a fallback. Never prints a secret or a private key.

The device's keys are those the server publishes (``/keys/query``) compared with the public
signing key the bot wrote in its status file; the one-time keys left are what the server
answers to an empty ``/keys/upload`` with the bot's token (it uploads nothing and refreshes no
token, so the running bot is not disturbed).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from nio import AsyncClientConfig

from bot.platforms.matrix.identity import describe
from bot.platforms.matrix.readiness import (
    REACHABLE,
    READINESS_FR,
    DeviceMatch,
    Readiness,
    assess,
    load_status,
)
from bot.platforms.matrix.session import UNKNOWN_TOKEN, SessionClient

NEVER_CONNECTED = (
    "Le bot ne s'est encore jamais connecté avec ce stockage : lancez « pixbot run » "
    "(docs/deploy-tchap.md)."
)


def _server_match(query: dict[str, Any], user_id: str, device_id: str, ed25519: str) -> DeviceMatch:
    device = ((query.get("device_keys") or {}).get(user_id) or {}).get(device_id)
    keys = device.get("keys") if isinstance(device, dict) else None
    if not isinstance(keys, dict) or not keys:
        return DeviceMatch.MISSING
    if ed25519 and keys.get(f"ed25519:{device_id}") != ed25519:
        return DeviceMatch.DIFFERENT
    return DeviceMatch.SAME


async def _ask_server(
    homeserver: str, user_id: str, device_id: str, token: str, ed25519: str
) -> tuple[DeviceMatch | None, int | None] | None:
    client = SessionClient(
        homeserver,
        user_id,
        device_id=device_id,
        config=AsyncClientConfig(encryption_enabled=False, max_timeouts=0, request_timeout=10),
    )
    client.access_token = token
    try:
        query = await client.request_json("POST", "keys/query", {"device_keys": {user_id: []}})
        if query.errcode == UNKNOWN_TOKEN and not query.soft_logout:
            return None, None  # the bot's device was deleted or logged out
        # (An expired token — soft logout — is the running bot's to refresh: its last word.)
        if not query.ok:
            return None
        counts = await client.request_json("POST", "keys/upload", {})
        left = (counts.body.get("one_time_key_counts") or {}).get("signed_curve25519", 0)
        one_time_keys = int(left) if counts.ok and isinstance(left, int) else None
        return _server_match(query.body, user_id, device_id, ed25519), one_time_keys
    except (OSError, TimeoutError):
        return None
    finally:
        await client.close()


async def matrix_status(store_path: Path, homeserver: str) -> dict[str, Any]:
    """The identity (:func:`identity.describe`) and the device's readiness, with ``reachable``
    (agents can write to the bot and read it) and ``todo`` (what to do, in French)."""
    store_path = Path(store_path)
    info = await describe(store_path, homeserver)
    last = load_status(store_path)
    session: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        session = json.loads((store_path / "session.json").read_text(encoding="utf-8"))
    user_id, device_id = info["user_id"], info["device_id"]
    token = session.get("access_token")
    if not (user_id and device_id and isinstance(token, str) and token):
        info.update(readiness=None, reachable=False, todo=NEVER_CONNECTED)
        return info
    if last.get("device_id") not in (None, device_id):
        last = {}  # written for a device the bot has left since
    answer = await _ask_server(
        str(session.get("homeserver") or homeserver),
        user_id,
        device_id,
        token,
        str(last.get("ed25519") or ""),
    )
    if answer is None:
        state = Readiness(last["state"]) if last.get("state") in set(Readiness) else None
        source = "status file"
        one_time_keys = last.get("one_time_keys")
    else:
        match, one_time_keys = answer
        state = (
            Readiness.LOGGED_OUT
            if match is None
            else assess(
                e2ee=last.get("state") != Readiness.NO_E2EE,
                started=True,
                match=match,
                one_time_keys=one_time_keys,
                cross_signed=info["cross_signed"],
                upload_failure=last.get("upload_failure"),
            )
        )
        source = "homeserver"
    reachable = state in REACHABLE
    info.update(
        readiness=state.value if state else None,
        readiness_source=source,
        one_time_keys=one_time_keys,
        reachable=reachable,
        todo=None if reachable else READINESS_FR[state or Readiness.STARTING],
        healed_reason=last.get("healed_reason"),
        replaced_device=last.get("replaced_device"),
        healed_at=last.get("healed_at"),
    )
    return info
