"""Participation from Pix itself: the sync with Pix's organisation API (MaDDo).

One use case, called alike by ``pixbot pix sync`` and the scheduler's job:

1. the campaigns to sync (running ones, or those with the code asked) and their link to a Pix
   campaign; a campaign not linked yet is linked by its code, found among the campaigns of the
   organisations Pix lets this client see;
2. for each, the participations changed since the last successful sync (minus
   ``[pix] overlap_minutes``; all of them the first time, with ``full``, or at the first
   sync of the day when a time zone is given) are read page by
   page, outside any transaction, keeping only the allow-listed fields
   (:mod:`bot.pix.schema`);
3. then applied in one transaction with the cursor (:mod:`bot.services.pix_apply`): a failure
   while reading (an outage beyond the client's patience, a refusal) writes nothing but the
   error, and the next sync reads the same changes again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.config import Settings
from bot.core import Clock
from bot.dbwork import DatabaseWorker, InlineDatabase
from bot.domain import Campaign, CampaignStatus, PixLink
from bot.pix.client import PixClient, PixError, PixRefused, PixUnavailable
from bot.pix.schema import PixCampaign, PixOrganization, PixParticipation
from bot.services.pix_apply import SyncReport, apply_participations
from storage.uow import Store

log = logging.getLogger(__name__)

NOT_FOUND = "code introuvable parmi les campagnes que Pix montre à ce client"
NOT_TRIED = "non tenté : Pix indisponible"


def client_from(
    settings: Settings,
    clock: Clock,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> PixClient | None:
    """The API client the settings describe, or None when ``[pix] api_url`` is empty."""
    pix = settings.pix
    if not pix.api_url:
        return None
    return PixClient(
        pix.api_url,
        pix.client_id,
        pix.client_secret.get_secret_value(),
        now=clock.now,
        timeout=pix.timeout,
        sleep=sleep,
    )


@dataclass
class LinkedCampaign:
    """A pixbot campaign as ``pixbot pix status`` shows it (counts only)."""

    campaign: Campaign
    link: PixLink | None
    visible: bool  # its code is among the campaigns Pix shows this client
    unmatched: dict[str, int]


@dataclass
class Overview:
    token_expires: datetime | None
    organizations: list[tuple[PixOrganization, list[PixCampaign]]]
    campaigns: list[LinkedCampaign]


class PixSync:
    def __init__(
        self,
        client: PixClient,
        store: Store,
        clock: Clock,
        *,
        overlap: timedelta,
        database: DatabaseWorker | InlineDatabase | None = None,
        tz: ZoneInfo | None = None,
    ) -> None:
        self.client = client
        self.tz = tz  # when given, the first sync of each local day is a full one
        self.since_supported = True  # until Pix refuses the parameter
        self.store = store
        self.clock = clock
        self.overlap = overlap
        self.database = database or InlineDatabase()

    def _new_day(self, synced_until: datetime, now: datetime) -> bool:
        """The first sync of each day reads everything again: what ``since`` cannot see (a
        participation that became TO_SHARE without a new date on an older Pix server, one
        skipped when a deletion shifted the pages during a read, an unmatched one whose agent
        was imported since) is caught within a day."""
        if self.tz is None:
            return False
        return synced_until.astimezone(self.tz).date() != now.astimezone(self.tz).date()

    async def close(self) -> None:
        await self.client.close()

    async def visible_campaigns(self) -> list[PixCampaign]:
        """Every campaign of every organisation Pix lets this client see."""
        found: list[PixCampaign] = []
        for organization in await self.client.organizations():
            found.extend(await self.client.campaigns(organization.id))
        return found

    async def overview(self) -> Overview:
        """What ``pixbot pix status`` shows: a token is obtained, the organisations and
        campaigns Pix lets this client see, and where each open pixbot campaign stands."""
        await self.client.token()
        organizations = [
            (organization, await self.client.campaigns(organization.id))
            for organization in await self.client.organizations()
        ]
        codes = {c.code for _, campaigns in organizations for c in campaigns}
        return Overview(
            self.client.token_expires,
            organizations,
            await self.database.run(self._linked, codes),
        )

    def _linked(self, codes: set[str]) -> list[LinkedCampaign]:
        with self.store.transaction() as uow:
            campaigns = uow.campaigns.search(
                statuses=[CampaignStatus.SCHEDULED, CampaignStatus.RUNNING, CampaignStatus.CLOSED]
            )
            links = uow.pix.links([c.id for c in campaigns])
            return [
                LinkedCampaign(
                    c, links.get(c.id), c.code.upper() in codes, uow.pix.unmatched_counts(c.id)
                )
                for c in campaigns
            ]

    async def sync(
        self, code: str | None = None, service: str | None = None, *, full: bool = False
    ) -> list[SyncReport]:
        """Sync the running campaigns (or the running or closed ones with ``code``, in
        ``service`` when given); one report per campaign, in order."""
        targets = await self.database.run(self._targets, code, service)
        unlinked_error: str | None = NOT_FOUND
        down = False
        if any(link is None for _, link in targets):
            try:
                targets = await self.database.run(
                    self._link, targets, await self.visible_campaigns()
                )
            except PixError as error:  # campaigns already linked are still synced
                unlinked_error, down = str(error), isinstance(error, PixUnavailable)
        reports: list[SyncReport] = []
        for campaign, link in targets:
            if link is None:
                reports.append(SyncReport(campaign.code, campaign.service, error=unlinked_error))
            elif down:
                reports.append(SyncReport(campaign.code, campaign.service, error=NOT_TRIED))
            else:
                report = await self.sync_campaign(campaign, link, full=full)
                down = report.unavailable
                reports.append(report)
        return reports

    async def sync_campaign(
        self, campaign: Campaign, link: PixLink, *, full: bool = False
    ) -> SyncReport:
        report = SyncReport(campaign.code, campaign.service)
        read_from = self.clock.now()
        report.full = (
            full or link.synced_until is None or self._new_day(link.synced_until, read_from)
        )
        since = None if report.full or link.synced_until is None else link.synced_until
        if since is not None and not self.since_supported:
            since, report.full = None, True
        if since is not None:
            since -= self.overlap
        try:
            try:
                items = await self._read(link, since, report)
            except PixRefused as refused:
                if refused.status != 400 or since is None:
                    raise
                # An older MaDDo without `since` refuses the parameter: read everything.
                log.warning("Pix refuse « since » (HTTP 400) : chaque synchronisation relit tout")
                self.since_supported, report.full = False, True
                items = await self._read(link, None, report)
        except PixError as error:
            report.error, report.unavailable = str(error), isinstance(error, PixUnavailable)
            # The client logs an outage once; a refusal is logged when it is new, not at every
            # sync while it lasts (pixbot pix status shows it).
            if not report.unavailable and report.error != link.last_error:
                log.warning(
                    "Synchronisation Pix de la campagne n° %d refusée : %s", campaign.id, error
                )
            await self.database.run(self._failed, campaign.id, report.error)
            return report
        report.fetched = len(items)
        return await self.database.run(self._apply, campaign, items, read_from, report)

    async def _read(
        self, link: PixLink, since: datetime | None, report: SyncReport
    ) -> list[PixParticipation]:
        items: list[PixParticipation] = []
        report.pages = report.skipped = 0
        async for page in self.client.participations(link.pix_campaign_id, since):
            items.extend(page.items)
            report.pages += 1
            report.skipped += page.skipped
        return items

    # -- transactions (in the database worker) -------------------------------------------------

    def _targets(
        self, code: str | None, service: str | None
    ) -> list[tuple[Campaign, PixLink | None]]:
        with self.store.transaction() as uow:
            if code is None:
                campaigns = uow.campaigns.search(statuses=[CampaignStatus.RUNNING])
            else:
                # Not before the launch: the audience (who can be matched) is known from it.
                campaigns = [
                    c
                    for c in uow.campaigns.with_code(code, [service] if service else None)
                    if c.status in (CampaignStatus.RUNNING, CampaignStatus.CLOSED)
                ]
            links = uow.pix.links([c.id for c in campaigns])
            return [(c, links.get(c.id)) for c in campaigns]

    def _link(
        self, targets: list[tuple[Campaign, PixLink | None]], visible: list[PixCampaign]
    ) -> list[tuple[Campaign, PixLink | None]]:
        by_code: dict[str, PixCampaign] = {}
        for seen in sorted(visible, key=lambda c: (not c.archived, c.id)):
            by_code[seen.code] = seen  # an active campaign wins over an archived one
        now = self.clock.now()
        with self.store.transaction() as uow:
            for campaign, link in targets:
                pix = by_code.get(campaign.code.upper())
                if link is None and pix is not None:
                    uow.pix.save_link(campaign.id, pix.id, pix.organization_id, now)
            links = uow.pix.links([c.id for c, _ in targets])
        return [(c, links.get(c.id)) for c, _ in targets]

    def _failed(self, campaign_id: int, error: str) -> None:
        with self.store.transaction() as uow:
            uow.pix.failed(campaign_id, error, self.clock.now())

    def _apply(
        self,
        campaign: Campaign,
        items: list[PixParticipation],
        read_from: datetime,
        report: SyncReport,
    ) -> SyncReport:
        # A fresh copy: a transaction tried again (database busy) must not count twice.
        fresh = replace(report, unmatched={})
        with self.store.transaction() as uow:
            return apply_participations(uow, campaign, items, read_from, self.clock.now(), fresh)
