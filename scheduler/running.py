"""Executing reminder plans: steps are database rows, APScheduler only wakes the bot.

A step row (planned → done | missed | cancelled) is moved out of ``planned`` in the same
transaction that enqueues its messages, and every message key is derived from the step, so a
repeated wake-up, two overlapping wake-ups or a crash at any point never sends twice. After a
restart, steps whose time passed while the bot was down are run once at the next working slot
if the deadline has not passed, otherwise marked missed and reported to the ambassadors.
A room audience is looked up on the platform before the step's transaction opens.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from bot.config import Settings
from bot.core import Clock, Member
from bot.dbwork import DatabaseWorker, InlineDatabase
from bot.domain import Campaign, CampaignStatus, Person, ReminderStep
from bot.notifier import Notifier
from bot.services.audience import Directory
from bot.services.campaigns import CampaignService
from bot.services.charts import chart_ref, has_chart
from bot.services.close import close
from bot.services.figures import snapshot_moment
from bot.services.launch import launch
from bot.services.ministry import pool_totals, stats_among_ministry
from bot.services.ports import Actor
from bot.services.remind import remind
from bot.stats import CampaignStats, GroupStats
from scheduler.planning import Planner
from scheduler.plans import StepKind
from storage.uow import Store, UnitOfWork

# A step woken more than this after its time is a missed step (the bot was down).
LATE_AFTER = timedelta(minutes=15)
# Inbound event ids are kept long enough to refuse any redelivery by a platform.
PROCESSED_EVENTS_KEPT = timedelta(days=30)
# What the scheduler writes in the audit log; batch reports go to the campaign's initiator.
SCHEDULER = Actor("scheduler")


class StepRunner:
    """Runs the due steps of every campaign, and the weekly digest."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        clock: Clock,
        planner: Planner,
        campaigns: CampaignService,
        notifier: Notifier,
        directory: Directory,
        poke: Callable[[], None] = lambda: None,
        database: DatabaseWorker | InlineDatabase | None = None,
    ) -> None:
        self.settings = settings
        # Transactions run there, off the event loop: a launch to thousands must not stall
        # the answers to agents, Slack's acks or the Matrix sync.
        self.database = database or InlineDatabase()
        self.store = store
        self.clock = clock
        self.planner = planner
        self.campaigns = campaigns
        self.notifier = notifier
        self.directory = directory
        self.poke = poke

    async def tick(self, now: datetime | None = None) -> int:
        """Run every planned step that is due; returns how many ran."""
        now = now or self.clock.now()
        due = await self.database.run(self._due, now)
        for step_id in due:
            await self.run_step(step_id, now)
        return len(due)

    def _due(self, now: datetime) -> list[int]:
        self.housekeeping(now)
        with self.store.transaction() as uow:
            return [s.id for s in uow.steps.planned(before=now)]

    def housekeeping(self, now: datetime) -> None:
        """Forget what is no longer needed: old event ids, unanswered questions past retention."""
        retention = timedelta(days=self.settings.bot.faq_retention_days)
        with self.store.transaction() as uow:
            uow.events.purge_before(now - PROCESSED_EVENTS_KEPT)
            uow.questions.purge_before(now - retention)

    async def run_step(self, step_id: int, now: datetime | None = None) -> None:
        now = now or self.clock.now()
        room = await self.database.run(self._room_of_launch, step_id)
        # A launch step to a room needs the room's members: asked before the transaction.
        members = await self.directory.room_members(room) if room is not None else None
        await self.database.run(self._run_step_in_transaction, step_id, now, members)
        self.poke()

    def _room_of_launch(self, step_id: int) -> str | None:
        with self.store.transaction() as uow:
            step = uow.steps.get(step_id)
            campaign = uow.campaigns.get(step.campaign_id) if step else None
        if step is None or campaign is None or step.kind != StepKind.LAUNCH:
            return None
        return campaign.audience_value if campaign.audience_kind == "room" else None

    def _run_step_in_transaction(
        self, step_id: int, now: datetime, members: Sequence[Member] | None
    ) -> None:
        with self.store.transaction() as uow:
            self._run_step(uow, step_id, now, members)

    def _run_step(
        self, uow: UnitOfWork, step_id: int, now: datetime, members: Sequence[Member] | None
    ) -> None:
        step = uow.steps.get(step_id)
        if step is None or step.status != "planned" or step.fire_at > now:
            return
        campaign = uow.campaigns.get(step.campaign_id)
        if campaign is None or campaign.status in (CampaignStatus.CLOSED, CampaignStatus.CANCELLED):
            uow.steps.set_status(step.id, "cancelled", now)
            return
        late = step.kind != StepKind.CLOSE and now - step.fire_at > LATE_AFTER
        if late and self._handle_late(uow, step, campaign, now):
            return
        self._execute(uow, step, campaign, now, members)

    def _handle_late(
        self, uow: UnitOfWork, step: ReminderStep, campaign: Campaign, now: datetime
    ) -> bool:
        """A step missed while the bot was down. True when it was handled (not run now)."""
        calendar, tz = self.planner.calendar, self.planner.tz
        if now.astimezone(tz).date() > campaign.deadline:
            uow.steps.set_status(step.id, "missed", now)
            # A "plus tard" step exists only because one agent said so: a notice about it
            # would tell the ambassadors that someone did. Only the plan's own steps are told.
            if step.person_id is None:
                self._report(uow, campaign, "step_missed", f"missed:{step.id}", now, step=step)
            return True
        if not calendar.is_working_time(now, tz):
            uow.steps.reschedule(step.id, calendar.next_slot(now, tz))
            moved = uow.steps.get(step.id)
            if moved is not None:
                self.planner.wakeups.schedule(moved)
            return True
        return False  # inside working hours: run it now, once

    def _execute(
        self,
        uow: UnitOfWork,
        step: ReminderStep,
        campaign: Campaign,
        now: datetime,
        members: Sequence[Member] | None,
    ) -> None:
        if not uow.steps.set_status(step.id, "done", now):
            return  # another wake-up got there first
        if step.kind == StepKind.LAUNCH:
            self._launch(uow, step, campaign, now, members)
        elif step.kind in (StepKind.REMINDER, "snooze"):
            reminded = remind(uow, campaign, now, SCHEDULER, campaigns=self.campaigns, step=step)
            # A "plus tard" step is one person's: when it sends them nothing (they finished or
            # stopped since, or the campaign stopped running) it did not happen.
            personal_and_empty = step.kind == "snooze" and reminded.count == 0
            if personal_and_empty or (reminded.not_running and step.kind == StepKind.REMINDER):
                uow.steps.set_status(step.id, "cancelled", now, expect="done")
        elif step.kind == StepKind.CLOSE:
            thank = self.settings.schedule.thank_completers
            closed = close(uow, campaign, now, SCHEDULER, campaigns=self.campaigns, thank=thank)
            self._report(
                uow,
                campaign,
                "campaign_closed_auto",
                f"closed:{campaign.id}",
                now,
                thank=thank,
                stats=closed.stats,
            )

    def _launch(
        self,
        uow: UnitOfWork,
        step: ReminderStep,
        campaign: Campaign,
        now: datetime,
        members: Sequence[Member] | None,
    ) -> None:
        if campaign.status != CampaignStatus.SCHEDULED:
            # Never confirmed with "campagne lancer": nothing goes out on its own.
            uow.steps.set_status(step.id, "cancelled", now, expect="done")
            return
        initiator = self._initiator(uow, campaign)
        actor = replace(SCHEDULER, person_id=initiator.id if initiator else None)
        launch(
            uow,
            campaign,
            now,
            actor,
            campaigns=self.campaigns,
            planning=self.planner,
            # A room the platform no longer shows: nobody to invite, the launch still happens
            # (and its summary comes, like any launch's).
            members=[] if members is None else members,
            by_step=True,
        )

    def _pool_totals(self, uow: UnitOfWork, now: datetime) -> dict[int, GroupStats]:
        """The day's pooled totals (the ministry's line), as every ambassador reads them."""
        service = self.campaigns
        as_of = snapshot_moment(now, service.refresh, service.tz)
        return pool_totals(uow, as_of, service.min_group, now, service.refresh, service.tz)

    def _ambassadors(self, uow: UnitOfWork, campaign: Campaign) -> list[Person]:
        people = uow.roles.ambassadors_of(campaign.service)
        if campaign.created_by is not None and all(p.id != campaign.created_by for p in people):
            creator = uow.people.get(campaign.created_by)
            if creator is not None:
                people.append(creator)
        return people

    def _initiator(self, uow: UnitOfWork, campaign: Campaign) -> Person | None:
        creator = uow.people.get(campaign.created_by) if campaign.created_by else None
        if creator is None:
            ambassadors = uow.roles.ambassadors_of(campaign.service)
            creator = ambassadors[0] if ambassadors else None
        return creator

    def _report(
        self,
        uow: UnitOfWork,
        campaign: Campaign,
        template: str,
        key: str,
        now: datetime,
        **variables: Any,
    ) -> None:
        for person in self._ambassadors(uow, campaign):
            self.notifier.to_person(
                uow,
                person,
                template,
                key=f"{key}:{person.id}",
                now=now,
                kind="report",
                campaign=campaign,
                **variables,
            )

    def _digest_charts(
        self,
        uow: UnitOfWork,
        person: Person,
        campaigns: Sequence[Campaign],
        stats: Mapping[int, CampaignStats],
        key: str,
        now: datetime,
    ) -> None:
        """The digest carries the same picture as ``campagne stats``, one per campaign."""
        day = now.astimezone(self.planner.tz).date()
        locale = self.notifier.locale_of(person)
        for campaign in campaigns:
            if not has_chart(stats[campaign.id]):
                continue
            self.notifier.to_person(
                uow,
                person,
                "chart_alt",
                key=f"{key}:chart:{campaign.id}",
                now=now,
                kind="report",
                attachment=chart_ref(campaign.id, day, locale),
                campaign=campaign,
                stats=stats[campaign.id],
            )

    def digest(self, now: datetime | None = None) -> int:
        """Weekly progress digest to each ambassador with running campaigns."""
        now = now or self.clock.now()
        week = now.astimezone(self.planner.tz).strftime("%G-W%V")
        min_group = self.settings.stats.min_group
        sent = 0
        pool: dict[int, GroupStats] | None = None
        with self.store.transaction() as uow:
            for person, service in uow.roles.holders("ambassador"):
                if service is None:
                    continue
                campaigns = uow.campaigns.search([service], statuses=[CampaignStatus.RUNNING])
                if not campaigns:
                    continue
                if pool is None:  # the day's pooled totals (the ministry's line), read once
                    pool = self._pool_totals(uow, now)
                stats = {
                    c.id: stats_among_ministry(self.campaigns, uow, c, now, pool) for c in campaigns
                }
                rows = [
                    {
                        "campaign": c,
                        "total": stats[c.id].total,
                        "stats": stats[c.id],
                        "steps": self.planner.describe(uow, c, now),
                    }
                    for c in campaigns
                ]
                key = f"digest:{week}:{person.id}:{service}"
                if self.notifier.to_person(
                    uow,
                    person,
                    "digest",
                    key=key,
                    now=now,
                    kind="report",
                    rows=rows,
                    service=service,
                    min_group=min_group,
                ):
                    sent += 1
                self._digest_charts(uow, person, campaigns, stats, key, now)
        self.poke()
        return sent

    def morning_notes(self, now: datetime | None = None) -> int:
        """The morning note (``[schedule] morning_note``): each working day, once the sending
        window of the ambassador's time zone opens, the day's figures of the running campaigns
        of their services — the daily snapshot under the rule, the ministry's line beside —
        unless they said « note du matin arrêter ». Woken every few minutes (scheduler.jobs):
        the key ``note:DAY:PERSON`` makes it once per local day, across crashes and restarts; a
        campaign whose snapshot predates its invitations (launched today) is left out, so
        nothing is sent on launch day before figures exist. Returns how many notes left."""
        if not self.settings.schedule.morning_note:
            return 0
        now = now or self.clock.now()
        calendar = self.planner.calendar
        sent = 0
        with self.store.transaction() as uow:
            running: dict[str, list[Campaign]] = {}
            for campaign in uow.campaigns.search(statuses=[CampaignStatus.RUNNING]):
                running.setdefault(campaign.service, []).append(campaign)
            if not running:
                return 0
            services_of: dict[int, tuple[Person, list[str]]] = {}
            for person, service in uow.roles.holders("ambassador"):
                if service in running:
                    services_of.setdefault(person.id, (person, []))[1].append(service)
            off = uow.notes.off_among(services_of)
            stats: dict[int, CampaignStats] = {}
            pool: dict[int, GroupStats] | None = None
            for person, services in services_of.values():
                zone = self.campaigns.zone(person)
                if person.id in off or not calendar.is_working_time(now, zone):
                    continue
                key = f"note:{now.astimezone(zone).date().isoformat()}:{person.id}"
                if uow.outbox.get(key) is not None:
                    continue
                rows: list[dict[str, Any]] = []
                as_of = now
                for campaign in (c for s in services for c in running[s]):
                    if campaign.id not in stats:
                        if pool is None:  # the day's pooled totals, read once per run
                            pool = self._pool_totals(uow, now)
                        stats[campaign.id] = stats_among_ministry(
                            self.campaigns, uow, campaign, now, pool
                        )
                    shown = stats[campaign.id]
                    if shown.before_launch or not shown.total.counts.invited:
                        continue
                    as_of = shown.as_of or now
                    rows.append(
                        {
                            "campaign": campaign,
                            "stats": shown,
                            "closes_at": self.campaigns.closes_at(uow, campaign),
                            "steps": self.planner.describe(uow, campaign, now),
                        }
                    )
                if rows and self.notifier.to_person(
                    uow,
                    person,
                    "morning_note",
                    key=key,
                    now=now,
                    kind="morning_note",
                    rows=rows,
                    as_of=as_of,
                    min_group=self.settings.stats.min_group,
                ):
                    sent += 1
        if sent:
            self.poke()
        return sent
