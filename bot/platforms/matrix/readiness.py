"""Can agents reach the bot? Its E2EE device as the homeserver shows it (sans-I/O).

A bot connected to its homeserver can still be deaf: its device keys missing from the server
(the device was deleted and logged into again), different from the store's (the store was
lost and the same device id reused), no one-time key left to start an Olm session with, or a
device its identity did not sign (Tchap clients that exclude unverified devices then neither
send to it nor read it). Each case is a :class:`Readiness` state: a short code for health
checks (no key material, no secret), a French sentence saying what to do.

The bot writes its state to ``device-status.json`` (0600) in the store; ``pixbot matrix status``
reads it, asks the homeserver, and exits non-zero when agents cannot reach the bot.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from bot.platforms.matrix.store import write_private
from bot.translation import N_

logger = logging.getLogger(__name__)

STATUS_FILE = "device-status.json"


class Readiness(StrEnum):
    READY = "ready"
    STARTING = "starting"
    LOGGED_OUT = "device_logged_out"
    KEYS_NOT_PUBLISHED = "device_keys_missing"
    KEYS_MISMATCH = "device_keys_mismatch"
    NO_ONE_TIME_KEYS = "no_one_time_keys"
    NOT_CROSS_SIGNED = "not_cross_signed"
    KEY_UPLOAD_FAILING = "key_upload_failing"
    NO_E2EE = "no_e2ee"


# A state agents can live with: the bot reads and is read.
REACHABLE = frozenset({Readiness.READY, Readiness.NO_E2EE})

# What the operator reads (log, `pixbot matrix status`); never any key.
READINESS_FR: dict[Readiness, str] = {
    Readiness.READY: N_(
        "Appareil du bot prêt : clés publiées, clés à usage unique disponibles, "
        "appareil signé par l'identité du bot."
    ),
    Readiness.STARTING: N_("Le bot démarre : l'état de son appareil n'est pas encore connu."),
    Readiness.LOGGED_OUT: N_(
        "L'appareil du bot a été supprimé ou déconnecté sur le serveur : "
        "relancez le bot, il démarre un nouvel appareil (avec [matrix] password ; avec un jeton "
        "seul, créez d'abord un nouveau jeton) — docs/tchap.md § 8."
    ),
    Readiness.KEYS_NOT_PUBLISHED: N_(
        "Les clés de l'appareil du bot ne sont pas publiées sur le "
        "serveur : les agents ne peuvent pas lui écrire. Redémarrez le bot (il crée un nouvel "
        "appareil) ; si cela se répète, voyez docs/tchap.md § 8."
    ),
    Readiness.KEYS_MISMATCH: N_(
        "Les clés publiées pour l'appareil du bot ne sont pas celles de "
        "son stockage (stockage perdu ?) : redémarrez le bot, il crée un nouvel appareil "
        "(docs/tchap.md § 8)."
    ),
    Readiness.NO_ONE_TIME_KEYS: N_(
        "Plus aucune clé à usage unique sur le serveur : les nouveaux "
        "correspondants ne peuvent pas ouvrir de session chiffrée avec le bot. Le bot en publie "
        "d'autres à sa prochaine synchronisation ; si cela dure, redémarrez-le."
    ),
    Readiness.NOT_CROSS_SIGNED: N_(
        "L'appareil du bot n'est pas signé par son identité : les "
        "clients Tchap qui excluent les appareils non vérifiés ne lui écrivent pas. Renseignez "
        "[matrix] recovery_key (PIXBOT_MATRIX__RECOVERY_KEY) puis redémarrez (docs/tchap.md § 3)."
    ),
    Readiness.KEY_UPLOAD_FAILING: N_(
        "Le serveur refuse les clés de l'appareil du bot : "
        "redémarrez le bot (il crée un nouvel appareil) ; voyez docs/tchap.md § 8."
    ),
    Readiness.NO_E2EE: N_("Chiffrement de bout en bout désactivé : salons chiffrés illisibles."),
}


class DeviceMatch(StrEnum):
    """This device's keys on the server compared with the store's."""

    SAME = "same"
    MISSING = "missing"
    DIFFERENT = "different"


def server_device_match(
    query: Mapping[str, Any], user_id: str, device_id: str, ed25519: str, curve25519: str
) -> DeviceMatch:
    """Compare a ``/keys/query`` answer with the store's identity keys."""
    device = ((query.get("device_keys") or {}).get(user_id) or {}).get(device_id)
    if not isinstance(device, Mapping):
        return DeviceMatch.MISSING
    keys = device.get("keys")
    if not isinstance(keys, Mapping) or not keys:
        return DeviceMatch.MISSING
    same = (
        keys.get(f"ed25519:{device_id}") == ed25519
        and keys.get(f"curve25519:{device_id}") == curve25519
    )
    return DeviceMatch.SAME if same else DeviceMatch.DIFFERENT


