"""Issue #31, without a network: when the bot's device is reachable, when it needs a new one,
and key-upload errors reported once per cause without key material."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from nio import KeysUploadError

from bot.core import PlatformNeedsOperator, ReportsReadiness
from bot.ops_http import platform_check
from bot.platforms.matrix import MatrixPlatform
from bot.platforms.matrix.device import DeviceLost, MatrixNeedsOperator
from bot.platforms.matrix.readiness import (
    DeviceMatch,
    Readiness,
    assess,
    derive_device_id,
    needs_new_device,
    server_device_match,
    upload_failure_cause,
)

OLD_KEY = "Kf3mJq8Yt0cZ1xQe7Vw9bN2sD4hG6jL5pR8uT0yA3Cc"
NEW_KEY = "Zq1Wx2Ec3Rv4Tb5Yn6Um7Ik8Ol9Pa0Sd1Fg2Hj3Kl4M"
SYNAPSE_REFUSAL = (
    "One time key signed_curve25519:AAAAAAAAAAE already exists. Old key: "
    f'{{"key": "{OLD_KEY}", "signatures": {{}}}}; new key: {{"key": "{NEW_KEY}"}}'
)


def query(keys: dict[str, str] | None) -> dict[str, object]:
    devices = {} if keys is None else {"PIXBOT": {"keys": keys}}
    return {"device_keys": {"@bot:x": devices}}


def test_the_servers_keys_are_compared_with_the_stores() -> None:
    same = {"ed25519:PIXBOT": "ED", "curve25519:PIXBOT": "CU"}
    assert server_device_match(query(same), "@bot:x", "PIXBOT", "ED", "CU") == DeviceMatch.SAME
    other = {"ed25519:PIXBOT": "ED2", "curve25519:PIXBOT": "CU"}
    assert server_device_match(query(other), "@bot:x", "PIXBOT", "ED", "CU") == "different"
    assert server_device_match(query(None), "@bot:x", "PIXBOT", "ED", "CU") == "missing"
    # Missing keys are expected before the first upload, fatal after it.
    assert needs_new_device(DeviceMatch.MISSING, published_before=False) is None
    assert needs_new_device(DeviceMatch.MISSING, published_before=True) == "device_recreated"
    assert needs_new_device(DeviceMatch.DIFFERENT, published_before=False) == "store_mismatch"
    assert needs_new_device(DeviceMatch.SAME, published_before=True) is None


def test_readiness_says_why_agents_cannot_reach_the_bot() -> None:
    def state(**changes: object) -> Readiness:
        known: dict[str, object] = {
            "e2ee": True,
            "started": True,
            "match": DeviceMatch.SAME,
            "one_time_keys": 50,
            "cross_signed": True,
            "upload_failure": None,
        }
        known.update(changes)
        return assess(**known)  # type: ignore[arg-type]

    assert state() == Readiness.READY
    assert state(e2ee=False) == Readiness.NO_E2EE
    assert state(started=False) == Readiness.STARTING
    assert state(match=DeviceMatch.MISSING) == Readiness.KEYS_NOT_PUBLISHED
    assert state(match=DeviceMatch.DIFFERENT) == Readiness.KEYS_MISMATCH
    assert state(one_time_keys=0) == Readiness.NO_ONE_TIME_KEYS
    assert state(cross_signed=False) == Readiness.NOT_CROSS_SIGNED
    assert state(upload_failure="x") == Readiness.KEY_UPLOAD_FAILING


def test_new_device_ids_are_derived_from_the_configured_one() -> None:
    first, second = derive_device_id("PIXBOT"), derive_device_id("PIXBOT")
    assert first.startswith("PIXBOT-") and len(first) == len("PIXBOT-") + 6
    assert first != second
    assert derive_device_id(first).startswith("PIXBOT-")  # not PIXBOT-AAAAAA-BBBBBB


def test_upload_refusals_carry_no_key_material() -> None:
    cause = upload_failure_cause("M_UNKNOWN", SYNAPSE_REFUSAL)
    assert cause == "one_time_key_already_exists"
    other = upload_failure_cause("M_INVALID_PARAM", f"bad key {OLD_KEY} here")
    assert OLD_KEY not in other and other.startswith("M_INVALID_PARAM")


def platform(tmp_path: Path, **options: object) -> MatrixPlatform:
    made = MatrixPlatform(
        homeserver="http://127.0.0.1:9",
        user_id="@bot:x",
        password="secret",
        store_path=tmp_path / "store",
        **options,  # type: ignore[arg-type]
    )
    made.login.new_client()
    return made


def test_key_upload_errors_are_reported_once_per_cause(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bot = platform(tmp_path)
    refused = KeysUploadError.from_dict({"errcode": "M_UNKNOWN", "error": SYNAPSE_REFUSAL})
    too_big = KeysUploadError.from_dict({"errcode": "M_TOO_LARGE", "error": "too large"})
    with caplog.at_level(logging.DEBUG):
        for _ in range(3):
            with pytest.raises(DeviceLost) as lost:
                bot.keys.upload_answered(refused)
            assert lost.value.reason == "keys_rejected"
            bot.keys.upload_answered(too_big)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 2, errors
    assert "one_time_key_already_exists" in errors[0] and "M_TOO_LARGE" in errors[1]
    assert OLD_KEY not in caplog.text and NEW_KEY not in caplog.text
    status = (tmp_path / "store" / "device-status.json").read_text()
    assert OLD_KEY not in status and "key_upload_failing" not in status  # not started yet


def test_health_reports_a_connected_but_unreachable_bot(tmp_path: Path) -> None:
    bot = platform(tmp_path)
    assert isinstance(bot, ReportsReadiness)
    bot.connection.started = True
    bot.keys.match = DeviceMatch.DIFFERENT
    check = platform_check(bot, "up")
    assert check == {
        "status": "unreachable_by_people",
        "name": "matrix",
        "reason": "device_keys_mismatch",
    }
    assert platform_check(bot, "starting") == {"status": "starting", "name": "matrix"}


def test_healing_that_needs_a_person_stops_with_one_french_line(tmp_path: Path) -> None:
    token_only = MatrixPlatform(
        homeserver="http://127.0.0.1:9",
        user_id="@bot:x",
        access_token="token",
        store_path=tmp_path / "store",
    )
    token_only.login.new_client()
    line = token_only.healing.blocker("logged_out", "PIXBOT")
    assert line is not None and "[matrix] password" in line and "\n" not in line
    bot = platform(tmp_path)
    bot.keys.has_identity = True
    line = bot.healing.blocker("store_mismatch", "PIXBOT")
    assert line is not None and "recovery_key" in line
    with_key = platform(tmp_path, recovery_key="EsTc 5rr1")
    with_key.keys.has_identity = True
    assert with_key.healing.blocker("store_mismatch", "PIXBOT") is None
    assert issubclass(MatrixNeedsOperator, PlatformNeedsOperator)
