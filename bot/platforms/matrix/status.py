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
import stat
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from nio import AsyncClientConfig

from bot.platforms.matrix.crypto_identity import device_trust, fingerprint
from bot.platforms.matrix.identity import RECOVERY_KEY_FILE
from bot.platforms.matrix.identity_state import STATUS_FILE
from bot.platforms.matrix.readiness import (
    REACHABLE,
    READINESS_FR,
    DeviceMatch,
    Readiness,
    assess,
    load_status,
)
from bot.platforms.matrix.recovery_check import (
    KeyCheck,
    RecoveryKeyReport,
    check_on_server,
    decode,
    published_self_signing,
)
from bot.platforms.matrix.session import UNKNOWN_TOKEN, SessionClient
from bot.translation import N_, gettext, translate

NEVER_CONNECTED = N_(
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


@dataclass(frozen=True)
class ServerAnswer:
    """What the homeserver said with the stored token."""

    token: str  # "accepted", "expired" (soft logout), "refused" (device logged out) or errcode
    match: DeviceMatch | None = None
    one_time_keys: int | None = None
    key_check: KeyCheck = KeyCheck.UNCHECKED


async def _ask_server(
    homeserver: str,
    user_id: str,
    device_id: str,
    token: str,
    ed25519: str,
    recovery_key: bytes | None,
) -> ServerAnswer | None:
    """None when the homeserver cannot be reached."""
    client = SessionClient(
        homeserver,
        user_id,
        device_id=device_id,
        config=AsyncClientConfig(encryption_enabled=False, max_timeouts=0, request_timeout=10),
    )
    client.access_token = token

    async def account_data(event_type: str) -> dict[str, Any] | None:
        answer = await client.request_json("GET", f"user/{user_id}/account_data/{event_type}")
        return answer.body if answer.ok else None

    try:
        query = await client.request_json("POST", "keys/query", {"device_keys": {user_id: []}})
        if query.errcode == UNKNOWN_TOKEN:
            # Expired (soft logout): the running bot renews it; deleted or logged out: gone.
            return ServerAnswer("expired" if query.soft_logout else "refused")
        if not query.ok:
            return ServerAnswer(query.errcode or f"HTTP {query.status}")
        counts = await client.request_json("POST", "keys/upload", {})
        left = (counts.body.get("one_time_key_counts") or {}).get("signed_curve25519", 0)
        key_check = KeyCheck.UNCHECKED
        if recovery_key is not None:
            key_check = await check_on_server(
                recovery_key, account_data, published_self_signing(query.body, user_id)
            )
        return ServerAnswer(
            "accepted",
            _server_match(query.body, user_id, device_id, ed25519),
            int(left) if counts.ok and isinstance(left, int) else None,
            key_check,
        )
    except (OSError, TimeoutError):
        return None
    finally:
        await client.close()


TOKEN_FR = {
    "expired": N_(
        "Le jeton d'accès du bot a expiré : le bot le renouvelle à son démarrage (jeton "
        "de rafraîchissement, ou [matrix] password) ; s'il tourne déjà, lisez son journal."
    ),
    "refused": "",  # said by Readiness.LOGGED_OUT
}


async def matrix_status(
    store_path: Path, homeserver: str, recovery_key: str = "", e2ee: bool = True
) -> dict[str, Any]:
    """The identity (:func:`describe`) and the device's readiness, with ``reachable``
    (agents can write to the bot and read it), ``token`` (what the server said of the stored
    token), ``recovery_key`` (:class:`RecoveryKeyReport` as a dict; None without E2EE),
    ``needs_a_person`` and ``todo`` (what to do, in French, one sentence per thing)."""
    store_path = Path(store_path)
    info = await describe(store_path, homeserver)
    last = load_status(store_path)
    session: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        session = json.loads((store_path / "session.json").read_text(encoding="utf-8"))
    key_bytes, decode_error = decode(recovery_key) if recovery_key.strip() else (None, None)
    key_report = RecoveryKeyReport(
        configured=bool(recovery_key.strip()),
        in_store_file=(store_path / RECOVERY_KEY_FILE).exists(),
        decode_error=decode_error,
        server=None,
    )
    user_id, device_id = info["user_id"], info["device_id"]
    token = session.get("access_token")
    if not (user_id and device_id and isinstance(token, str) and token):
        info.update(readiness=None, reachable=False, token=None, todo=translate(NEVER_CONNECTED))
        return _with_key(info, key_report if e2ee else None)
    if last.get("device_id") not in (None, device_id):
        last = {}  # written for a device the bot has left since
    answer = await _ask_server(
        str(session.get("homeserver") or homeserver),
        user_id,
        device_id,
        token,
        str(last.get("ed25519") or ""),
        key_bytes if e2ee else None,
    )
    if answer is None or answer.token not in ("accepted", "refused"):
        # Not asked, or the token cannot ask: the bot's own last word about its device.
        state = Readiness(last["state"]) if last.get("state") in set(Readiness) else None
        source = "status file"
        one_time_keys = last.get("one_time_keys")
    else:
        one_time_keys = answer.one_time_keys
        state = (
            Readiness.LOGGED_OUT
            if answer.token == "refused" or answer.match is None
            else assess(
                e2ee=last.get("state") != Readiness.NO_E2EE,
                started=True,
                match=answer.match,
                one_time_keys=one_time_keys,
                cross_signed=info["cross_signed"],
                upload_failure=last.get("upload_failure"),
            )
        )
        source = "homeserver"
    if key_bytes is not None:
        key_report = replace(key_report, server=answer.key_check if answer else KeyCheck.UNCHECKED)
    reachable = state in REACHABLE
    todo = [] if reachable else [translate(READINESS_FR[state or Readiness.STARTING])]
    if answer is not None and answer.token not in ("accepted", "refused"):
        todo.append(
            translate(TOKEN_FR.get(answer.token, ""))
            or gettext(
                "Le serveur refuse le jeton du bot ({code}) : compte expiré ou désactivé ? "
                "Voyez avec les administrateurs Tchap (docs/deploy-tchap.md § 1).",
                code=answer.token,
            )
        )
    info.update(
        readiness=state.value if state else None,
        readiness_source=source,
        one_time_keys=one_time_keys,
        reachable=reachable,
        token=answer.token if answer else "unchecked",
        todo=" ".join(todo) or None,
        healed_reason=last.get("healed_reason"),
        replaced_device=last.get("replaced_device"),
        healed_at=last.get("healed_at"),
    )
    return _with_key(info, key_report if e2ee else None)


KEY_TODO_FR = {
    "missing": N_(
        "Aucune clé de récupération dans les secrets du service : si l'appareil du bot "
        "doit changer, il s'arrêtera (code 78). Renseignez PIXBOT_MATRIX__RECOVERY_KEY "
        "(docs/deploy-tchap.md § 3)."
    ),
    "in_store_file": N_(
        "La clé de récupération est encore dans {file} : rangez-la dans les "
        "secrets du service (PIXBOT_MATRIX__RECOVERY_KEY, sans guillemets) puis supprimez le "
        "fichier (docs/deploy-tchap.md § 3)."
    ),
    "decode": N_(
        "PIXBOT_MATRIX__RECOVERY_KEY n'est pas une clé de récupération ({why}) : "
        "recopiez-la telle que recovery-key.txt la donnait."
    ),
    KeyCheck.WRONG_KEY: N_(
        "PIXBOT_MATRIX__RECOVERY_KEY n'ouvre pas le stockage secret du compte du "
        "bot : c'est une autre clé que celle de son identité (docs/tchap.md § 8)."
    ),
    KeyCheck.NO_SECRET_STORAGE: N_(
        "Le compte du bot n'a pas de stockage secret sur le serveur : "
        "la clé n'a rien à ouvrir ; redémarrez le bot, il recrée son identité (docs/tchap.md § 8)."
    ),
    KeyCheck.STORAGE_MISMATCH: N_(
        "Le stockage secret du compte ne contient pas la clé de "
        "signature que le serveur publie (identité changée par un autre client ?) : "
        "docs/tchap.md § 8."
    ),
}


def _with_key(info: dict[str, Any], report: RecoveryKeyReport | None) -> dict[str, Any]:
    """``info`` with the recovery key's checks, ``needs_a_person`` and their to-dos."""
    todo = [info["todo"]] if info.get("todo") else []
    if report is not None:
        if not report.configured:
            todo.append(gettext(KEY_TODO_FR["missing"]))
        if report.in_store_file:
            todo.append(gettext(KEY_TODO_FR["in_store_file"], file=RECOVERY_KEY_FILE))
        if report.decode_error:
            todo.append(gettext(KEY_TODO_FR["decode"], why=translate(report.decode_error)))
        if report.server in KEY_TODO_FR:
            todo.append(gettext(KEY_TODO_FR[report.server]))
    token_problem = info.get("token") not in (None, "accepted", "unchecked", "refused")
    info.update(
        recovery_key=None if report is None else {**asdict(report), "server": report.server},
        needs_a_person=(
            not info["reachable"] or token_problem or (report is not None and report.needs_a_person)
        ),
        todo=" ".join(todo) or None,
    )
    return info


def _mode(path: Path) -> str | None:
    try:
        return oct(stat.S_IMODE(path.stat().st_mode))
    except OSError:
        return None


async def describe(store_path: Path, homeserver: str) -> dict[str, Any]:
    """What ``pixbot matrix status`` prints: asks the homeserver, else the last status file.

    Never refreshes a token (that would rotate the running bot's refresh token) and never
    reads a secret into the output.
    """
    store_path = Path(store_path)
    session: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        session = json.loads((store_path / "session.json").read_text(encoding="utf-8"))
    last: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        last = json.loads((store_path / STATUS_FILE).read_text(encoding="utf-8"))
    user_id = str(session.get("user_id") or last.get("user_id") or "")
    device_id = str(session.get("device_id") or last.get("device_id") or "")
    result: dict[str, Any] = {
        "user_id": user_id or None,
        "device_id": device_id or None,
        "cross_signed": last.get("cross_signed"),
        "master_fingerprint": last.get("master_fingerprint"),
        "state": last.get("state"),
        "message": last.get("message"),
        "reset_detected": last.get("reset_detected", False),
        "source": "status file" if last else "none",
        "store": {
            "path": str(store_path.resolve()),
            "mode": _mode(store_path),
            "session.json": _mode(store_path / "session.json"),
            RECOVERY_KEY_FILE: _mode(store_path / RECOVERY_KEY_FILE),
        },
    }
    token = session.get("access_token")
    if not (user_id and device_id and isinstance(token, str) and token):
        return result
    client = SessionClient(
        str(session.get("homeserver") or homeserver),
        user_id,
        device_id=device_id,
        config=AsyncClientConfig(encryption_enabled=False, max_timeouts=0, request_timeout=10),
    )
    client.access_token = token
    try:
        answer = await client.request_json("POST", "keys/query", {"device_keys": {user_id: []}})
        if answer.ok:
            trust = device_trust(answer.body, user_id, device_id)
            result["cross_signed"] = trust.cross_signed
            result["master_fingerprint"] = fingerprint(trust.master)
            result["source"] = "homeserver"
    except (OSError, TimeoutError):
        pass
    finally:
        await client.close()
    return result
