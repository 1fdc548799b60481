"""Argument converters: the lookups many commands share, declared on the route
(``@router.command(…, takes=open_campaign)``) instead of repeated in each handler.

A converter reads the command's arguments; it returns what the handler receives, or None
after it has said why not (the handler then does not run).
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from bot.domain import Campaign, CampaignStatus
from bot.parsing import Audience, ParseError, parse_code, split_code_arg
from bot.router import Context
from bot.services.access import ServiceOutcome, campaign_named, service_for_new

OPEN = (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.RUNNING)


class CampaignArg(NamedTuple):
    """A campaign the sender may act on, and the rest of the command's arguments."""

    campaign: Campaign
    rest: str


def today(ctx: Context) -> datetime:
    """Now, in the bot's time zone (dates typed in commands are local dates)."""
    return ctx.now.astimezone(ctx.deps.renderer.timezone)


def service_for(ctx: Context, audience: Audience | None) -> str | None:
    """The service a new campaign belongs to: the one its audience names, else the sender's
    only one (or their own); None once the sender was told why not."""
    named = audience.value if audience is not None and audience.kind == "service" else None
    choice = service_for_new(ctx.uow, ctx.roles, ctx.person, named)
    if choice.outcome == ServiceOutcome.UNKNOWN:
        ctx.say("error_service_unknown", service=named)
    elif choice.outcome == ServiceOutcome.AMBIGUOUS:
        ctx.say("error_service_ambiguous", services=choice.services)
    elif choice.outcome == ServiceOutcome.FORBIDDEN:
        ctx.say("error_service_forbidden", service=choice.service)
    return choice.service if choice.outcome == ServiceOutcome.CHOSEN else None


def any_campaign(ctx: Context, args: str) -> CampaignArg | None:
    """The campaign named by the first argument, if the sender may act on it."""
    try:
        raw, rest = split_code_arg(args)
        code = parse_code(raw).code
    except ParseError as error:
        ctx.say(error.template, **error.variables)
        return None
    found = campaign_named(ctx.uow, ctx.roles, code)
    if found is None:
        # Same answer for "unknown" and "not yours": no probing other services' codes.
        ctx.say("error_campaign_unknown", code=code)
        return None
    return CampaignArg(found, rest)


def open_campaign(ctx: Context, args: str) -> CampaignArg | None:
    """Like :func:`any_campaign`, for commands that need a campaign still open."""
    found = any_campaign(ctx, args)
    if found is not None and found.campaign.status not in OPEN:
        ctx.say("error_campaign_finished", campaign=found.campaign)
        return None
    return found
