"""Launching a campaign: the one home of ``campagne lancer`` and of the plan's launch step.

Invitations, the launch step of the plan, the audit entry and the batch report are written
here, in the caller's unit of work; the caller only says (a chat reply) or reports (the
scheduler's notices) what :class:`Launched` tells.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from bot.core import Member
from bot.domain import Campaign
from bot.services.campaigns import Batch, CampaignService, LaunchResult
from bot.services.ports import Actor, Planning
from storage.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class Launched:
    # An event campaign whose invitations are planned for a later day: the launch is
    # confirmed (the plan sends them then), nothing leaves now.
    planned: bool = False
    planned_at: datetime | None = None
    # A room audience whose members the platform could not tell: nothing was done.
    room_unknown: bool = False
    result: LaunchResult | None = None
    # Room members or listed ids that are not known agents of the campaign's service.
    rejected: int = 0


def rooms_to_look_up(uow: UnitOfWork, code: str) -> set[str]:
    """The rooms whose members a launch of ``code`` needs, asked of the platform before the
    transaction: those of every service's campaign with that code (the launch itself checks
    whose campaign it is)."""
    return {c.audience_value for c in uow.campaigns.with_code(code) if c.audience_kind == "room"}


def _at_once(report: Callable[[], None]) -> None:
    report()


def launch(
    uow: UnitOfWork,
    campaign: Campaign,
    now: datetime,
    actor: Actor,
    *,
    campaigns: CampaignService,
    planning: Planning,
    members: Sequence[Member] | None = None,
    by_step: bool = False,
    report_after: Callable[[Callable[[], None]], None] = _at_once,
) -> Launched:
    """Invite the campaign's audience (each person once, ever) and record the launch.

    ``members`` are a room audience's members, looked up before the transaction. ``by_step``:
    the scheduler runs the plan's launch step, already marked done at its own time (a launch
    by hand marks it done itself). A batch none of whose invitations was queued is reported
    here, whatever the caller (a missing summary would tell that every newcomer said "stop
    tout"); ``report_after`` lets a chat handler write its reply first.
    """
    if planning.launch_is_planned(uow, campaign, now):
        return Launched(
            planned=True, planned_at=planning.confirm_planned_launch(uow, campaign, now)
        )
    if campaign.audience_kind == "room" and members is None:
        return Launched(room_unknown=True)
    resolved = campaigns.resolve(uow, campaign, members)
    batch = Batch(
        "launch",
        campaign.id,
        actor.origin,
        initiator_id=actor.person_id,
        conversation_id=actor.conversation_id,
    )
    result = campaigns.invite(uow, campaign, resolved.people, now, batch)
    uow.audit.add(actor.audit_name, "campaign_launch", now, campaign.id, count=result.new)
    if by_step:
        # The plan marked its step done; the audience's time zones are known only now.
        planning.retime_reminders(uow, campaign, now)
    else:
        planning.launched(uow, campaign, now, result.queued_until)
    if result.unsent_batch is not None:
        report_after(partial(campaigns.report_batch, uow, result.unsent_batch, now, final=True))
    return Launched(result=result, rejected=resolved.rejected)
