"""``campagne modifier CODE fin DATE · titre "…" · avant "Événement" le DATE``: correct a
campaign (draft or running) instead of re-creating it.

Reminders are replanned and the new plan shown. Agents already invited are told only when the
campaign now closes earlier than they were told (a later date needs no message: the next
reminder carries it); that notice follows the sending policy like every campaign message.
"""

from __future__ import annotations

from bot.handlers.arguments import CampaignArg, open_campaign, today
from bot.parsing import ParseError, check_dates, parse_edit
from bot.router import AMBASSADORS, Context, HelpLine, Router

router = Router()


@router.command(
    "campagne modifier",
    "campaign edit",
    "campagne corriger",
    roles=AMBASSADORS,
    help=HelpLine("ambassador", "edit"),
    audit="campaign_edit",
    takes=open_campaign,
)
def edit(ctx: Context, target: CampaignArg) -> None:
    campaign, rest = target
    local_today = today(ctx).date()
    try:
        request = parse_edit(rest, local_today)
        deadline = request.deadline or campaign.deadline
        event_date = request.event_date or campaign.event_date
        if request.deadline is not None or request.event_date is not None:
            check_dates(deadline, event_date, local_today, ctx.policy.deadline_horizon_days)
    except ParseError as error:
        ctx.say(error.template, editing=True, code=campaign.code, **error.variables)
        return
    uow, campaigns, planner = ctx.uow, ctx.deps.campaigns, ctx.deps.planner
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
            steps = planner.replan(uow, updated, ctx.now)
    except ValueError:
        # No working slot left before the new deadline: nothing is kept.
        ctx.say("error_plan_impossible", deadline=deadline, editing=True)
        return
    closes = campaigns.closes_at(uow, updated)
    told = 0
    if closed_before is not None and closes is not None and closes < closed_before:
        for state in campaigns.due_for_reminder(uow, updated):
            told += ctx.notify(
                state.person,
                "campaign_deadline_moved",
                f"moved:{updated.id}:{closes.isoformat()}:{state.person.id}",
                campaign_id=updated.id,
                kind="notice",
                not_before=campaigns.leaves_at(state.person, ctx.now),
                campaign=updated,
                closes_at=closes,
                zone=state.person.timezone,
            )
    ctx.audit(updated.id, count=told)
    ctx.say(
        "campaign_edited",
        campaign=updated,
        before=campaign,
        request=request,
        closes_at=closes,
        steps=steps,
        # Whether anyone was told is "invited minus done or stopped", live: never said (#23).
        earlier=closes is not None and closed_before is not None and closes < closed_before,
    )
