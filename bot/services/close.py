"""Closing a campaign: the one home of ``campagne clore`` and of the plan's close step."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.domain import Campaign
from bot.services.campaigns import CampaignService
from bot.services.ports import Actor
from bot.stats import CampaignStats
from storage.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class Closed:
    # How many completers were thanked: live and declaration-derived, never said as a number.
    thanked: int
    # The figures after closing, under the disclosure rule (for the reply or the notice).
    stats: CampaignStats


def close(
    uow: UnitOfWork,
    campaign: Campaign,
    now: datetime,
    actor: Actor,
    *,
    campaigns: CampaignService,
    thank: bool,
) -> Closed:
    """Close the campaign: its planned steps and pending messages are cancelled, completers
    thanked when ``thank``; the audit entry is written here."""
    thanked = campaigns.close(uow, campaign, now, thank=thank)
    uow.audit.add(actor.audit_name, "campaign_close", now, campaign.id, count=thanked)
    return Closed(thanked, campaigns.stats(uow, campaign, now))
