"""Cross-signing and secret storage for the bot's Matrix account, without any I/O (sans-I/O).

Everything here is a pure function of bytes and JSON objects, following the Matrix
client-server specification (§ Cross-signing, § Secret storage, § Recovery key):

- the **recovery key**: 32 random bytes shown as base58 (bitcoin alphabet) of
  ``0x8B 0x01 ‖ key ‖ parity`` (the parity byte XORs every previous byte), spaces every 4 chars;
- **secret storage** ``m.secret_storage.v1.aes-hmac-sha2``: per secret, HKDF-SHA-256 (zero salt,
  the secret's name as info) gives an AES-CTR-256 key and an HMAC-SHA-256 key; the key
  description carries the iv and mac of the encryption of 32 zero bytes under the name ``""``;
- **cross-signing keys**: Ed25519 master, self-signing and user-signing keys, their published
  JSON objects and the signatures that chain master → self-signing → device.

Crypto comes from libraries (``cryptography``, ``signedjson``/PyNaCl, ``canonicaljson``,
``base58``); only the Matrix formats are written here. The I/O glue is ``identity``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import base58
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from signedjson.key import decode_signing_key_base64, decode_verify_key_bytes, get_verify_key
from signedjson.sign import SignatureVerifyException, sign_json, verify_signed_json
from unpaddedbase64 import decode_base64, encode_base64

AES_HMAC_SHA2 = "m.secret_storage.v1.aes-hmac-sha2"
DEFAULT_KEY_TYPE = "m.secret_storage.default_key"
KEY_TYPE_PREFIX = "m.secret_storage.key."
MASTER = "master"
SELF_SIGNING = "self_signing"
USER_SIGNING = "user_signing"
SECRET_NAMES = {
    MASTER: "m.cross_signing.master",
    SELF_SIGNING: "m.cross_signing.self_signing",
    USER_SIGNING: "m.cross_signing.user_signing",
}
RECOVERY_KEY_PREFIX = bytes([0x8B, 0x01])
KEY_LENGTH = 32


class RecoveryKeyError(ValueError):
    """The text is not a recovery key (bad characters, length, prefix or parity)."""


class SecretStorageError(ValueError):
    """A secret cannot be decrypted with this key (wrong key, tampered or unknown format)."""


# -- base64 ----------------------------------------------------------------------------------


def b64decode_any(text: str) -> bytes:
    """Standard base64 with or without padding (clients differ on secret storage fields)."""
    cleaned = text.strip().rstrip("=")
    return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)


def b64encode_padded(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# -- recovery key ----------------------------------------------------------------------------


def generate_key() -> bytes:
    """32 random bytes: a secret storage key, or an Ed25519 seed."""
    return secrets.token_bytes(KEY_LENGTH)


def _parity(data: bytes) -> int:
    parity = 0
    for byte in data:
        parity ^= byte
    return parity


def encode_recovery_key(key: bytes) -> str:
    """The recovery key shown to people: ``EsTc 5rr1 …`` (48 base58 characters in groups of 4)."""
    if len(key) != KEY_LENGTH:
        raise ValueError("a secret storage key is 32 bytes")
    raw = RECOVERY_KEY_PREFIX + key
    encoded = base58.b58encode(raw + bytes([_parity(raw)])).decode("ascii")
    return " ".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))


def decode_recovery_key(text: str) -> bytes:
    """The 32-byte key of a recovery key; whitespace anywhere is ignored."""
    compact = "".join(text.split())
    try:
        raw = base58.b58decode(compact)
    except ValueError as error:
        raise RecoveryKeyError("not base58") from error
    if len(raw) != len(RECOVERY_KEY_PREFIX) + KEY_LENGTH + 1:
        raise RecoveryKeyError("wrong length")
    if not raw.startswith(RECOVERY_KEY_PREFIX):
        raise RecoveryKeyError("wrong prefix")
    if _parity(raw) != 0:
        raise RecoveryKeyError("wrong parity byte (mistyped?)")
    return raw[len(RECOVERY_KEY_PREFIX) : -1]


def new_key_id() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(32))


# -- secret storage (m.secret_storage.v1.aes-hmac-sha2) -------------------------------------


def _derive(key: bytes, name: str) -> tuple[bytes, bytes]:
    material = HKDF(
        algorithm=hashes.SHA256(), length=64, salt=bytes(32), info=name.encode("utf-8")
    ).derive(key)
    return material[:32], material[32:]


def _new_iv() -> bytes:
    iv = bytearray(os.urandom(16))
    # The specification clears bit 63 so that the 64-bit counter half never wraps.
    iv[8] &= 0x7F
    return bytes(iv)


def encrypt_secret(key: bytes, name: str, secret: str, iv: bytes | None = None) -> dict[str, str]:
    """``{"iv", "ciphertext", "mac"}`` for ``secret`` stored under ``name``."""
    aes_key, mac_key = _derive(key, name)
    iv = iv if iv is not None else _new_iv()
    encryptor = Cipher(algorithms.AES(aes_key), modes.CTR(iv)).encryptor()
    ciphertext = encryptor.update(secret.encode("utf-8")) + encryptor.finalize()
    mac = hmac.new(mac_key, ciphertext, hashlib.sha256).digest()
    return {
        "iv": b64encode_padded(iv),
        "ciphertext": b64encode_padded(ciphertext),
        "mac": b64encode_padded(mac),
    }


def decrypt_secret(key: bytes, name: str, encrypted: Mapping[str, Any]) -> str:
    """The secret, after checking its MAC; :class:`SecretStorageError` otherwise."""
    try:
        iv = b64decode_any(str(encrypted["iv"]))
        ciphertext = b64decode_any(str(encrypted["ciphertext"]))
        mac = b64decode_any(str(encrypted["mac"]))
    except (KeyError, ValueError) as error:
        raise SecretStorageError("malformed encrypted secret") from error
    aes_key, mac_key = _derive(key, name)
    expected = hmac.new(mac_key, ciphertext, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, mac):
        raise SecretStorageError("bad MAC: wrong key or altered secret")
    decryptor = Cipher(algorithms.AES(aes_key), modes.CTR(iv)).decryptor()
    plain = decryptor.update(ciphertext) + decryptor.finalize()
    try:
        return plain.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SecretStorageError("secret is not text") from error


def key_description(key: bytes, name: str = "", iv: bytes | None = None) -> dict[str, Any]:
    """The ``m.secret_storage.key.<id>`` content: what lets a client check a key is right."""
    check = encrypt_secret(key, "", "\0" * KEY_LENGTH, iv)
    description: dict[str, Any] = {
        "algorithm": AES_HMAC_SHA2,
        "iv": check["iv"],
        "mac": check["mac"],
    }
    if name:
        description["name"] = name
    return description


def key_matches(key: bytes, description: Mapping[str, Any]) -> bool:
    """True when ``key`` is the one ``description`` (iv + mac of zeros) was made with."""
    if description.get("algorithm") != AES_HMAC_SHA2:
        return False
    if "iv" not in description or "mac" not in description:
        # Very old descriptions carry no check: only a decryption can tell.
        return True
    try:
        iv = b64decode_any(str(description["iv"]))
        mac = b64decode_any(str(description["mac"]))
    except ValueError:
        return False
    expected = b64decode_any(encrypt_secret(key, "", "\0" * KEY_LENGTH, iv)["mac"])
    return hmac.compare_digest(expected, mac)


# -- cross-signing keys ----------------------------------------------------------------------


@dataclass(frozen=True)
class SigningKey:
    """An Ed25519 key pair from its 32-byte seed; ``public`` is unpadded base64, as published."""

    seed: bytes

    @property
    def _key(self) -> Any:
        seed_b64 = encode_base64(self.seed)
        key = decode_signing_key_base64("ed25519", "x", seed_b64)
        key.version = encode_base64(bytes(get_verify_key(key)))
        return key

    @property
    def public(self) -> str:
        return encode_base64(bytes(get_verify_key(self._key)))

    @property
    def key_id(self) -> str:
        return f"ed25519:{self.public}"

    def secret(self) -> str:
        """The secret stored in secret storage: the unpadded base64 of the seed."""
        return encode_base64(self.seed)

    @classmethod
    def from_secret(cls, secret: str) -> SigningKey:
        seed = b64decode_any(secret)
        if len(seed) != KEY_LENGTH:
            raise SecretStorageError("a cross-signing private key is 32 bytes")
        return cls(seed)

    def sign(self, obj: Mapping[str, Any], user_id: str) -> dict[str, Any]:
        """A copy of ``obj`` (without ``unsigned``) carrying only this key's signature."""
        payload = {k: v for k, v in obj.items() if k not in ("signatures", "unsigned")}
        signed: dict[str, Any] = sign_json(payload, user_id, self._key)
        return signed


