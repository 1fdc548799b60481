"""Ambassador commands: ``campagne créer|lancer|liste|voir|relancer|rappels|stats|clore``…"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot import campaign_ops as ops
from bot.domain import Campaign, CampaignStatus, DeliveryStatus
from bot.parsing import ParseError, parse_code, parse_create, split_code_arg
from bot.router import AMBASSADORS, Context, Router
from bot.text import fold
from storage.repositories.errors import DuplicateError
from storage.uow import UnitOfWork

if TYPE_CHECKING:
    from bot.app import App

router = Router()
router.family("campagne", "campaign", "campagnes", "campaigns", help_key="campaign")

CONFIRM_WINDOW = timedelta(minutes=10)
OPEN = (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.RUNNING)


def today(ctx: Context) -> datetime:
    return ctx.now.astimezone(ctx.app.renderer.timezone)


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
    campaign = ctx.uow.campaigns.by_code(code)
    scope = _scope(ctx)
    if campaign is None or (scope is not None and campaign.service not in scope):
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


def _batch(ctx: Context, action: str, campaign: Campaign) -> ops.Batch:
    return ops.Batch(action, campaign.id, ctx.incoming.conversation_id, ctx.incoming.event_id[-40:])


@router.command("campagne creer", "campaign create", "campagne nouvelle", roles=AMBASSADORS)
async def create(ctx: Context, args: str) -> None:
    try:
        request = parse_create(args, today(ctx).date())
    except ParseError as error:
        ctx.say(error.template, **error.variables)
        return
    uow = ctx.uow
    scope = _scope(ctx)
    audience = request.audience
    if audience is not None and audience.kind == "service":
        service = uow.services.canonical(audience.value)
        if service is None:
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
    if kind == "room":
        try:
            await ctx.app.platform.room_members(value)
        except Exception:
            ctx.say("error_room_unknown", room=value)
            return
    planner = ctx.app.services.get("scheduler")
    savepoint = uow.session.begin_nested()
    try:
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
        plan = planner.replan(uow, campaign, ctx.now) if planner is not None else None
    except DuplicateError:
        savepoint.rollback()
        ctx.say("error_campaign_exists", code=request.code.code)
        return
    except ValueError:
        # No working slot left before the deadline, or a launch after it: nothing is kept.
        savepoint.rollback()
        ctx.say("error_plan_impossible", deadline=request.deadline)
        return
    savepoint.commit()
    uow.audit.add(ctx.person.platform_id, "campaign_create", ctx.now, campaign.id)
    ctx.say(
        "campaign_created",
        campaign=campaign,
        warnings=request.warnings,
        plan=plan,
        audience_size=await ops.audience_size(ctx.app, uow, campaign),
    )


@router.command("campagne lancer", "campaign launch", "campagne envoyer", roles=AMBASSADORS)
async def launch(ctx: Context, args: str) -> None:
    found = _open_campaign(ctx, args)
    if found is None:
        return
    campaign, _ = found
    planner = ctx.app.services.get("scheduler")
    if planner is not None and planner.launch_is_planned(ctx.uow, campaign, ctx.now):
        when = planner.confirm_planned_launch(ctx.uow, campaign, ctx.now)
        ctx.say("campaign_launch_planned", campaign=campaign, when=when)
        return
    try:
        people = await ops.resolve_audience(ctx.app, ctx.uow, campaign, ctx.now)
    except ParseError as error:
        ctx.say(error.template, **error.variables)
        return
    result = ops.invite(
        ctx.app, ctx.uow, campaign, people, ctx.now, _batch(ctx, "launch", campaign)
    )
    ctx.uow.audit.add(
        ctx.person.platform_id, "campaign_launch", ctx.now, campaign.id, count=result.new
    )
    if planner is not None:
        planner.launched(ctx.uow, campaign, ctx.now)
    ctx.say("campaign_launched", campaign=campaign, result=result)


@router.command("campagne liste", "campaign list", "campagnes", "campaigns", roles=AMBASSADORS)
async def list_campaigns(ctx: Context, args: str) -> None:
    uow = ctx.uow
    rows = []
    for campaign in uow.campaigns.search(_scope(ctx)):
        summary = ops.stats(uow, campaign, ctx.app.settings.stats.min_group).total
        rows.append({"campaign": campaign, "total": summary})
    ctx.say("campaign_list", rows=rows, min_group=ctx.app.settings.stats.min_group)


@router.command("campagne voir", "campaign show", roles=AMBASSADORS)
async def show(ctx: Context, args: str) -> None:
    found = _campaign(ctx, args)
    if found is None:
        return
    campaign, _ = found
    uow = ctx.uow
    planner = ctx.app.services.get("scheduler")
    ctx.say(
        "campaign_show",
        campaign=campaign,
        audience_size=uow.campaigns.audience_size(campaign.id),
        stats=ops.stats(uow, campaign, ctx.app.settings.stats.min_group),
        steps=planner.describe(uow, campaign) if planner is not None else [],
    )


@router.command("campagne relancer", "campaign remind", roles=AMBASSADORS)
async def remind_now(ctx: Context, args: str) -> None:
    found = _campaign(ctx, args)
    if found is None:
        return
    campaign, _ = found
    if campaign.status != CampaignStatus.RUNNING:
        ctx.say("error_campaign_not_running", campaign=campaign)
        return
    count = ops.remind(
        ctx.app,
        ctx.uow,
        campaign,
        f"manual-{ctx.incoming.event_id[-40:]}",
        ctx.now,
        batch=_batch(ctx, "remind", campaign),
    )
    ctx.uow.audit.add(ctx.person.platform_id, "campaign_remind", ctx.now, campaign.id, count=count)
    ctx.say("campaign_reminded", campaign=campaign, count=count)


@router.command("campagne rappels", "campaign reminders", roles=AMBASSADORS)
async def set_reminders(ctx: Context, args: str) -> None:
    found = _open_campaign(ctx, args)
    if found is None:
        return
    campaign, rest = found
    planner = ctx.app.services.get("scheduler")
    if planner is None:
        ctx.say("error_scheduler_off")
        return
    try:
        plan = planner.set_reminders(ctx.uow, campaign, rest, ctx.now)
    except ParseError as error:
        ctx.say(error.template, **error.variables)
        return
    ctx.uow.audit.add(ctx.person.platform_id, "campaign_reminders", ctx.now, campaign.id)
    ctx.say("campaign_replanned", campaign=campaign, steps=plan)


@router.command("campagne stats", "campaign stats", "campagne statistiques", roles=AMBASSADORS)
async def show_stats(ctx: Context, args: str) -> None:
    found = _campaign(ctx, args)
    if found is None:
        return
    campaign, _ = found
    ctx.say(
        "campaign_stats",
        campaign=campaign,
        stats=ops.stats(ctx.uow, campaign, ctx.app.settings.stats.min_group),
    )


@router.command("campagne clore", "campaign close", "campagne terminer", roles=AMBASSADORS)
async def close(ctx: Context, args: str) -> None:
    found = _open_campaign(ctx, args)
    if found is None:
        return
    campaign, rest = found
    thank = ctx.app.settings.schedule.thank_completers and "sans merci" not in fold(rest)
    thank = thank and "no thanks" not in fold(rest)
    thanked = ops.close(ctx.app, ctx.uow, campaign, ctx.now, thank=thank)
    ctx.uow.audit.add(ctx.person.platform_id, "campaign_close", ctx.now, campaign.id, thanked)
    ctx.say(
        "campaign_closed",
        campaign=campaign,
        thanked=thanked,
        stats=ops.stats(ctx.uow, campaign, ctx.app.settings.stats.min_group),
    )


@router.command("campagne annuler", "campaign cancel", roles=AMBASSADORS)
async def cancel(ctx: Context, args: str) -> None:
    found = _open_campaign(ctx, args)
    if found is None:
        return
    campaign, _ = found
    ctx.uow.prompts.set(ctx.person.id, "cancel_campaign", campaign.code, ctx.now + CONFIRM_WINDOW)
    ctx.say("campaign_cancel_confirm", campaign=campaign)


async def _confirm_cancel(ctx: Context, text: str, code: str) -> bool:
    from bot.app import is_no, is_yes

    if is_no(text):
        ctx.say("campaign_cancel_aborted", code=code)
        return True
    if not is_yes(text):
        return False
    found = _campaign(ctx, code)
    if found is None:
        return True
    campaign, _ = found
    dropped = ops.cancel(ctx.uow, campaign)
    ctx.uow.audit.add(ctx.person.platform_id, "campaign_cancel", ctx.now, campaign.id, dropped)
    ctx.say("campaign_cancelled", campaign=campaign, dropped=dropped)
    return True


def batch_report(
    app: App,
    uow: UnitOfWork,
    batch: str,
    counts: dict[DeliveryStatus, int],
    now: datetime,
    *,
    final: bool,
) -> None:
    """Progress ("120/450 envoyées") or the final summary of a batch send, to its initiator."""
    decoded = ops.Batch.decode(batch)
    if decoded is None:
        return
    campaign = uow.campaigns.get(decoded.campaign_id)
    if campaign is None:
        return
    sent = counts.get(DeliveryStatus.SENT, 0)
    failed = counts.get(DeliveryStatus.FAILED, 0)
    total = sum(counts.values())
    if final:
        key = f"summary:{decoded.digest}"
        failures = [d.recipient for d in uow.outbox.failures(batch)]
        template = "batch_summary"
    else:
        key = f"progress:{decoded.digest}:{sent + failed}"
        failures = []
        template = "batch_progress"
    from bot.domain import NewDelivery

    body = app.renderer.render(
        template,
        app.settings.bot.locale,
        action=decoded.action,
        campaign=campaign,
        sent=sent,
        failed=failed,
        total=total,
        failures=failures[:20],
        more_failures=max(0, len(failures) - 20),
    )
    target = decoded.conversation_id
    if not target:
        return
    to_person = target.startswith("person:")
    uow.outbox.enqueue(
        NewDelivery(
            key=key,
            kind="report",
            recipient=target.removeprefix("person:"),
            to_conversation=not to_person,
            body=body,
        ),
        now,
    )


def install(app: App) -> None:
    app.prompt_handlers["cancel_campaign"] = _confirm_cancel