def needs_new_device(match: DeviceMatch, published_before: bool) -> str | None:
    """Why the store cannot serve this device any more (None: it can).

    Keys missing although the store published them: the device was deleted on the server and
    logged into again — nio would never publish them again. Different keys: the store was lost
    and the device id reused; its one-time keys would be refused ("already exists") forever.
    """
    if match == DeviceMatch.DIFFERENT:
        return "store_mismatch"
    if match == DeviceMatch.MISSING and published_before:
        return "device_recreated"
    return None


_KEY_MATERIAL = re.compile(r"[A-Za-z0-9+/=_:-]{20,}")


def upload_failure_cause(errcode: str, message: str) -> str:
    """A key-upload refusal as a short cause without key material: Synapse's message for a
    colliding one-time key quotes both keys ("One time key signed_curve25519:AAAAAQ already
    exists. Old key: …; new key: …")."""
    if "already exists" in message:
        return "one_time_key_already_exists"
    words = _KEY_MATERIAL.sub("…", message)[:80]
    return f"{errcode}: {words}".strip(": ")


def derive_device_id(configured: str) -> str:
    """A new device id recognisably derived from the configured one (``PIXBOT-4F2A9C``)."""
    base = configured.split("-", 1)[0] or "PIXBOT"
    return f"{base[:24]}-{secrets.token_hex(3).upper()}"


def assess(
    *,
    e2ee: bool,
    started: bool,
    match: DeviceMatch | None,
    one_time_keys: int | None,
    cross_signed: bool | None,
    upload_failure: str | None,
) -> Readiness:
    """The readiness of the bot's device from what is known of it (pure)."""
    if not e2ee:
        return Readiness.NO_E2EE
    if not started or match is None:
        return Readiness.STARTING
    if upload_failure is not None:
        return Readiness.KEY_UPLOAD_FAILING
    if match == DeviceMatch.DIFFERENT:
        return Readiness.KEYS_MISMATCH
    if match == DeviceMatch.MISSING:
        return Readiness.KEYS_NOT_PUBLISHED
    if one_time_keys == 0:
        return Readiness.NO_ONE_TIME_KEYS
    if not cross_signed:
        return Readiness.NOT_CROSS_SIGNED
    return Readiness.READY


@dataclass
class DeviceStatus:
    """What ``device-status.json`` holds: public facts only (no key, no token)."""

    user_id: str
    device_id: str
    state: Readiness = Readiness.STARTING
    ed25519: str = ""  # the device's public signing key, to compare with the server's
    one_time_keys: int | None = None
    upload_failure: str | None = None
    # The last new device the bot started by itself: why, and the one it replaced.
    healed_reason: str | None = None
    replaced_device: str | None = None
    healed_at: str | None = None
    checked_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    @property
    def message(self) -> str:
        return READINESS_FR[self.state]

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = self.state.value
        data["message"] = self.message
        return data

    def save(self, store_path: Path) -> None:
        try:
            write_private(store_path / STATUS_FILE, json.dumps(self.as_dict(), indent=2))
        except OSError as error:
            logger.warning("Matrix : état de l'appareil non écrit : %s", error)


def load_status(store_path: Path) -> dict[str, Any]:
    try:
        data = json.loads((store_path / STATUS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