@dataclass(frozen=True)
class CrossSigningKeys:
    master: SigningKey
    self_signing: SigningKey
    user_signing: SigningKey

    @classmethod
    def generate(cls) -> CrossSigningKeys:
        return cls(
            SigningKey(generate_key()), SigningKey(generate_key()), SigningKey(generate_key())
        )

    def by_usage(self) -> dict[str, SigningKey]:
        return {
            MASTER: self.master,
            SELF_SIGNING: self.self_signing,
            USER_SIGNING: self.user_signing,
        }


def cross_signing_key(user_id: str, usage: str, key: SigningKey) -> dict[str, Any]:
    """The unsigned public object of one cross-signing key."""
    return {"user_id": user_id, "usage": [usage], "keys": {key.key_id: key.public}}


def device_signing_upload(user_id: str, keys: CrossSigningKeys) -> dict[str, Any]:
    """The ``/keys/device_signing/upload`` body: the sub-keys signed by the master key."""
    return {
        "master_key": cross_signing_key(user_id, MASTER, keys.master),
        "self_signing_key": keys.master.sign(
            cross_signing_key(user_id, SELF_SIGNING, keys.self_signing), user_id
        ),
        "user_signing_key": keys.master.sign(
            cross_signing_key(user_id, USER_SIGNING, keys.user_signing), user_id
        ),
    }


