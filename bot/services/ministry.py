"""The ministry's figures beside a campaign's (issue #24): where a service stands among the
running campaigns of every service the bot serves, from published figures only.

The day's pool — which campaigns are compared — is fixed the first time it is asked for that
day (table ``pool_snapshots``), like the daily snapshot: a campaign closed or cancelled in the
afternoon stays in that day's pool, so two readings of one day never differ by one campaign.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.domain import Campaign, CampaignStatus
from bot.services.campaigns import CampaignService
from bot.services.figures import figures
from bot.stats import CampaignStats, GroupStats, ministry
from storage.uow import UnitOfWork


def pool_ids(uow: UnitOfWork, as_of: datetime | None) -> list[int]:
    """The campaigns compared on the snapshot's day: those running when it was first asked
    for (live: those running now)."""
    running = [c.id for c in uow.campaigns.search(statuses=[CampaignStatus.RUNNING])]
    if as_of is None:
        return running
    stored = uow.snapshots.pool(as_of.date())
    return stored if stored is not None else uow.snapshots.put_pool(as_of.date(), running)


def pool_totals(
    uow: UnitOfWork,
    as_of: datetime | None,
    min_group: int,
    now: datetime,
    refresh: str,
    tz: ZoneInfo,
) -> dict[int, GroupStats]:
    """The day's pooled campaigns, each as its total of the day's stored snapshot (what its own
    ambassador reads), named by its service."""
    totals = {}
    for campaign_id in pool_ids(uow, as_of):
        other = uow.campaigns.get(campaign_id)
        if other is not None:
            shown = figures(uow, other, min_group, now, refresh, tz)
            totals[other.id] = replace(shown.total, name=other.service)
    return totals


def with_ministry(
    uow: UnitOfWork,
    campaign: Campaign,
    stats: CampaignStats,
    min_group: int,
    now: datetime,
    refresh: str,
    tz: ZoneInfo,
    pool: dict[int, GroupStats] | None = None,
) -> CampaignStats:
    """``stats`` with the ministry line (None when the pool spans fewer than two services).

    ``pool``: :func:`pool_totals`, when the caller shows several campaigns of the same day (the
    morning note computes it once). The campaign asked about enters as it is shown."""
    if pool is None:
        pool = pool_totals(uow, stats.as_of, min_group, now, refresh, tz)
    mine = replace(stats.total, name=campaign.service)
    entries = [mine if campaign_id == campaign.id else g for campaign_id, g in pool.items()]
    return replace(stats, ministry=ministry(entries, mine, min_group))


def stats_among_ministry(
    service: CampaignService,
    uow: UnitOfWork,
    campaign: Campaign,
    now: datetime,
    pool: dict[int, GroupStats] | None = None,
) -> CampaignStats:
    """What ``campagne stats`` and the morning note show: the campaign's figures (daily
    snapshot, disclosure rule) with the ministry's beside them."""
    stats = service.stats(uow, campaign, now)
    return with_ministry(
        uow, campaign, stats, service.min_group, now, service.refresh, service.tz, pool
    )
