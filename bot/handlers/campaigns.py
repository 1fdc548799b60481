"""Ambassador commands: ``campagne créer|lancer|liste|voir|relancer|rappels|stats|clore``…"""

from __future__ import annotations

from datetime import timedelta

from bot.core import Member
from bot.handlers.arguments import CampaignArg, any_campaign, open_campaign, service_for, today
from bot.parsing import ParseError, parse_code, parse_create, split_code_arg
from bot.privacy import audience_figure
from bot.router import AMBASSADORS, Context, Deps, HelpLine, Read, Router
from bot.services.charts import chart_ref, has_chart
from bot.services.close import close as close_campaign
from bot.services.create import create as create_campaign
from bot.services.edit import set_reminders as replan_reminders
from bot.services.launch import launch as launch_campaign
from bot.services.launch import rooms_to_look_up
from bot.services.ministry import stats_among_ministry
from bot.services.overview import campaign_rows, campaign_view
from bot.services.remind import remind
from bot.text import fold, is_no, is_yes

router = Router()
router.family("campagne", "campaign", "campagnes", "campaigns", help_key="campaign")

CONFIRM_WINDOW = timedelta(minutes=10)


class RoomLookup:
    """What a prefetch learnt about a room audience: its members, or that it is unknown."""

    def __init__(self, room: str, members: list[Member] | None) -> None:
        self.room = room
        self.members = members


class RoomLookups(list[RoomLookup]):
    """Several services may use one code: the rooms of each (the handler checks rights)."""


async def _room_of_request(deps: Deps, read: Read, args: str) -> RoomLookup | None:
    """``campagne créer … pour salon X``: look the room up before the transaction."""
    try:
        audience = parse_create(
            args,
            deps.clock.now().astimezone(deps.renderer.timezone).date(),
            deps.policy.deadline_horizon_days,
        ).audience
    except ParseError:
        return None
    if audience is None or audience.kind != "room":
        return None
    return RoomLookup(audience.value, await deps.directory.room_members(audience.value))


async def _room_of_campaign(deps: Deps, read: Read, args: str) -> RoomLookups | None:
    """``campagne lancer CODE`` for a room audience: its members, before the transaction.

    Only the room id is read here; the handler checks the sender's rights as usual.
    """
    try:
        code = parse_code(split_code_arg(args)[0]).code
    except ParseError:
        return None
    rooms = await read(lambda uow: rooms_to_look_up(uow, code))
    lookups = RoomLookups()
    for room in sorted(rooms):
        lookups.append(RoomLookup(room, await deps.directory.room_members(room)))
    return lookups or None


def _members(ctx: Context, room: str) -> list[Member] | None:
    found = ctx.prefetched
    lookups = found if isinstance(found, list) else [found]
    for lookup in lookups:
        if isinstance(lookup, RoomLookup) and lookup.room == room:
            return lookup.members
    return None


@router.command(
    "campagne creer",
    "campaign create",
    "campagne nouvelle",
    roles=AMBASSADORS,
    help=HelpLine("ambassador", "create"),
    prefetch=_room_of_request,
)
def create(ctx: Context, args: str) -> None:
    try:
        request = parse_create(args, today(ctx).date(), ctx.policy.deadline_horizon_days)
    except ParseError as error:
        ctx.say(error.template, **error.variables)
        return
    service = service_for(ctx, request.audience)
    if service is None:
        return
    audience = request.audience
    members = _members(ctx, audience.value) if audience and audience.kind == "room" else None
    created = create_campaign(
        ctx.uow,
        request,
        service,
        ctx.now,
        ctx.actor,
        campaigns=ctx.deps.campaigns,
        planning=ctx.deps.planner,
        today=today(ctx).date(),
        members=members,
    )
    if created.room_unknown and audience is not None:
        ctx.say("error_room_unknown", room=audience.value)
        return
    if created.duplicate:
        ctx.say("error_campaign_exists", code=request.code.code)
        return
    campaign = created.campaign
    if created.impossible or campaign is None:
        ctx.say("error_plan_impossible", deadline=request.deadline)
        return
    planner = ctx.deps.planner
    warnings = request.warnings
    if not planner.is_working_day(campaign.deadline):
        warnings = (*warnings, "deadline_not_working_day")
    ctx.say(
        "campaign_created",
        campaign=campaign,
        warnings=warnings,
        holiday=planner.holiday_name(campaign.deadline),
        plan=created.plan,
        # How many of the ids or room members are known agents moves with one person's
        # presence (an erasure, a departure): in words under the threshold, like any figure.
        size=audience_figure(created.size, ctx.policy.min_group),
        rejected=audience_figure(created.rejected, ctx.policy.min_group),
    )