def secret_storage_account_data(
    storage_key: bytes, key_id: str, keys: CrossSigningKeys
) -> dict[str, dict[str, Any]]:
    """Account data type → content for a new secret storage holding the cross-signing keys."""
    data: dict[str, dict[str, Any]] = {
        f"{KEY_TYPE_PREFIX}{key_id}": key_description(storage_key, "pixbot"),
    }
    for usage, key in keys.by_usage().items():
        name = SECRET_NAMES[usage]
        data[name] = {"encrypted": {key_id: encrypt_secret(storage_key, name, key.secret())}}
    data[DEFAULT_KEY_TYPE] = {"key": key_id}
    return data


# -- reading published keys (/keys/query) ----------------------------------------------------


def public_key_of(key_object: Mapping[str, Any] | None) -> str | None:
    """The Ed25519 public key of a published cross-signing key object."""
    if not isinstance(key_object, Mapping):
        return None
    keys = key_object.get("keys")
    if not isinstance(keys, Mapping):
        return None
    for key_id, value in keys.items():
        if isinstance(key_id, str) and key_id.startswith("ed25519:") and isinstance(value, str):
            return value
    return None


def signature_valid(obj: Mapping[str, Any], user_id: str, public: str | None) -> bool:
    """True if ``obj`` carries a valid signature by ``user_id``'s Ed25519 key ``public``."""
    if not public:
        return False
    signatures = obj.get("signatures")
    if not isinstance(signatures, Mapping) or f"ed25519:{public}" not in signatures.get(
        user_id, {}
    ):
        return False
    try:
        verify_key = decode_verify_key_bytes(f"ed25519:{public}", decode_base64(public))
        verify_signed_json(dict(obj), user_id, verify_key)
    except (SignatureVerifyException, ValueError):
        return False
    return True


@dataclass(frozen=True)
class DeviceTrust:
    """What another user's client can check about a device from ``/keys/query``."""

    master: str | None
    self_signing: str | None
    self_signing_signed_by_master: bool
    device_signed_by_self_signing: bool
    device_key: str | None

    @property
    def cross_signed(self) -> bool:
        return self.self_signing_signed_by_master and self.device_signed_by_self_signing


def device_trust(query: Mapping[str, Any], user_id: str, device_id: str) -> DeviceTrust:
    """Verify the chain master → self-signing → device in a ``/keys/query`` answer."""
    master_obj = (query.get("master_keys") or {}).get(user_id)
    ssk_obj = (query.get("self_signing_keys") or {}).get(user_id)
    device = ((query.get("device_keys") or {}).get(user_id) or {}).get(device_id)
    master = public_key_of(master_obj)
    ssk = public_key_of(ssk_obj)
    device_key = None
    if isinstance(device, Mapping):
        device_key = (device.get("keys") or {}).get(f"ed25519:{device_id}")
    return DeviceTrust(
        master=master,
        self_signing=ssk,
        self_signing_signed_by_master=isinstance(ssk_obj, Mapping)
        and signature_valid(ssk_obj, user_id, master),
        device_signed_by_self_signing=isinstance(device, Mapping)
        and signature_valid(device, user_id, ssk),
        device_key=device_key if isinstance(device_key, str) else None,
    )


def fingerprint(public: str | None) -> str:
    """A public key as people compare it: groups of 4 characters."""
    if not public:
        return "-"
    return " ".join(public[i : i + 4] for i in range(0, len(public), 4))


def read_recovery_file(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return ""
    return next((line.strip() for line in lines if line.strip() and line[0] != "#"), "")
