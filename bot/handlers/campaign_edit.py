"""``campagne modifier CODE fin DATE · titre "…" · avant "Événement" le DATE``: correct a
campaign (draft or running) instead of re-creating it (``bot/services/edit.py``): the new
plan is shown."""

from __future__ import annotations

from bot.handlers.arguments import CampaignArg, open_campaign, today
from bot.parsing import ParseError, check_dates, parse_edit
from bot.router import AMBASSADORS, Context, HelpLine, Router
from bot.services.edit import edit as edit_campaign

router = Router()


@router.command(
    "campagne modifier",
    "campaign edit",
    "campagne corriger",
    roles=AMBASSADORS,
    help=HelpLine("ambassador", "edit"),
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
    edited = edit_campaign(
        ctx.uow,
        campaign,
        request,
        ctx.now,
        ctx.actor,
        campaigns=ctx.deps.campaigns,
        planning=ctx.deps.planner,
    )
    if edited.campaign is None:
        # No working slot left before the new deadline: nothing is kept.
        ctx.say("error_plan_impossible", deadline=deadline, editing=True)
        return
    ctx.say(
        "campaign_edited",
        campaign=edited.campaign,
        before=campaign,
        request=request,
        closes_at=edited.closes_at,
        steps=edited.plan,
        earlier=edited.earlier,
    )
