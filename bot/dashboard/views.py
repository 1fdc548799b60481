"""What each dashboard page shows, read in one transaction (no figure computed here).

Every figure comes from the functions the chat uses: :meth:`CampaignService.stats` (the daily
snapshot under the disclosure rule, as ``campagne stats``), the chart's data as the PNG's
(:class:`bot.services.charts.Pictures`), the reminder plan as ``campagne voir``
(:meth:`Planner.describe`). This module only selects campaigns within the viewer's scope and
arranges what those functions return; the templates word it (``bot/messages/web``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.charts import ChartData
from bot.domain import Campaign, Person, Roles, StepView
from bot.privacy import Shown
from bot.services.campaigns import CampaignService
from bot.services.charts import Pictures, chart_data, has_chart
from bot.services.figures import snapshot_moment
from bot.stats import CampaignStats, GroupStats
from scheduler.planning import Planner
from storage.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class Viewer:
    person: Person
    role: str  # the role the link was asked with, still held

    services: frozenset[str] | None  # None: every service (an administrator)

    @property
    def scope(self) -> list[str] | None:
        return None if self.services is None else sorted(self.services)


def viewer_of(person: Person | None, roles: Roles | None, role: str) -> Viewer | None:
    """The viewer when the person still holds the role their link was asked with (roles are
    read again on every page: a role removed or an erasure closes the dashboard at once)."""
    if person is None or roles is None:
        return None
    if role == "admin" and roles.is_admin:
        return Viewer(person, role, None)
    if role == "ambassador" and roles.services:
        return Viewer(person, role, frozenset(roles.services))
    return None


@dataclass(frozen=True, slots=True)
class Band:
    """A rate as the rule allows it: exact, or a bound from the audience (itself shown)."""

    shown: str  # Shown value
    rate: float | None  # exact rate
    bound: float | None  # "below" or "above" this share (percent, rounded outwards)


def band(group: GroupStats, name: str = "completed") -> Band:
    """The chat's band (:meth:`GroupStats.band`): "au plus 34 %" for "moins de 5" of 12."""
    figure = group.figure(name)
    if figure.exact:
        return Band(figure.shown.value, figure.rate, None)
    interval = group.band(name)
    if interval is not None and figure.shown is Shown.FEWER_THAN:
        return Band(figure.shown.value, None, interval[1])
    if interval is not None and figure.shown is Shown.ALMOST_ALL:
        return Band(figure.shown.value, None, interval[0])
    return Band(Shown.HIDDEN.value, None, None)


@dataclass(frozen=True, slots=True)
class Row:
    campaign: Campaign
    total: GroupStats
    next_step: StepView | None


@dataclass(frozen=True, slots=True)
class Overview:
    rows: list[Row]
    as_of: datetime | None
    next_figures: datetime | None
    min_group: int


@dataclass(frozen=True, slots=True)
class Detail:
    campaign: Campaign
    stats: CampaignStats
    plan: list[StepView]
    chart: ChartData | None
    next_figures: datetime | None


@dataclass(frozen=True, slots=True)
class Ministry:
    services: list[str]
    codes: list[str]
    # (service, code) -> (campaign, completion band, audience or None when hidden)
    cells: dict[tuple[str, str], tuple[Campaign, Band, int | None]]
    as_of: datetime | None
    next_figures: datetime | None
    min_group: int


class Views:
    def __init__(
        self, campaigns: CampaignService, planner: Planner, pictures: Pictures, tz: ZoneInfo
    ) -> None:
        self.campaigns = campaigns
        self.planner = planner
        self.pictures = pictures
        self.tz = tz

    def snapshot(self, now: datetime) -> tuple[datetime | None, datetime | None]:
        """(the moment the figures are as of, when the next ones come): the daily snapshot
        the chat uses (``snapshot_moment``) and the following midnight; (None, None) live."""
        as_of = snapshot_moment(now, self.campaigns.refresh, self.campaigns.tz)
        if as_of is None:
            return None, None
        local = as_of.astimezone(self.tz)
        following = datetime.combine(local.date() + timedelta(days=1), local.time())
        return as_of, following.replace(tzinfo=self.tz)

    def _next_step(self, uow: UnitOfWork, campaign: Campaign, now: datetime) -> StepView | None:
        planned = [
            s
            for s in self.planner.describe(uow, campaign, now)
            if s.status == "planned" and s.when >= now
        ]
        return min(planned, key=lambda s: s.when) if planned else None

    def overview(self, uow: UnitOfWork, viewer: Viewer, now: datetime) -> Overview:
        rows = []
        for campaign in uow.campaigns.search(viewer.scope):
            total = self.campaigns.stats(uow, campaign, now).total
            rows.append(Row(campaign, total, self._next_step(uow, campaign, now)))
        return Overview(rows, *self.snapshot(now), self.campaigns.min_group)

    def campaign(
        self, uow: UnitOfWork, viewer: Viewer, campaign_id: int, now: datetime
    ) -> Detail | None:
        campaign = uow.campaigns.get(campaign_id)
        if campaign is None or (
            viewer.services is not None and campaign.service not in viewer.services
        ):
            return None
        # The very figures and completions the chat's PNG chart is drawn from.
        day = now.astimezone(self.tz).date()
        found = self.pictures._read(uow, campaign.id, day)
        assert found is not None  # the campaign exists in this transaction
        _, chart_stats, completions = found
        stats = self.campaigns.stats(uow, campaign, now)
        chart = (
            chart_data(campaign, chart_stats, completions, day, self.tz)
            if has_chart(chart_stats)
            else None
        )
        plan = self.planner.describe(uow, campaign, now)
        return Detail(campaign, stats, plan, chart, self.snapshot(now)[1])

    def ministry(self, uow: UnitOfWork, now: datetime) -> Ministry:
        """Services × campaign codes (several services may run the same Pix code): each cell
        the completion of that service's campaign, exact or as the band the rule allows."""
        cells: dict[tuple[str, str], tuple[Campaign, Band, int | None]] = {}
        for campaign in uow.campaigns.search():
            total = self.campaigns.stats(uow, campaign, now).total
            if total.hidden:
                cells[(campaign.service, campaign.code)] = (campaign, band_hidden(), None)
                continue
            invited = total.counts.invited
            cells[(campaign.service, campaign.code)] = (
                campaign,
                band(total),
                invited,
            )
        services = sorted({service for service, _ in cells} | set(uow.services.all()))
        codes = sorted({code for _, code in cells})
        return Ministry(services, codes, cells, *self.snapshot(now), self.campaigns.min_group)


def band_hidden() -> Band:
    return Band(Shown.HIDDEN.value, None, None)
