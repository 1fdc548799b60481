"""Ambassador commands: ``campagne créer|lancer|liste|voir|relancer|rappels|stats|clore``…"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial

from bot.core import Member
from bot.domain import Campaign, CampaignStatus
from bot.parsing import ParseError, parse_code, parse_create, split_code_arg
from bot.privacy import audience_figure
from bot.router import AMBASSADORS, Context, Deps, Read, Router
from bot.services.campaigns import Batch, resolve_list
from bot.services.charts import chart_ref, has_chart
from bot.services.ministry import stats_among_ministry
from bot.text import fold, is_no, is_yes
from scheduler.views import zone_of
from storage.repositories.errors import DuplicateError

router = Router()
router.family("campagne", "campaign", "campagnes", "campaigns", help_key="campaign")

CONFIRM_WINDOW = timedelta(minutes=10)
OPEN = (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.RUNNING)


def today(ctx: Context) -> datetime:
    return ctx.now.astimezone(ctx.deps.renderer.timezone)


def _scope(ctx: Context) -> list[str] | None:
    """Services the sender may act on (None: all, for admins)."""
    return None if ctx.roles.is_admin else sorted(ctx.roles.services)


def _campaign(ctx: Context, args: str) -> tuple[Campaign, str] | None:
    """The campaign named by the first argument, if the sender may act on it."""
    try:
        raw, rest = split_code_arg(args)
        code = parse_code(raw).code
    except ParseError as error:
        ctx.say(error.template, **error.variables)
        return None
    scope = _scope(ctx)
    campaign = ctx.uow.campaigns.by_code(code, scope)
    if campaign is None:
        # Same answer for "unknown" and "not yours": no probing other services' codes.
        ctx.say("error_campaign_unknown", code=code)
        return None
    return campaign, rest


def _open_campaign(ctx: Context, args: str) -> tuple[Campaign, str] | None:
    """Like :func:`_campaign`, for commands that need a campaign still open."""
    found = _campaign(ctx, args)
    if found is not None and found[0].status not in OPEN:
        ctx.say("error_campaign_finished", campaign=found[0])
        return None
    return found


def _batch(ctx: Context, action: str, campaign: Campaign) -> Batch:
    return Batch(
        action,
        campaign.id,
        ctx.incoming.event_id[-40:],
        initiator_id=ctx.person.id,
        conversation_id=ctx.incoming.conversation_id,
    )


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
            deps.settings.limits.deadline_horizon_days,
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
    rooms = await read(
        lambda uow: {
            c.audience_value for c in uow.campaigns.with_code(code) if c.audience_kind == "room"
        }
    )
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
    prefetch=_room_of_request,
)
async def create(ctx: Context, args: str) -> None:
    try:
        request = parse_create(args, today(ctx).date(), ctx.settings.limits.deadline_horizon_days)
    except ParseError as error:
        ctx.say(error.template, **error.variables)
        return
    uow = ctx.uow
    scope = _scope(ctx)
    audience = request.audience
    if audience is not None and audience.kind == "service":
        service = uow.services.canonical(audience.value)
        if service is None or (scope is not None and service not in scope):
            # The same answer for "unknown" and "not yours": no probing other services.
            ctx.say("error_service_unknown", service=audience.value)
            return
    elif scope is not None and len(scope) == 1:
        service = scope[0]
    elif ctx.person.service and (scope is None or ctx.person.service in scope):
        service = ctx.person.service
    else:
        ctx.say("error_service_ambiguous", services=scope or uow.services.all())
        return
    if scope is not None and service not in scope:
        ctx.say("error_service_forbidden", service=service)
        return
    kind, value = ("service", service) if audience is None else (audience.kind, audience.value)
    if kind == "service":
        value = service
    members = _members(ctx, value) if kind == "room" else None
    if kind == "room" and members is None:
        ctx.say("error_room_unknown", room=value)
        return
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
                deadline=request.deadline or today(ctx).date(),
                audience_kind=kind,
                audience_value=value,
                now=ctx.now,
                created_by=ctx.person.id,
                parcours=request.parcours,
                event_name=request.event_name,
                event_date=request.event_date,
            )
            plan = ctx.deps.planner.replan(uow, campaign, ctx.now)
    except DuplicateError:
        ctx.say("error_campaign_exists", code=request.code.code)
        return
    except ValueError:
        # No working slot left before the deadline, or a launch after it: nothing is kept.
        ctx.say("error_plan_impossible", deadline=request.deadline)
        return
    uow.audit.add(ctx.person.platform_id, "campaign_create", ctx.now, campaign.id)
    found = ctx.deps.campaigns.resolve(uow, campaign, members)
    calendar = ctx.deps.planner.calendar
    warnings = request.warnings
    if not calendar.is_working_day(campaign.deadline):
        warnings = (*warnings, "deadline_not_working_day")
    ctx.say(
        "campaign_created",
        campaign=campaign,
        warnings=warnings,
        holiday=calendar.holiday_name(campaign.deadline),
        plan=plan,
        # How many of the ids or room members are known agents moves with one person's
        # presence (an erasure, a departure): in words under the threshold, like any figure.
        size=audience_figure(len(found.people), ctx.settings.stats.min_group),
        rejected=audience_figure(
            rejected if kind == "list" else found.rejected, ctx.settings.stats.min_group
        ),
    )


@router.command(
    "campagne lancer",
    "campaign launch",
    "campagne envoyer",
    roles=AMBASSADORS,
    prefetch=_room_of_campaign,
)
async def launch(ctx: Context, args: str) -> None:
    found = _open_campaign(ctx, args)
    if found is None:
        return
    campaign, _ = found
    planner = ctx.deps.planner
    if planner.launch_is_planned(ctx.uow, campaign, ctx.now):
        when = planner.confirm_planned_launch(ctx.uow, campaign, ctx.now)
        ctx.say("campaign_launch_planned", campaign=campaign, when=when)
        return
    members = None
    if campaign.audience_kind == "room":
        members = _members(ctx, campaign.audience_value)
        if members is None:
            ctx.say("error_room_unknown", room=campaign.audience_value)
            return
    resolved = ctx.deps.campaigns.resolve(ctx.uow, campaign, members)
    result = ctx.deps.campaigns.invite(
        ctx.uow, campaign, resolved.people, ctx.now, _batch(ctx, "launch", campaign)
    )
    ctx.uow.audit.add(
        ctx.person.platform_id, "campaign_launch", ctx.now, campaign.id, count=result.new
    )
    planner.launched(ctx.uow, campaign, ctx.now, result.queued_until)
    # Only who joined the audience with this launch is counted (never who was not invited
    # before: on a second launch that would be who said "stop tout"), under the threshold in
    # words, like how many room members are not agents of the service.
    min_group = ctx.settings.stats.min_group
    ctx.say(
        "campaign_launched",
        campaign=campaign,
        result=result,
        fresh=audience_figure(result.fresh, min_group),
        rejected=audience_figure(resolved.rejected, min_group),
    )
    if result.unsent_batch is not None:
        ctx.after_replies(
            partial(
                ctx.deps.campaigns.report_batch, ctx.uow, result.unsent_batch, ctx.now, final=True
            )
        )


@router.command("campagne liste", "campaign list", "campagnes", "campaigns", roles=AMBASSADORS)
async def list_campaigns(ctx: Context, args: str) -> None:
    uow = ctx.uow
    rows = []
    for campaign in uow.campaigns.search(_scope(ctx)):
        summary = ctx.deps.campaigns.stats(uow, campaign, ctx.now).total
        closes = ctx.deps.campaigns.closes_at(uow, campaign)
        rows.append({"campaign": campaign, "total": summary, "closes_at": closes})
    ctx.say("campaign_list", rows=rows, min_group=ctx.settings.stats.min_group)


@router.command("campagne voir", "campaign show", roles=AMBASSADORS)
async def show(ctx: Context, args: str) -> None:
    found = _campaign(ctx, args)
    if found is None:
        return
    campaign, _ = found
    uow = ctx.uow
    ctx.say(
        "campaign_show",
        campaign=campaign,
        stats=ctx.deps.campaigns.stats(uow, campaign, ctx.now),
        steps=ctx.deps.planner.describe(uow, campaign, ctx.now),
        pix=uow.pix.link(campaign.id),
    )


@router.command("campagne relancer", "campaign remind", roles=AMBASSADORS)
async def remind_now(ctx: Context, args: str) -> None:
    """An extra reminder: at most once per campaign and working day, always within working
    hours (outside them, queued for the next working slot of each agent's time zone)."""
    found = _open_campaign(ctx, args)
    if found is None:
        return
    campaign, _ = found
    if campaign.status != CampaignStatus.RUNNING:
        ctx.say("error_campaign_not_running", campaign=campaign)
        return
    calendar, tz = ctx.deps.planner.calendar, ctx.deps.planner.tz
    slot = calendar.next_slot(ctx.now, tz)
    day = slot.astimezone(tz).date()
    if ctx.uow.audit.exists("campaign_remind", campaign.id, day.isoformat()):
        ctx.say("campaign_remind_already", campaign=campaign, day=day)
        return
    # Each agent's next working slot in their own time zone (computed once per zone).
    slots: dict[str | None, datetime] = {}
    not_before: dict[int, datetime] = {}
    for state in ctx.deps.campaigns.due_for_reminder(ctx.uow, campaign):
        zone = state.person.timezone
        if zone not in slots:
            slots[zone] = calendar.next_slot(ctx.now, zone_of(zone, tz))
        if slots[zone] > ctx.now:
            not_before[state.person.id] = slots[zone]
    # How many reminders leave is "audience minus those done or stopped", live: it moves with
    # one person's answer, so the reply says it in words and no batch report follows.
    count = ctx.deps.campaigns.remind(
        ctx.uow, campaign, f"manual-{day.isoformat()}", ctx.now, not_before=not_before
    )
    ctx.uow.audit.add(
        ctx.person.platform_id,
        "campaign_remind",
        ctx.now,
        campaign.id,
        count=count,
        detail=day.isoformat(),
    )
    ctx.say("campaign_reminded", campaign=campaign, queued_until=slot if slot > ctx.now else None)


@router.command("campagne rappels", "campaign reminders", roles=AMBASSADORS)
async def set_reminders(ctx: Context, args: str) -> None:
    found = _open_campaign(ctx, args)
    if found is None:
        return
    campaign, rest = found
    try:
        plan = ctx.deps.planner.set_reminders(ctx.uow, campaign, rest, ctx.now)
    except ParseError as error:
        ctx.say(error.template, **error.variables)
        return
    ctx.uow.audit.add(ctx.person.platform_id, "campaign_reminders", ctx.now, campaign.id)
    updated = ctx.uow.campaigns.get(campaign.id) or campaign
    requested = [label for label in (updated.reminders or "").split(",") if label]
    kept = {step.label for step in plan if step.kind == "reminder"}
    dropped = [label for label in requested if label not in kept]
    ctx.say(
        "campaign_replanned",
        campaign=updated,
        steps=plan,
        dropped=dropped,
        none_left=not any(s.kind == "reminder" and s.status == "planned" for s in plan),
    )


@router.command("campagne stats", "campaign stats", "campagne statistiques", roles=AMBASSADORS)
async def show_stats(ctx: Context, args: str) -> None:
    found = _campaign(ctx, args)
    if found is None:
        return
    campaign, _ = found
    stats = stats_among_ministry(ctx.deps.campaigns, ctx.uow, campaign, ctx.now)
    steps = ctx.deps.planner.describe(ctx.uow, campaign, ctx.now)
    ctx.say("campaign_stats", campaign=campaign, stats=stats, steps=steps)
    if has_chart(stats):
        ref = chart_ref(campaign.id, today(ctx).date(), ctx.locale)
        ctx.picture(ref, "chart_alt", campaign=campaign, stats=stats)


@router.command("campagne clore", "campaign close", "campagne terminer", roles=AMBASSADORS)
async def close(ctx: Context, args: str) -> None:
    """Closing stops every reminder: like cancelling, it asks for "oui" first."""
    found = _open_campaign(ctx, args)
    if found is None:
        return
    campaign, rest = found
    thank = ctx.settings.schedule.thank_completers and "sans merci" not in fold(rest)
    thank = thank and "no thanks" not in fold(rest)
    ctx.ask("close_campaign", f"{campaign.code}|{int(thank)}", CONFIRM_WINDOW)
    ctx.say("campaign_close_confirm", campaign=campaign, thank=thank)


@router.prompt("close_campaign")
async def _confirm_close(ctx: Context, text: str, payload: str) -> bool:
    code, _, thank_flag = payload.partition("|")
    if is_no(text):
        ctx.say("campaign_close_aborted", code=code)
        return True
    if not is_yes(text):
        return False
    found = _open_campaign(ctx, code)
    if found is None:
        return True
    campaign, _ = found
    thank = thank_flag == "1"
    thanked = ctx.deps.campaigns.close(ctx.uow, campaign, ctx.now, thank=thank)
    ctx.uow.audit.add(ctx.person.platform_id, "campaign_close", ctx.now, campaign.id, thanked)
    # Whether anyone was thanked (and how many) is live and declaration-derived: words only.
    ctx.say(
        "campaign_closed",
        campaign=campaign,
        thank=thank,
        stats=ctx.deps.campaigns.stats(ctx.uow, campaign, ctx.now),
    )
    return True


@router.command("campagne annuler", "campaign cancel", roles=AMBASSADORS)
async def cancel(ctx: Context, args: str) -> None:
    found = _open_campaign(ctx, args)
    if found is None:
        return
    campaign, _ = found
    ctx.ask("cancel_campaign", campaign.code, CONFIRM_WINDOW)
    ctx.say("campaign_cancel_confirm", campaign=campaign)


@router.prompt("cancel_campaign")
async def _confirm_cancel(ctx: Context, text: str, code: str) -> bool:
    if is_no(text):
        ctx.say("campaign_cancel_aborted", code=code)
        return True
    if not is_yes(text):
        return False
    found = _campaign(ctx, code)
    if found is None:
        return True
    campaign, _ = found
    dropped = ctx.deps.campaigns.cancel(ctx.uow, campaign)
    ctx.uow.audit.add(ctx.person.platform_id, "campaign_cancel", ctx.now, campaign.id, dropped)
    # How many messages were pending is "audience minus those done or stopped", live: no number.
    ctx.say("campaign_cancelled", campaign=campaign)
    return True
