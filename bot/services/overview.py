"""What an ambassador reads about campaigns in the chat: the list of theirs (``campagne
liste``: figures and closing moment of each) and one campaign (``campagne voir``: figures,
plan and link to Pix). Figures follow the disclosure rule of :meth:`CampaignService.stats`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.domain import Campaign, PixLink, Roles, StepView
from bot.services.access import scope
from bot.services.campaigns import CampaignService
from bot.services.ports import Planning
from bot.stats import CampaignStats, GroupStats
from storage.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class CampaignRow:
    """One line of ``campaign_list``."""

    campaign: Campaign
    total: GroupStats
    closes_at: datetime | None


def campaign_rows(
    uow: UnitOfWork, roles: Roles, now: datetime, *, campaigns: CampaignService
) -> list[CampaignRow]:
    """The campaigns of the services ``roles`` may act on (all for an admin)."""
    return [
        CampaignRow(
            campaign,
            campaigns.stats(uow, campaign, now).total,
            campaigns.closes_at(uow, campaign),
        )
        for campaign in uow.campaigns.search(scope(roles))
    ]


@dataclass(frozen=True, slots=True)
class CampaignView:
    """What ``campaign_show`` says of one campaign."""

    stats: CampaignStats
    steps: list[StepView]
    pix: PixLink | None


def campaign_view(
    uow: UnitOfWork,
    campaign: Campaign,
    now: datetime,
    *,
    campaigns: CampaignService,
    planning: Planning,
) -> CampaignView:
    return CampaignView(
        campaigns.stats(uow, campaign, now),
        planning.describe(uow, campaign, now),
        uow.pix.link(campaign.id),
    )
