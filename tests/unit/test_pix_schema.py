"""The pure parts of the Pix API sync: the allow-list, the JWT expiry, Retry-After, settings."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from bot.config import ConfigError, load_settings
from bot.pix.client import iso, retry_after
from bot.pix.schema import (
    KEPT,
    PixStatus,
    SchemaError,
    participation,
    participations_page,
    token_expiry,
)
from tests.helpers.pix_fake import Participation, make_token

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def test_only_the_allowed_fields_are_read() -> None:
    raw = Participation(7, "a@b.fr", "Léa", "Durand", "SHARED", shared_at=NOW).payload(555)
    assert {"masteryRate", "pixScore", "stages", "badges", "tubes", "unknownField"} <= set(raw)
    item = participation(raw)
    assert item is not None
    assert (item.id, item.status, item.external_id, item.shared_at) == (
        7,
        PixStatus.SHARED,
        "a@b.fr",
        NOW,
    )
    # The dataclass has no room for anything else.
    assert set(type(item).__slots__) == {
        "id",
        "status",
        "created_at",
        "shared_at",
        "external_id",
        "first_name",
        "last_name",
    }
    assert {
        "id",
        "status",
        "createdAt",
        "sharedAt",
        "participantExternalId",
        "participantFirstName",
        "participantLastName",
    } == KEPT


@pytest.mark.parametrize(
    "raw",
    [
        {"status": "SHARED"},  # no id
        {"id": True, "status": "SHARED"},  # a boolean is not an id
        {"id": 3, "status": "DELETED"},  # a status nobody documented
        "not an object",
    ],
)
def test_what_is_not_understood_is_skipped_never_guessed(raw: object) -> None:
    assert participation(raw) is None


def test_a_page_counts_what_it_skipped_and_refuses_another_shape() -> None:
    page = participations_page(
        {
            "campaignParticipations": [{"id": 1, "status": "STARTED"}, {"id": 2, "status": "?"}],
            "page": {"number": 1, "size": 200, "count": 1},
        }
    )
    assert (len(page.items), page.skipped, page.count) == (1, 1, 1)
    with pytest.raises(SchemaError):
        participations_page({"data": []})


def test_the_token_expiry_is_read_from_its_jwt() -> None:
    assert token_expiry(make_token(1, NOW)) == NOW
    assert token_expiry("opaque-token") is None
    claims = base64.urlsafe_b64encode(json.dumps({"sub": 1}).encode()).decode()
    assert token_expiry(f"x.{claims}.y") is None


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert retry_after("7", NOW) == 7.0
    assert retry_after("Mon, 23 Nov 2026 09:00:30 GMT", NOW) == 30.0
    assert retry_after("soon", NOW) is None and retry_after(None, NOW) is None


def test_since_is_iso_utc_with_milliseconds() -> None:
    assert iso(NOW.replace(microsecond=123456)) == "2026-11-23T09:00:00.123Z"


def test_an_api_url_needs_credentials_and_the_secret_is_never_echoed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PIXBOT_CONFIG", raising=False)
    with pytest.raises(ConfigError, match=r"client_id et pix\.client_secret"):
        load_settings(None, pix={"api_url": "https://api.pix.fr", "client_id": "x"})
    with pytest.raises(ConfigError, match=r"pix\.api_url"):
        load_settings(None, pix={"api_url": "ftp://pix"})
    monkeypatch.setenv("PIXBOT_PIX__CLIENT_SECRET", "top-secret")
    settings = load_settings(None, pix={"api_url": "https://api.pix.fr/", "client_id": "x"})
    assert settings.pix.api_url == "https://api.pix.fr"
    assert "top-secret" not in repr(settings)
