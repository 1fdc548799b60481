"""What pixbot keeps of the MaDDo payloads: an allow-list, read without any network (sans-I/O).

A participation arrives with its results (``masteryRate``, ``pixScore``, ``stages``, ``badges``,
``tubes``) and more; :func:`participation` copies exactly the fields of :data:`KEPT` into a
:class:`PixParticipation` and never looks at anything else, so no result ever travels further
than the decoded JSON of one page. The names are only used, in memory, to match a participant
as a last resort; they are never written anywhere.
"""

from __future__ import annotations

import base64
import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# The only participation fields pixbot reads. Everything else (results, unknown fields) is
# dropped with the page.
KEPT = frozenset(
    {
        "id",
        "status",
        "createdAt",
        "sharedAt",
        "participantExternalId",
        "participantFirstName",
        "participantLastName",
    }
)
MAX_TEXT = 255  # an external id or a name longer than this is not one


class PixStatus(enum.StrEnum):
    STARTED = "STARTED"
    # Older Pix servers: the parcours is finished, the results not yet sent.
    TO_SHARE = "TO_SHARE"
    SHARED = "SHARED"


class SchemaError(ValueError):
    """A payload does not follow the published schema (the message says where)."""


@dataclass(frozen=True, slots=True)
class PixOrganization:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class PixCampaign:
    id: int
    organization_id: int
    code: str
    name: str
    archived: bool


@dataclass(frozen=True, slots=True)
class PixParticipation:
    id: int
    status: PixStatus
    created_at: datetime | None
    shared_at: datetime | None
    external_id: str | None
    first_name: str | None
    last_name: str | None

    @property
    def completed(self) -> bool:
        """Finished: results sent (SHARED), or the parcours done on an older server
        (TO_SHARE): either way the agent has nothing left to be reminded of."""
        return self.status in (PixStatus.SHARED, PixStatus.TO_SHARE)


@dataclass(frozen=True, slots=True)
class Page:
    items: list[PixParticipation]
    number: int
    count: int  # the number of pages
    skipped: int  # items not understood (unknown status, no id)


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SchemaError(f"{where}: expected an integer")
    return value


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value[:MAX_TEXT] if value else None


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def participation(raw: Any) -> PixParticipation | None:
    """The allowed fields of one participation, or None when it has no id or an unknown
    status (counted as skipped, never guessed)."""
    if not isinstance(raw, Mapping):
        return None
    kept = {key: raw[key] for key in KEPT if key in raw}
    ident = kept.get("id")
    if isinstance(ident, bool) or not isinstance(ident, int):
        return None
    try:
        status = PixStatus(str(kept.get("status", "")).upper())
    except ValueError:
        return None
    return PixParticipation(
        id=ident,
        status=status,
        created_at=_moment(kept.get("createdAt")),
        shared_at=_moment(kept.get("sharedAt")),
        external_id=_text(kept.get("participantExternalId")),
        first_name=_text(kept.get("participantFirstName")),
        last_name=_text(kept.get("participantLastName")),
    )


def _page_info(body: Mapping[str, Any], where: str) -> tuple[int, int]:
    page = body.get("page")
    if not isinstance(page, Mapping):
        raise SchemaError(f"{where}: no page information")
    return _int(page.get("number"), f"{where}.page.number"), _int(
        page.get("count"), f"{where}.page.count"
    )


def participations_page(body: Any) -> Page:
    """``GET /api/campaigns/{id}/participations``: ``{campaignParticipations: [...], page:
    {number, size, count}}``."""
    if not isinstance(body, Mapping) or not isinstance(body.get("campaignParticipations"), list):
        raise SchemaError("participations: expected campaignParticipations")
    number, count = _page_info(body, "participations")
    items: list[PixParticipation] = []
    skipped = 0
    for raw in body["campaignParticipations"]:
        item = participation(raw)
        if item is None:
            skipped += 1
        else:
            items.append(item)
    return Page(items, number, count, skipped)


def organizations(body: Any) -> list[PixOrganization]:
    """``GET /api/organizations``: a list of ``{id, name, externalId}``."""
    if not isinstance(body, list):
        raise SchemaError("organizations: expected a list")
    found = []
    for index, raw in enumerate(body):
        if not isinstance(raw, Mapping):
            raise SchemaError(f"organizations[{index}]: expected an object")
        found.append(
            PixOrganization(
                _int(raw.get("id"), f"organizations[{index}].id"), _text(raw.get("name")) or ""
            )
        )
    return found


def campaigns_page(body: Any, organization_id: int) -> tuple[list[PixCampaign], int, int]:
    """``GET /api/organizations/{id}/campaigns``: ``{campaigns: [...], page: {...}}``; returns
    the campaigns, the page number and the page count."""
    if not isinstance(body, Mapping) or not isinstance(body.get("campaigns"), list):
        raise SchemaError("campaigns: expected campaigns")
    number, count = _page_info(body, "campaigns")
    found = []
    for index, raw in enumerate(body["campaigns"]):
        if not isinstance(raw, Mapping):
            raise SchemaError(f"campaigns[{index}]: expected an object")
        code = _text(raw.get("code"))
        if code is None:
            continue
        found.append(
            PixCampaign(
                id=_int(raw.get("id"), f"campaigns[{index}].id"),
                organization_id=organization_id,
                code=code.upper(),
                name=_text(raw.get("name")) or "",
                archived=bool(raw.get("archivedAt")),
            )
        )
    return found, number, count


def token_expiry(token: str) -> datetime | None:
    """The ``exp`` claim of a JWT (the API gives no ``expires_in``), read without checking the
    signature: only to renew the token before it expires. None when it cannot be read."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
        exp = claims["exp"]
    except (ValueError, KeyError, TypeError):
        return None
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        return None
    try:
        return datetime.fromtimestamp(exp, UTC)
    except (OverflowError, OSError, ValueError):
        return None
