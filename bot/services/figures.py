"""A campaign's figures as ambassadors may see them: the disclosure rule applied to the counts
the database aggregates, live or as the day's stored snapshot (``[stats] refresh = "daily"``),
and the completion moments a chart draws. Shared by the chat, the CLI, the dashboard, the
morning note and the digest, so that every exit shows the same figures for the same moment.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.domain import Campaign
from bot.stats import CampaignStats, Counts, group_counts, grouped, stats_from_counts, week_gain
from storage.uow import UnitOfWork


def snapshot_moment(now: datetime, refresh: str, tz: ZoneInfo) -> datetime | None:
    """The daily snapshot is the state at the last midnight (local time); None when live."""
    if refresh != "daily":
        return None
    local = now.astimezone(tz)
    return datetime.combine(local.date(), time(0, 0), tzinfo=tz)


def figures(
    uow: UnitOfWork,
    campaign: Campaign,
    min_group: int,
    now: datetime | None = None,
    refresh: str = "live",
    tz: ZoneInfo | None = None,
) -> CampaignStats:
    """A campaign's statistics as ambassadors may see them (disclosure rule, daily snapshot),
    counted by the database in one aggregate query.

    The daily snapshot is stored the first time it is asked for (chat, CLI, digest, chart):
    what was shown for a day stays what is shown that day, whatever happens meanwhile (an
    erasure, a late correction, an agent moving to another service); they appear in the next
    day's snapshot, with everything else of that day."""
    as_of = snapshot_moment(now, refresh, tz or ZoneInfo("Europe/Paris")) if now else None
    if as_of is None:
        return stats_from_counts(uow.participation.status_counts(campaign.id), min_group)
    day = as_of.date()
    stored = uow.snapshots.get(campaign.id, day)
    if stored is None:
        groups = group_counts(uow.participation.status_counts(campaign.id, as_of))
        zone = as_of.tzinfo
        curve = Counter(
            moment.astimezone(zone).date()
            for moment in uow.participation.completions(campaign.id)
            if moment < as_of
        )
        stored = uow.snapshots.put(
            campaign.id,
            day,
            {name: (c.invited, c.started, c.completed, c.opted_out) for name, c in groups.items()},
            curve,
        )
    stats = grouped({name: Counts(*row) for name, row in stored.items()}, min_group, as_of)
    gain = None
    week_before = uow.snapshots.get(campaign.id, day - timedelta(days=7))
    if week_before is not None:
        before = grouped({name: Counts(*row) for name, row in week_before.items()}, min_group)
        gain = week_gain(stats, before)
    return replace(stats, curve=tuple(uow.snapshots.curve(campaign.id, day)), week_gain=gain)


def completion_moments(uow: UnitOfWork, campaign: Campaign, stats: CampaignStats) -> list[datetime]:
    """When completions were declared, for the chart's curve: from the stored snapshot (noon of
    each day, as many as that day counted), or live."""
    if stats.curve is None or stats.as_of is None:
        return uow.participation.completions(campaign.id)
    zone = stats.as_of.tzinfo
    return [
        datetime.combine(day, time(12, 0), tzinfo=zone)
        for day, number in stats.curve
        for _ in range(number)
    ]
