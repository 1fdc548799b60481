"""Agent replies: ``fait``, ``commencé``, ``plus tard``, ``stop``, ``stop tout``, ``reprendre``.

Every change is an append-only participation event. The campaign is the one named, else the
one the agent replied to, else the only open one; with several, the bot asks which.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import timedelta

from bot.conversation import pick
from bot.core import THUMBS_UP
from bot.domain import Campaign
from bot.parsing import ParseError, parse_code
from bot.router import Context, HelpLine, Router
from bot.services.declare import declare
from bot.services.which_campaign import (
    MeantOutcome,
    campaign_meant,
    campaign_reacted_to,
    own_campaign,
)

router = Router()

ASK_WINDOW = timedelta(hours=1)


def _apply(ctx: Context, action: str, args: str) -> None:
    campaign = _target(ctx, action, args)
    if campaign is not None:
        record(ctx, action, campaign)


def meant(action: str) -> Callable[[Context, str], Campaign | None]:
    """The route converter of an agent's reply: the campaign it is about (see
    :func:`_target`), or None once the agent was asked which or told why not."""
    return lambda ctx, args: _target(ctx, action, args)


def _target(ctx: Context, action: str, args: str) -> Campaign | None:
    """The campaign the agent means, or None after asking/explaining."""
    words = [word for word in args.split() if word.strip(".,;:!?…")]
    code = ""
    if words:
        with contextlib.suppress(ParseError):
            code = parse_code(words[0].strip(".,;:!?…")).code
    meant = campaign_meant(ctx.uow, ctx.person, action, code, ctx.incoming.relates_to)
    if meant.outcome == MeantOutcome.FOUND:
        return meant.campaign
    if meant.outcome == MeantOutcome.UNKNOWN_CODE:
        ctx.say("participation_unknown_code", code=code, campaigns=meant.campaigns)
    elif meant.outcome == MeantOutcome.NOTHING_TO_DO:
        # Nothing left to change: say where things stand.
        ctx.say("participation_nothing_to_do", action=action, campaigns=meant.campaigns)
    elif meant.outcome == MeantOutcome.NO_CAMPAIGN:
        ctx.say("participation_no_campaign")
    else:
        codes = ",".join(c.code for c in meant.campaigns)
        ctx.ask("which_campaign", f"{action}|{codes}", ASK_WINDOW)
        ctx.say("participation_which", campaigns=meant.campaigns, action=action)
    return None


def record(ctx: Context, action: str, campaign: Campaign) -> None:
    declared = declare(ctx.uow, ctx.person, campaign, action, ctx.now, planning=ctx.deps.planner)
    status = declared.status
    if action == "done":
        if declared.changed:
            ctx.say("participation_done", campaign=campaign)
        else:
            ctx.say("participation_already_done", campaign=campaign)
    elif action == "started":
        if declared.changed:
            ctx.say("participation_started", campaign=campaign)
        else:
            value = status.value if status else None
            ctx.say("participation_already_started", campaign=campaign, status=value)
    elif action == "later":
        if declared.changed:
            when, tz = declared.when, ctx.person.timezone
            ctx.say("participation_later", campaign=campaign, when=when, tz=tz)
        else:
            ctx.say("participation_nothing_to_do", action=action, campaigns=[campaign])
    elif action == "stop":
        if declared.changed:
            ctx.say("participation_stopped", campaign=campaign)
        else:
            ctx.say("participation_already_stopped", campaign=campaign)
    elif action == "resume":
        ctx.say("participation_resumed", campaign=campaign)


@router.command(
    "fait",
    "c'est fait",
    "cest fait",
    "termine",
    "j'ai fini",
    "fini",
    "done",
    help=HelpLine("agent", "done"),
    takes=meant("done"),
)
def done(ctx: Context, campaign: Campaign) -> None:
    record(ctx, "done", campaign)


@router.command(
    "commence",
    "j'ai commence",
    "started",
    "en cours",
    help=HelpLine("agent", "started"),
    takes=meant("started"),
)
def started(ctx: Context, campaign: Campaign) -> None:
    record(ctx, "started", campaign)


@router.command(
    "plus tard",
    "later",
    "pas maintenant",
    help=HelpLine("agent", "later"),
    takes=meant("later"),
)
def later(ctx: Context, campaign: Campaign) -> None:
    record(ctx, "later", campaign)


@router.command("stop", help=HelpLine("agent", "stop"), takes=meant("stop"))
def stop(ctx: Context, campaign: Campaign) -> None:
    record(ctx, "stop", campaign)


@router.command(
    "stop tout", "stop all", "stoptout", "desabonner", help=HelpLine("agent", "stop_all")
)
def stop_all(ctx: Context, args: str) -> None:
    if declare(ctx.uow, ctx.person, None, "stop", ctx.now, planning=ctx.deps.planner).changed:
        ctx.say("participation_stopped_all")
    else:
        ctx.say("participation_already_stopped_all")


@router.command("reprendre", "resume")
def resume(ctx: Context, args: str) -> None:
    if args.strip():
        _apply(ctx, "resume", args)
        return
    # Without a code: ends "stop tout" if it was said, else resumes one campaign.
    if declare(ctx.uow, ctx.person, None, "resume", ctx.now, planning=ctx.deps.planner).changed:
        ctx.say("participation_resumed_all")
        return
    _apply(ctx, "resume", args)


@router.prompt("which_campaign")
def _answer_which(ctx: Context, text: str, payload: str) -> bool:
    """The agent answers "which campaign?" with the number of a listed campaign or a code."""
    action, _, listed = payload.partition("|")
    options = [code for code in listed.split(",") if code]
    chosen = pick(text, options) if options else None
    if chosen is None:
        try:
            chosen = parse_code(text.split()[0]).code if text.split() else None
        except ParseError:
            chosen = None
    if chosen is None:
        return False
    campaign = own_campaign(ctx.uow, ctx.person, chosen)
    if campaign is None:
        return False
    record(ctx, action, campaign)
    return True


@router.reaction
def _reaction(ctx: Context, reaction: str, relates_to: str) -> bool:
    """A 👍 on an invitation or reminder means "c'est fait" for its campaign."""
    if not reaction.strip().startswith(THUMBS_UP) or not relates_to:
        return True
    campaign = campaign_reacted_to(ctx.uow, ctx.person, relates_to)
    if campaign is not None:
        record(ctx, "done", campaign)
    return True
