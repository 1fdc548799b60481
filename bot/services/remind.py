"""Reminding a campaign's agents: the one home of ``campagne relancer`` (a manual relance) and
of the plan's reminder steps (planned, and "plus tard").

Who gets a reminder (neither done nor stopped) and the text are
:meth:`CampaignService.remind`'s; when each one leaves, in its recipient's time zone, is
:meth:`CampaignService.leaves_at`'s, for every kind of reminder alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from bot.domain import Campaign, CampaignStatus, ReminderStep
from bot.services.campaigns import CampaignService
from bot.services.ports import Actor
from storage.uow import UnitOfWork

# The audit action of a relance, manual or planned: a manual one is allowed once per campaign
# and working day (its detail is that day).
REMIND = "campaign_remind"


@dataclass(frozen=True, slots=True)
class Reminded:
    # Nothing was sent: the campaign is not running (any more).
    not_running: bool = False
    # Nothing was sent: a manual relance already went out for this working day.
    already_on: date | None = None
    # New reminders queued ("audience minus done or stopped", live: never said as a number).
    count: int = 0
    # A manual relance outside working hours: when it leaves (the bot's time zone).
    queued_until: datetime | None = None


def remind(
    uow: UnitOfWork,
    campaign: Campaign,
    now: datetime,
    actor: Actor,
    *,
    campaigns: CampaignService,
    step: ReminderStep | None = None,
) -> Reminded:
    """Queue a reminder to every agent of the campaign still due.

    Without ``step``, a manual relance: at most once per campaign and working day, leaving at
    each agent's next working slot. With a planned reminder step, each agent gets it on the
    step's day at the start of their working hours (never before their next working slot).
    With a "plus tard" step, only the agent who asked gets it.
    """
    if campaign.status != CampaignStatus.RUNNING:
        return Reminded(not_running=True)
    if step is None:
        queued_until = campaigns.leaves_at(None, now)
        day = (queued_until or now).astimezone(campaigns.tz).date()
        if uow.audit.exists(REMIND, campaign.id, day.isoformat()):
            return Reminded(already_on=day)
        count = campaigns.remind(uow, campaign, f"manual-{day.isoformat()}", now)
        uow.audit.add(
            actor.audit_name, REMIND, now, campaign.id, count=count, detail=day.isoformat()
        )
        return Reminded(count=count, queued_until=queued_until)
    if step.kind == "snooze":
        # It exists only because one agent said "plus tard": no audit entry tells it.
        if step.person_id is None:
            return Reminded()
        only = {step.person_id}
        count = campaigns.remind(
            uow, campaign, f"snooze{step.id}", now, label="plus tard", only=only
        )
        return Reminded(count=count)
    count = campaigns.remind(uow, campaign, f"step{step.id}", now, label=step.label, day=step.day)
    uow.audit.add(actor.audit_name, REMIND, now, campaign.id, count=count, detail=step.label)
    return Reminded(count=count)
