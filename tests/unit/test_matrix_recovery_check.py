"""The recovery key's checks of ``pixbot matrix status`` (sans-I/O): a key with or without its
spaces decodes, a mistyped or quoted one says why in French, and against secret storage (as
the bot writes it) the right key opens it, another does not, and a storage holding another
signing key than the published one is told apart."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from bot.platforms.matrix.crypto_identity import (
    CrossSigningKeys,
    encode_recovery_key,
    generate_key,
    new_key_id,
    secret_storage_account_data,
)
from bot.platforms.matrix.recovery_check import (
    KeyCheck,
    RecoveryKeyReport,
    check_on_server,
    decode,
)


def test_a_key_decodes_with_or_without_its_spaces() -> None:
    key = generate_key()
    shown = encode_recovery_key(key)
    assert " " in shown
    assert decode(shown) == (key, None)
    assert decode(shown.replace(" ", "")) == (key, None)
    assert decode(f"  {shown}\n") == (key, None)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("'EsTc 5rr1'", "guillemets"),
        ("EsTc", "longueur"),
        ("0OIl", "base58"),
    ],
)
def test_a_bad_key_says_why_in_french(text: str, why: str) -> None:
    key, error = decode(text)
    assert key is None and error is not None and why in error


def test_a_mistyped_key_fails_its_check_byte() -> None:
    compact = encode_recovery_key(generate_key()).replace(" ", "")
    for index in range(4, len(compact)):
        typo = compact[:index] + ("2" if compact[index] != "2" else "3") + compact[index + 1 :]
        key, error = decode(typo)
        if key is None:
            break
    assert error is not None and ("contrôle" in error or "Matrix" in error or "longueur" in error)


def storage(key: bytes, keys: CrossSigningKeys) -> Any:
    data = secret_storage_account_data(key, new_key_id(), keys)

    async def account_data(event_type: str) -> Mapping[str, Any] | None:
        return data.get(event_type)

    return account_data


async def test_the_right_key_opens_secret_storage() -> None:
    key, keys = generate_key(), CrossSigningKeys.generate()
    check = await check_on_server(key, storage(key, keys), keys.self_signing.public)
    assert check is KeyCheck.OPENS_STORAGE


async def test_another_key_is_wrong() -> None:
    key, keys = generate_key(), CrossSigningKeys.generate()
    check = await check_on_server(generate_key(), storage(key, keys), keys.self_signing.public)
    assert check is KeyCheck.WRONG_KEY


async def test_a_storage_holding_another_signing_key_is_told_apart() -> None:
    key, keys = generate_key(), CrossSigningKeys.generate()
    published = CrossSigningKeys.generate().self_signing.public
    check = await check_on_server(key, storage(key, keys), published)
    assert check is KeyCheck.STORAGE_MISMATCH


async def test_no_secret_storage() -> None:
    async def nothing(event_type: str) -> Mapping[str, Any] | None:
        return None

    assert await check_on_server(generate_key(), nothing, None) is KeyCheck.NO_SECRET_STORAGE


@pytest.mark.parametrize(
    ("report", "needs"),
    [
        (RecoveryKeyReport(True, False, None, KeyCheck.OPENS_STORAGE), False),
        (RecoveryKeyReport(True, False, None, KeyCheck.UNCHECKED), False),
        (RecoveryKeyReport(False, False, None, None), True),
        (RecoveryKeyReport(True, True, None, KeyCheck.OPENS_STORAGE), True),
        (RecoveryKeyReport(True, False, "longueur fausse", None), True),
        (RecoveryKeyReport(True, False, None, KeyCheck.WRONG_KEY), True),
        (RecoveryKeyReport(True, False, None, KeyCheck.STORAGE_MISMATCH), True),
    ],
)
def test_what_needs_a_person(report: RecoveryKeyReport, needs: bool) -> None:
    assert report.needs_a_person is needs


@pytest.mark.parametrize(
    ("token", "needs"),
    [("accepted", False), ("unchecked", False), ("expired", True), ("M_USER_DEACTIVATED", True)],
)
def test_a_token_the_server_will_not_take_needs_a_person(token: str, needs: bool) -> None:
    from bot.platforms.matrix.status import _with_key

    fine = RecoveryKeyReport(True, False, None, KeyCheck.OPENS_STORAGE)
    info = _with_key({"reachable": True, "token": token, "todo": None}, fine)
    assert info["needs_a_person"] is needs
