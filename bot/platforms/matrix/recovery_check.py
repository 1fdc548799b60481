"""``pixbot matrix status``'s checks of the recovery key: is it in the service's secrets, is it a
recovery key at all (base58, with or without spaces), and does it open the account's secret
storage on the homeserver — the key description's check value, then the self-signing key
decrypted from secret storage, compared with the one the server publishes.

Without a working recovery key the bot cannot sign a new device when its device must change
(docs/tchap.md § 8: it stops with exit code 78). The key itself is never printed or logged.
(pixbot keeps no server-side key backup of room keys: secret storage is what the key opens.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from bot.platforms.matrix.crypto_identity import (
    DEFAULT_KEY_TYPE,
    KEY_TYPE_PREFIX,
    SECRET_NAMES,
    SELF_SIGNING,
    RecoveryKeyError,
    SecretStorageError,
    SigningKey,
    decode_recovery_key,
    decrypt_secret,
    key_matches,
    public_key_of,
)
from bot.translation import N_


class KeyCheck(StrEnum):
    OPENS_STORAGE = "opens_storage"  # the key opens secret storage and its signing key
    WRONG_KEY = "wrong_key"  # another key than the one secret storage was made with
    NO_SECRET_STORAGE = "no_secret_storage"  # nothing on the server for the key to open
    STORAGE_MISMATCH = "storage_mismatch"  # secret storage holds another signing key
    UNCHECKED = "unchecked"  # the server could not be asked (token, network)


# Why a text is not a recovery key (crypto_identity.decode_recovery_key), in French.
DECODE_FR = {
    "not base58": N_("caractères hors de l'alphabet base58 (des guillemets autour ?)"),
    "wrong length": N_("longueur fausse (48 caractères base58 attendus, espaces facultatifs)"),
    "wrong prefix": N_("ce n'est pas une clé de récupération Matrix"),
    "wrong parity byte (mistyped?)": N_("octet de contrôle faux (clé mal recopiée ?)"),
}


@dataclass(frozen=True)
class RecoveryKeyReport:
    """The three checks, in order; a later one is None when an earlier one failed."""

    configured: bool  # the service's secrets hold one ([matrix] recovery_key)
    in_store_file: bool  # recovery-key.txt is still in the store (to move, then delete)
    decode_error: str | None  # why the configured text is not a recovery key (French), or None
    server: KeyCheck | None  # what the homeserver's secret storage says of it

    @property
    def needs_a_person(self) -> bool:
        if not self.configured or self.in_store_file or self.decode_error is not None:
            return True
        return self.server not in (KeyCheck.OPENS_STORAGE, KeyCheck.UNCHECKED, None)


def decode(text: str) -> tuple[bytes | None, str | None]:
    """The key's bytes, or why the text is not a recovery key (French)."""
    try:
        return decode_recovery_key(text), None
    except RecoveryKeyError as error:
        return None, DECODE_FR.get(str(error), str(error))


class AccountData(Protocol):
    async def __call__(self, event_type: str) -> Mapping[str, Any] | None: ...


async def check_on_server(
    key: bytes, account_data: AccountData, published_self_signing: str | None
) -> KeyCheck:
    """Does ``key`` open the account's secret storage, and does it hold the self-signing key
    the server publishes? ``account_data(type)`` reads the bot's account data (None if absent)."""
    default = await account_data(DEFAULT_KEY_TYPE)
    key_id = default.get("key") if default else None
    if not isinstance(key_id, str):
        return KeyCheck.NO_SECRET_STORAGE
    description = await account_data(f"{KEY_TYPE_PREFIX}{key_id}")
    if not description:
        return KeyCheck.NO_SECRET_STORAGE
    if not key_matches(key, description):
        return KeyCheck.WRONG_KEY
    name = SECRET_NAMES[SELF_SIGNING]
    stored = await account_data(name)
    encrypted = ((stored or {}).get("encrypted") or {}).get(key_id)
    if not isinstance(encrypted, Mapping):
        return KeyCheck.NO_SECRET_STORAGE
    try:
        secret = decrypt_secret(key, name, encrypted)
    except SecretStorageError:
        return KeyCheck.WRONG_KEY
    if published_self_signing and SigningKey.from_secret(secret).public != published_self_signing:
        return KeyCheck.STORAGE_MISMATCH
    return KeyCheck.OPENS_STORAGE


def published_self_signing(keys_query: Mapping[str, Any], user_id: str) -> str | None:
    return public_key_of((keys_query.get("self_signing_keys") or {}).get(user_id))
