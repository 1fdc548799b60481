"""The pure cross-signing and secret-storage formats (no homeserver)."""

from __future__ import annotations

import base58
import pytest
from signedjson.key import decode_verify_key_bytes
from signedjson.sign import verify_signed_json
from unpaddedbase64 import decode_base64

from bot.platforms.matrix.crypto_identity import (
    AES_HMAC_SHA2,
    DEFAULT_KEY_TYPE,
    CrossSigningKeys,
    RecoveryKeyError,
    SecretStorageError,
    SigningKey,
    b64decode_any,
    decode_recovery_key,
    decrypt_secret,
    device_signing_upload,
    device_trust,
    encode_recovery_key,
    encrypt_secret,
    fingerprint,
    key_description,
    key_matches,
    secret_storage_account_data,
)

USER = "@pixbot:example.gouv.fr"


def test_recovery_key_round_trip_and_format() -> None:
    key = bytes(range(32))
    text = encode_recovery_key(key)
    groups = text.split(" ")
    assert all(len(g) == 4 for g in groups[:-1]) and 1 <= len(groups[-1]) <= 4
    # The 0x8B 0x01 prefix makes every recovery key start with "Es".
    assert text.startswith("Es")
    raw = base58.b58decode(text.replace(" ", ""))
    assert raw[:2] == b"\x8b\x01" and raw[2:34] == key and len(raw) == 35
    parity = 0
    for byte in raw[:-1]:
        parity ^= byte
    assert raw[-1] == parity
    assert decode_recovery_key(text) == key
    assert decode_recovery_key(text.replace(" ", "")) == key
    assert decode_recovery_key(f"  {text}\n") == key


@pytest.mark.parametrize("mutation", ["typo", "short", "prefix", "garbage"])
def test_bad_recovery_keys_are_refused(mutation: str) -> None:
    key = bytes(range(32))
    compact = encode_recovery_key(key).replace(" ", "")
    if mutation == "typo":
        swapped = "2" if compact[10] != "2" else "3"
        bad = compact[:10] + swapped + compact[11:]
    elif mutation == "short":
        bad = compact[:-3]
    elif mutation == "prefix":
        raw = b"\x8b\x02" + key
        parity = 0
        for byte in raw:
            parity ^= byte
        bad = base58.b58encode(raw + bytes([parity])).decode()
    else:
        bad = "0OIl not base58"
    with pytest.raises(RecoveryKeyError):
        decode_recovery_key(bad)


def test_secret_round_trip_and_wrong_key() -> None:
    key, other = bytes(32 * [7]), bytes(32 * [8])
    encrypted = encrypt_secret(key, "m.cross_signing.master", "c2VjcmV0")
    assert set(encrypted) == {"iv", "ciphertext", "mac"}
    # Bit 63 of the iv is cleared.
    assert b64decode_any(encrypted["iv"])[8] & 0x80 == 0
    assert decrypt_secret(key, "m.cross_signing.master", encrypted) == "c2VjcmV0"
    with pytest.raises(SecretStorageError):
        decrypt_secret(other, "m.cross_signing.master", encrypted)
    # The name is bound in: the same ciphertext does not open under another secret name.
    with pytest.raises(SecretStorageError):
        decrypt_secret(key, "m.cross_signing.self_signing", encrypted)
    # Unpadded base64 (as some clients write it) is read too.
    unpadded = {k: v.rstrip("=") for k, v in encrypted.items()}
    assert decrypt_secret(key, "m.cross_signing.master", unpadded) == "c2VjcmV0"


def test_key_description_checks_the_key() -> None:
    key, other = bytes(32 * [1]), bytes(32 * [2])
    description = key_description(key)
    assert description["algorithm"] == AES_HMAC_SHA2
    assert key_matches(key, description)
    assert not key_matches(other, description)
    assert not key_matches(key, {**description, "algorithm": "m.other"})


def test_secret_storage_holds_the_three_private_keys() -> None:
    keys = CrossSigningKeys.generate()
    storage_key = bytes(32 * [3])
    data = secret_storage_account_data(storage_key, "KEYID", keys)
    assert data[DEFAULT_KEY_TYPE] == {"key": "KEYID"}
    assert key_matches(storage_key, data["m.secret_storage.key.KEYID"])
    for name, key in (
        ("m.cross_signing.master", keys.master),
        ("m.cross_signing.self_signing", keys.self_signing),
        ("m.cross_signing.user_signing", keys.user_signing),
    ):
        secret = decrypt_secret(storage_key, name, data[name]["encrypted"]["KEYID"])
        assert SigningKey.from_secret(secret).public == key.public


def _verify(obj: dict, public: str) -> None:
    verify_signed_json(
        obj, USER, decode_verify_key_bytes(f"ed25519:{public}", decode_base64(public))
    )


def test_upload_body_chains_the_keys_and_trust_is_verified() -> None:
    keys = CrossSigningKeys.generate()
    body = device_signing_upload(USER, keys)
    assert body["master_key"]["usage"] == ["master"]
    assert body["master_key"]["keys"] == {keys.master.key_id: keys.master.public}
    _verify(body["self_signing_key"], keys.master.public)
    _verify(body["user_signing_key"], keys.master.public)

    device = {
        "user_id": USER,
        "device_id": "BOTDEVICE",
        "algorithms": ["m.olm.v1.curve25519-aes-sha2"],
        "keys": {"ed25519:BOTDEVICE": "abc", "curve25519:BOTDEVICE": "def"},
        "unsigned": {"device_display_name": "pixbot"},
    }
    signed = keys.self_signing.sign(device, USER)
    assert "unsigned" not in signed
    _verify(signed, keys.self_signing.public)
    query = {
        "master_keys": {USER: body["master_key"]},
        "self_signing_keys": {USER: body["self_signing_key"]},
        "device_keys": {USER: {"BOTDEVICE": {**signed, "unsigned": {}}}},
    }
    trust = device_trust(query, USER, "BOTDEVICE")
    assert trust.cross_signed and trust.master == keys.master.public
    # A device signed by some other key is not trusted.
    forged = CrossSigningKeys.generate().self_signing.sign(device, USER)
    query["device_keys"] = {USER: {"BOTDEVICE": forged}}
    assert not device_trust(query, USER, "BOTDEVICE").cross_signed
    assert not device_trust({}, USER, "BOTDEVICE").cross_signed


def test_fingerprint_groups_by_four() -> None:
    assert fingerprint("abcdefghij") == "abcd efgh ij"
    assert fingerprint(None) == "-"
