"""Creating a campaign: the one home of ``campagne créer`` (the CLI and the demo write their
own fixtures).

The campaign row and its reminder plan are written together or not at all; the audit entry
is written here; the caller says what :class:`Created` tells.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from bot.core import Member
from bot.domain import Campaign, StepView
from bot.parsing import CreateRequest
from bot.services.campaigns import CampaignService, resolve_list
from bot.services.ports import Actor, Planning
from storage.errors import DuplicateError
from storage.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class Created:
    campaign: Campaign | None = None
    plan: list[StepView] = field(default_factory=list)
    # Known agents of the campaign's service in the audience today, and the ids or room
    # members that are not (said in words under the disclosure threshold by the caller).
    size: int = 0
    rejected: int = 0
    # Nothing was created: the service already has this code; no working slot is left
    # before the deadline; the room's members could not be read.
    duplicate: bool = False
    impossible: bool = False
    room_unknown: bool = False


def create(
    uow: UnitOfWork,
    request: CreateRequest,
    service: str,
    now: datetime,
    actor: Actor,
    *,
    campaigns: CampaignService,
    planning: Planning,
    today: date,
    members: Sequence[Member] | None = None,
) -> Created:
    """Create ``request`` for ``service`` (the caller checked the sender may act on it) with
    its plan. ``members``: a room audience's members, looked up before the transaction."""
    audience = request.audience
    kind, value = ("service", service) if audience is None else (audience.kind, audience.value)
    if kind == "service":
        value = service
    if kind == "room" and members is None:
        return Created(room_unknown=True)
    rejected = 0
    if kind == "list" and audience is not None:
        # Only known agents of the service are kept (by internal id): nobody is created.
        resolved = resolve_list(uow, service, audience.ids)
        value = ",".join(f"#{p.id}" for p in resolved.people)
        rejected = resolved.rejected
    try:
        with uow.atomic():
            campaign = uow.campaigns.create(
                code=request.code.code,
                title=request.title,
                url=request.code.url,
                service=service,
                deadline=request.deadline or today,
                audience_kind=kind,
                audience_value=value,
                now=now,
                created_by=actor.person_id,
                parcours=request.parcours,
                event_name=request.event_name,
                event_date=request.event_date,
            )
            plan = planning.replan(uow, campaign, now)
    except DuplicateError:
        return Created(duplicate=True)
    except ValueError:
        # No working slot left before the deadline, or a launch after it: nothing is kept.
        return Created(impossible=True)
    uow.audit.add(actor.audit_name, "campaign_create", now, campaign.id)
    found = campaigns.resolve(uow, campaign, members)
    return Created(
        campaign,
        plan,
        size=len(found.people),
        rejected=rejected if kind == "list" else found.rejected,
    )
