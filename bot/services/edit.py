"""Correcting a campaign: the one home of ``campagne modifier`` and ``campagne rappels``.

The campaign and its replanned reminders are written together or not at all. Agents already
invited are told only when the campaign now closes earlier than they were told (a later date
needs no message: the next reminder carries it); that notice follows the sending policy like
every campaign message. The audit entry is written here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.domain import Campaign, StepView
from bot.parsing import EditRequest
from bot.services.campaigns import CampaignService
from bot.services.ports import Actor, Planning
from storage.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class Edited:
    # None: no working slot is left before the new deadline; nothing was changed.
    campaign: Campaign | None = None
    plan: list[StepView] = field(default_factory=list)
    closes_at: datetime | None = None
    # The campaign closes earlier than agents were told (whether anyone was told is
    # "invited minus done or stopped", live: never said).
    earlier: bool = False


def edit(
    uow: UnitOfWork,
    campaign: Campaign,
    request: EditRequest,
    now: datetime,
    actor: Actor,
    *,
    campaigns: CampaignService,
    planning: Planning,
) -> Edited:
    """Apply ``request`` (checked by the caller) to ``campaign`` and replan it."""
    closed_before = campaigns.closes_at(uow, campaign)
    try:
        with uow.atomic():
            uow.campaigns.edit(
                campaign.id,
                title=request.title,
                deadline=request.deadline,
                event_name=request.event_name,
                event_date=request.event_date,
            )
            updated = uow.campaigns.get(campaign.id)
            assert updated is not None
            plan = planning.replan(uow, updated, now)
    except ValueError:
        return Edited()
    closes = campaigns.closes_at(uow, updated)
    earlier = closed_before is not None and closes is not None and closes < closed_before
    told = 0
    if earlier and closes is not None:
        for state in campaigns.due_for_reminder(uow, updated):
            told += campaigns.notifier.to_person(
                uow,
                state.person,
                "campaign_deadline_moved",
                key=f"moved:{updated.id}:{closes.isoformat()}:{state.person.id}",
                now=now,
                campaign_id=updated.id,
                kind="notice",
                not_before=campaigns.leaves_at(state.person, now),
                campaign=updated,
                closes_at=closes,
                zone=state.person.timezone,
            )
    uow.audit.add(actor.audit_name, "campaign_edit", now, updated.id, count=told)
    return Edited(updated, plan, closes, earlier)


@dataclass(frozen=True, slots=True)
class Replanned:
    """``campagne rappels``: the campaign with its new reminder offsets, and its plan."""

    campaign: Campaign
    plan: list[StepView]
    # Offsets asked for that the plan could not keep as a reminder.
    dropped: list[str]
    # No planned reminder is left.
    none_left: bool


def set_reminders(
    uow: UnitOfWork, campaign: Campaign, text: str, now: datetime, *, planning: Planning
) -> Replanned:
    """Replace the reminder offsets of ``campaign`` by those ``text`` lists and replan it;
    raises ``bot.parsing.ParseError`` (nothing changed) when ``text`` is not a list of
    offsets. The audit entry is the route's (``campaign_reminders``)."""
    plan = planning.set_reminders(uow, campaign, text, now)
    updated = uow.campaigns.get(campaign.id) or campaign
    requested = [label for label in (updated.reminders or "").split(",") if label]
    kept = {step.label for step in plan if step.kind == "reminder"}
    return Replanned(
        updated,
        plan,
        dropped=[label for label in requested if label not in kept],
        none_left=not any(s.kind == "reminder" and s.status == "planned" for s in plan),
    )