@router.command(
    "campagne lancer",
    "campaign launch",
    "campagne envoyer",
    roles=AMBASSADORS,
    help=HelpLine("ambassador", "launch"),
    prefetch=_room_of_campaign,
    takes=open_campaign,
)
def launch(ctx: Context, target: CampaignArg) -> None:
    campaign = target.campaign
    members = None
    if campaign.audience_kind == "room":
        members = _members(ctx, campaign.audience_value)
    launched = launch_campaign(
        ctx.uow,
        campaign,
        ctx.now,
        ctx.actor,
        campaigns=ctx.deps.campaigns,
        planning=ctx.deps.planner,
        members=members,
        report_after=ctx.after_replies,
    )
    if launched.planned:
        ctx.say("campaign_launch_planned", campaign=campaign, when=launched.planned_at)
        return
    if launched.room_unknown or launched.result is None:
        ctx.say("error_room_unknown", room=campaign.audience_value)
        return
    # Only who joined the audience with this launch is counted (never who was not invited
    # before: on a second launch that would be who said "stop tout"), under the threshold in
    # words, like how many room members are not agents of the service.
    min_group = ctx.policy.min_group
    ctx.say(
        "campaign_launched",
        campaign=campaign,
        result=launched.result,
        fresh=audience_figure(launched.result.fresh, min_group),
        rejected=audience_figure(launched.rejected, min_group),
    )


@router.command(
    "campagne liste",
    "campaign list",
    "campagnes",
    "campaigns",
    roles=AMBASSADORS,
    help=HelpLine("ambassador", "list"),
)
def list_campaigns(ctx: Context, args: str) -> None:
    rows = campaign_rows(ctx.uow, ctx.roles, ctx.now, campaigns=ctx.deps.campaigns)
    ctx.say("campaign_list", rows=rows, min_group=ctx.policy.min_group)


@router.command("campagne voir", "campaign show", roles=AMBASSADORS, takes=any_campaign)
def show(ctx: Context, target: CampaignArg) -> None:
    campaign = target.campaign
    view = campaign_view(
        ctx.uow, campaign, ctx.now, campaigns=ctx.deps.campaigns, planning=ctx.deps.planner
    )
    ctx.say("campaign_show", campaign=campaign, stats=view.stats, steps=view.steps, pix=view.pix)


@router.command(
    "campagne relancer",
    "campaign remind",
    roles=AMBASSADORS,
    help=HelpLine("ambassador", "remind"),
    takes=open_campaign,
)
def remind_now(ctx: Context, target: CampaignArg) -> None:
    """An extra reminder: at most once per campaign and working day, always within working
    hours (outside them, queued for the next working slot of each agent's time zone)."""
    campaign = target.campaign
    reminded = remind(ctx.uow, campaign, ctx.now, ctx.actor, campaigns=ctx.deps.campaigns)
    if reminded.not_running:
        ctx.say("error_campaign_not_running", campaign=campaign)
    elif reminded.already_on is not None:
        ctx.say("campaign_remind_already", campaign=campaign, day=reminded.already_on)
    else:
        # How many reminders leave is "audience minus those done or stopped", live: it moves
        # with one person's answer, so the reply says it in words and no batch report follows.
        ctx.say("campaign_reminded", campaign=campaign, queued_until=reminded.queued_until)


