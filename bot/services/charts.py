"""Pictures in the conversation: the participation chart attached to stats and digests.

An outbox row does not hold the PNG: it names the picture (``chart:CAMPAIGN:DAY:LOCALE``) and
its ``body`` holds the description (alt text). The dispatcher asks :class:`Pictures` to render
it when it sends the row, in a worker thread, from the campaign's figures under the same
confidentiality rule as the text (no picture for a hidden group). A retry renders again; the
platform's idempotency key makes sure only one picture is posted.

When the figures come from a daily snapshot (the privacy rule), :func:`chart_data` is the one
place to read it from: the reference carries the day the picture was asked for.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from bot.charts import ChartData, parse_labels, render_chart
from bot.core import Image
from bot.dbwork import DatabaseWorker, InlineDatabase
from bot.domain import Campaign, Delivery
from bot.privacy import disclose
from bot.render import Renderer
from bot.services.figures import completion_moments, figures
from bot.stats import CampaignStats
from storage.uow import Store, UnitOfWork

PREFIX = "chart"


def chart_ref(campaign_id: int, day: date, locale: str) -> str:
    return f"{PREFIX}:{campaign_id}:{day.isoformat()}:{locale}"


def parse_chart_ref(ref: str) -> tuple[int, date, str] | None:
    parts = ref.split(":")
    if len(parts) != 4 or parts[0] != PREFIX:
        return None
    try:
        return int(parts[1]), date.fromisoformat(parts[2]), parts[3]
    except ValueError:
        return None


def has_chart(stats: CampaignStats) -> bool:
    """The same rule as the text: no picture when the campaign's figures are hidden."""
    return not stats.total.hidden and stats.total.counts.invited > 0


def chart_data(
    campaign: Campaign,
    stats: CampaignStats,
    completions: Sequence[datetime],
    today: date,
    tz: ZoneInfo,
) -> ChartData:
    per_day = Counter(moment.astimezone(tz).date() for moment in completions)
    # A person may declare twice (chat, then a Pix Orga import): never more than the count.
    remaining = stats.total.counts.completed
    audience = stats.total.counts.invited
    series: list[tuple[date, int]] = []
    done = drawn = 0
    for day in sorted(per_day):
        if day > today or remaining <= 0:
            break
        count = min(per_day[day], remaining)
        remaining -= count
        done += count
        # A point of the curve follows the disclosure rule like any figure: a day whose
        # cumulative count may not be shown exactly is folded into the next one that may.
        if disclose(done, audience, stats.min_group).exact:
            series.append((day, done - drawn))
            drawn = done
    return ChartData(
        stats=stats,
        completions=series,
        start=campaign.start_date,
        deadline=campaign.deadline,
        today=today,
        event_name=campaign.event_name,
        event_date=campaign.event_date,
    )


def filename_of(campaign: Campaign, day: date) -> str:
    return f"pixbot-{campaign.code}-{day.isoformat()}.png"


def draw(
    renderer: Renderer,
    campaign: Campaign,
    stats: CampaignStats,
    completions: Sequence[datetime],
    *,
    day: date,
    locale: str,
    alt: str | None = None,
) -> Image | None:
    """Render the chart (blocking: call it in a thread from async code)."""
    if not has_chart(stats):
        return None
    data = chart_data(campaign, stats, completions, day, renderer.timezone)
    hidden = sum(1 for group in stats.services if group.hidden)
    labels = parse_labels(
        renderer.render("chart_labels", locale, campaign=campaign, stats=stats, hidden=hidden)
    )
    if alt is None:
        alt = renderer.render("chart_alt", locale, campaign=campaign, stats=stats)
    return render_chart(data, labels, locale=locale, alt=alt, filename=filename_of(campaign, day))


class Pictures:
    """The dispatcher's hook: the picture an outbox row names, or None when it cannot be
    shown (any more)."""

    def __init__(
        self,
        store: Store,
        renderer: Renderer,
        min_group: int,
        refresh: str = "live",
        *,
        database: DatabaseWorker | InlineDatabase | None = None,
    ) -> None:
        self.store = store
        self.database = database or InlineDatabase()
        self.renderer = renderer
        self.min_group = min_group
        self.refresh = refresh

    def _read_in_transaction(
        self, campaign_id: int, day: date
    ) -> tuple[Campaign, CampaignStats, list[datetime]] | None:
        with self.store.transaction() as uow:
            return self._read(uow, campaign_id, day)

    def _read(
        self, uow: UnitOfWork, campaign_id: int, day: date
    ) -> tuple[Campaign, CampaignStats, list[datetime]] | None:
        """The figures as of the day the picture was asked for (the daily snapshot), or live."""
        campaign = uow.campaigns.get(campaign_id)
        if campaign is None:
            return None
        tz = self.renderer.timezone
        moment = datetime.combine(day, time(12, 0), tzinfo=tz)
        stats = figures(uow, campaign, self.min_group, moment, self.refresh, tz)
        return campaign, stats, completion_moments(uow, campaign, stats)

    async def __call__(self, delivery: Delivery) -> Image | None:
        parsed = parse_chart_ref(delivery.attachment or "")
        if parsed is None:
            return None
        campaign_id, day, locale = parsed
        found = await self.database.run(self._read_in_transaction, campaign_id, day)
        if found is None:
            return None
        campaign, stats, completions = found
        return await asyncio.to_thread(
            draw,
            self.renderer,
            campaign,
            stats,
            completions,
            day=day,
            locale=locale,
            alt=delivery.body,
        )
