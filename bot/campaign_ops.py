"""Campaign operations shared by chat handlers, the CLI and scheduled jobs.

Each function works inside the caller's unit of work and only enqueues messages; the outbox
sends them. Keys make every operation idempotent: an invitation is ``inv:CAMPAIGN:PERSON``,
a reminder ``rem:CAMPAIGN:STEP:PERSON``, so running any of them twice sends nothing new.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from bot.core import Button, DeliveryError
from bot.domain import (
    Campaign,
    CampaignStatus,
    Participation,
    ParticipationKind,
    ParticipationStatus,
    Person,
)
from bot.parsing import ParseError
from bot.stats import CampaignStats, campaign_stats
from storage.uow import UnitOfWork

if TYPE_CHECKING:
    from bot.app import App


def agent_buttons(app: App, person: Person) -> tuple[Button, ...]:
    """The quick replies of invitations and reminders, in the person's language."""
    locale = app.renderer.locale_for(person.locale or app.settings.bot.locale)
    lines = app.renderer.render("agent_buttons", locale).splitlines()
    return tuple(Button(*line.split("|", 1)) for line in lines if "|" in line)


@dataclass(frozen=True, slots=True)
class Batch:
    """Who to report a batch send to. Encoded in the outbox rows so it survives restarts."""

    action: str
    campaign_id: int
    conversation_id: str
    origin: str

    def encode(self) -> str:
        return f"{self.action}|{self.campaign_id}|{self.origin}|{self.conversation_id}"

    @classmethod
    def decode(cls, text: str) -> Batch | None:
        parts = text.split("|", 3)
        if len(parts) != 4 or not parts[1].isdigit():
            return None
        return cls(parts[0], int(parts[1]), parts[3], parts[2])

    @property
    def digest(self) -> str:
        return hashlib.sha1(self.encode().encode()).hexdigest()[:16]


async def resolve_audience(
    app: App, uow: UnitOfWork, campaign: Campaign, now: datetime
) -> list[Person]:
    """The people a campaign targets right now (a service's agents, a room's members, a list)."""
    if campaign.audience_kind == "service":
        return uow.people.in_service(campaign.audience_value)
    if campaign.audience_kind == "room":
        try:
            members = await app.platform.room_members(campaign.audience_value)
        except DeliveryError as error:
            raise ParseError("error_room_unknown", room=campaign.audience_value) from error
        return [
            uow.people.ensure(m.platform_id, m.display_name, now)
            for m in members
            if not m.is_bot and m.platform_id != app.platform.bot_id
        ]
    return [uow.people.ensure(pid, None, now) for pid in campaign.audience_value.split(",") if pid]


async def audience_size(app: App, uow: UnitOfWork, campaign: Campaign) -> int:
    """How many people the audience has today, without recording anyone."""
    if campaign.audience_kind == "service":
        return len(uow.people.in_service(campaign.audience_value))
    if campaign.audience_kind == "room":
        try:
            members = await app.platform.room_members(campaign.audience_value)
        except DeliveryError:
            return 0
        return sum(1 for m in members if not m.is_bot and m.platform_id != app.platform.bot_id)
    return len([pid for pid in campaign.audience_value.split(",") if pid])


@dataclass(frozen=True, slots=True)
class LaunchResult:
    new: int
    already: int
    skipped_opted_out: int


def invite(
    app: App,
    uow: UnitOfWork,
    campaign: Campaign,
    people: list[Person],
    now: datetime,
    batch: Batch | None,
) -> LaunchResult:
    """Invite everyone not invited yet (one invitation per person and campaign, ever)."""
    opted_out = uow.participation.opted_out_all([p.id for p in people])
    uow.campaigns.add_audience(campaign.id, [p.id for p in people], now)
    new = already = skipped = 0
    for person in people:
        if uow.participation.has_event(campaign.id, person.id, ParticipationKind.INVITED):
            already += 1
            continue
        if person.id in opted_out:
            skipped += 1
            continue
        app.enqueue_to_person(
            uow,
            person,
            "invitation",
            key=f"inv:{campaign.id}:{person.id}",
            now=now,
            campaign_id=campaign.id,
            kind="invitation",
            batch=batch.encode() if batch else None,
            buttons=agent_buttons(app, person),
            person=person,
            campaign=campaign,
        )
        uow.participation.record(
            person.id, ParticipationKind.INVITED, now, campaign.id, source="system"
        )
        new += 1
    if campaign.status in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED):
        uow.campaigns.set_status(campaign.id, CampaignStatus.RUNNING)
    return LaunchResult(new, already, skipped)


def due_for_reminder(uow: UnitOfWork, campaign: Campaign) -> list[Participation]:
    """Audience members neither done nor stopped (for this campaign or all campaigns)."""
    states = uow.participation.states(campaign.id)
    opted_out_all = uow.participation.opted_out_all(states)
    return [
        state
        for pid, state in states.items()
        if state.status in (ParticipationStatus.INVITED, ParticipationStatus.STARTED)
        and pid not in opted_out_all
    ]


def remind(
    app: App,
    uow: UnitOfWork,
    campaign: Campaign,
    step_key: str,
    now: datetime,
    *,
    batch: Batch | None = None,
    label: str = "",
    not_before: dict[int, datetime] | None = None,
    only: set[int] | None = None,
) -> int:
    """Enqueue one reminder per due person (or per due person of ``only``) for this step;
    returns how many are new."""
    sent = 0
    for state in due_for_reminder(uow, campaign):
        person = state.person
        if only is not None and person.id not in only:
            continue
        if app.enqueue_to_person(
            uow,
            person,
            "reminder",
            key=f"rem:{campaign.id}:{step_key}:{person.id}",
            now=now,
            campaign_id=campaign.id,
            kind="reminder",
            batch=batch.encode() if batch else None,
            buttons=agent_buttons(app, person),
            not_before=(not_before or {}).get(person.id),
            person=person,
            campaign=campaign,
            started=state.status == ParticipationStatus.STARTED,
            label=label,
        ):
            sent += 1
    return sent


def stats(uow: UnitOfWork, campaign: Campaign, min_group: int) -> CampaignStats:
    return campaign_stats(uow.participation.states(campaign.id).values(), min_group)


def close(app: App, uow: UnitOfWork, campaign: Campaign, now: datetime, *, thank: bool) -> int:
    """Close a campaign: cancel what is pending, thank completers; returns the thanks count."""
    uow.campaigns.set_status(campaign.id, CampaignStatus.CLOSED)
    uow.steps.cancel_planned(campaign.id)
    uow.outbox.cancel_pending(campaign.id)
    thanked = 0
    if thank:
        for pid, state in uow.participation.states(campaign.id).items():
            if state.status == ParticipationStatus.COMPLETED and app.enqueue_to_person(
                uow,
                state.person,
                "thanks",
                key=f"thanks:{campaign.id}:{pid}",
                now=now,
                campaign_id=campaign.id,
                kind="thanks",
                person=state.person,
                campaign=campaign,
            ):
                thanked += 1
    return thanked


def cancel(uow: UnitOfWork, campaign: Campaign) -> int:
    uow.campaigns.set_status(campaign.id, CampaignStatus.CANCELLED)
    uow.steps.cancel_planned(campaign.id)
    return uow.outbox.cancel_pending(campaign.id)