@router.command(
    "campagne rappels",
    "campaign reminders",
    roles=AMBASSADORS,
    help=HelpLine("ambassador", "reminders"),
    audit="campaign_reminders",
    takes=open_campaign,
)
def set_reminders(ctx: Context, target: CampaignArg) -> None:
    campaign, rest = target
    try:
        replanned = replan_reminders(ctx.uow, campaign, rest, ctx.now, planning=ctx.deps.planner)
    except ParseError as error:
        ctx.say(error.template, **error.variables)
        return
    ctx.audit(campaign.id)
    ctx.say(
        "campaign_replanned",
        campaign=replanned.campaign,
        steps=replanned.plan,
        dropped=replanned.dropped,
        none_left=replanned.none_left,
    )


@router.command(
    "campagne stats",
    "campaign stats",
    "campagne statistiques",
    roles=AMBASSADORS,
    takes=any_campaign,
)
def show_stats(ctx: Context, target: CampaignArg) -> None:
    campaign = target.campaign
    stats = stats_among_ministry(ctx.deps.campaigns, ctx.uow, campaign, ctx.now)
    steps = ctx.deps.planner.describe(ctx.uow, campaign, ctx.now)
    ctx.say("campaign_stats", campaign=campaign, stats=stats, steps=steps)
    if has_chart(stats):
        ref = chart_ref(campaign.id, today(ctx).date(), ctx.locale)
        ctx.picture(ref, "chart_alt", campaign=campaign, stats=stats)


@router.command(
    "campagne clore",
    "campaign close",
    "campagne terminer",
    roles=AMBASSADORS,
    help=HelpLine("ambassador", "close"),
    takes=open_campaign,
)
def close(ctx: Context, target: CampaignArg) -> None:
    """Closing stops every reminder: like cancelling, it asks for "oui" first."""
    campaign, rest = target
    thank = ctx.policy.thank_completers and "sans merci" not in fold(rest)
    thank = thank and "no thanks" not in fold(rest)
    ctx.ask("close_campaign", f"{campaign.code}|{int(thank)}", CONFIRM_WINDOW)
    ctx.say("campaign_close_confirm", campaign=campaign, thank=thank)


@router.prompt("close_campaign")
def _confirm_close(ctx: Context, text: str, payload: str) -> bool:
    code, _, thank_flag = payload.partition("|")
    if is_no(text):
        ctx.say("campaign_close_aborted", code=code)
        return True
    if not is_yes(text):
        return False
    found = open_campaign(ctx, code)
    if found is None:
        return True
    campaign = found.campaign
    thank = thank_flag == "1"
    closed = close_campaign(
        ctx.uow, campaign, ctx.now, ctx.actor, campaigns=ctx.deps.campaigns, thank=thank
    )
    # Whether anyone was thanked (and how many) is live and declaration-derived: words only.
    ctx.say("campaign_closed", campaign=campaign, thank=thank, stats=closed.stats)
    return True


@router.command("campagne annuler", "campaign cancel", roles=AMBASSADORS, takes=open_campaign)
def cancel(ctx: Context, target: CampaignArg) -> None:
    campaign = target.campaign
    ctx.ask("cancel_campaign", campaign.code, CONFIRM_WINDOW)
    ctx.say("campaign_cancel_confirm", campaign=campaign)


@router.prompt("cancel_campaign", audit="campaign_cancel")
def _confirm_cancel(ctx: Context, text: str, code: str) -> bool:
    if is_no(text):
        ctx.say("campaign_cancel_aborted", code=code)
        return True
    if not is_yes(text):
        return False
    found = any_campaign(ctx, code)
    if found is None:
        return True
    campaign = found.campaign
    dropped = ctx.deps.campaigns.cancel(ctx.uow, campaign)
    ctx.audit(campaign.id, count=dropped)
    # How many messages were pending is "audience minus those done or stopped", live: no number.
    ctx.say("campaign_cancelled", campaign=campaign)
    return True
