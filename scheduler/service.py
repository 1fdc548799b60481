"""Executing reminder plans: steps are database rows, APScheduler only wakes the bot.

A step row (planned → done | missed | cancelled) is moved out of ``planned`` in the same
transaction that enqueues its messages, and every message key is derived from the step, so a
repeated wake-up, two overlapping wake-ups or a crash at any point never sends twice. After a
restart, steps whose time passed while the bot was down are run once at the next working slot
if the deadline has not passed, otherwise marked missed and reported to the ambassadors.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger

from bot import campaign_ops as ops
from bot.domain import Campaign, CampaignStatus, Person, ReminderStep
from bot.parsing import ParseError
from scheduler.calendar import WorkCalendar
from scheduler.plans import (
    PlannedStep,
    PlanSettings,
    StepKind,
    parse_offsets,
    plan_campaign,
    send_time,
)
from storage.uow import UnitOfWork

if TYPE_CHECKING:
    from bot.app import App
    from bot.config import Settings

log = logging.getLogger(__name__)

# A step woken more than this after its time is a missed step (the bot was down).
LATE_AFTER = timedelta(minutes=15)
# Inbound event ids are kept long enough to refuse any redelivery by a platform.
PROCESSED_EVENTS_KEPT = timedelta(days=30)

# Module-level registry so APScheduler jobs are plain module-level coroutines taking ids.
_SERVICES: dict[str, SchedulerService] = {}


async def run_step(service_key: str, step_id: int) -> None:
    service = _SERVICES.get(service_key)
    if service is not None:
        await service.run_step(step_id)


async def run_due(service_key: str) -> None:
    service = _SERVICES.get(service_key)
    if service is not None:
        await service.tick()


async def send_digest(service_key: str) -> None:
    service = _SERVICES.get(service_key)
    if service is not None:
        async with service.app.lock:
            service.digest()


def calendar_from(settings: Settings) -> WorkCalendar:
    schedule = settings.schedule
    return WorkCalendar.from_settings(
        schedule.working_hours, schedule.working_days, schedule.holidays
    )


def plan_settings_from(settings: Settings) -> PlanSettings:
    schedule = settings.schedule
    return PlanSettings.from_settings(
        schedule.reminders, schedule.event_launch, schedule.event_reminders
    )


@dataclass(frozen=True, slots=True)
class StepView:
    """A step as templates show it (wording in bot/messages/*/step_*.txt)."""

    when: datetime
    kind: str
    label: str
    status: str
    day: date


def display_time(step: ReminderStep, calendar: WorkCalendar, tz: ZoneInfo) -> datetime:
    """When a step happens in the reference time zone (agents elsewhere get it at the same
    local hour); a step moved after downtime shows its actual time."""
    if step.kind == "snooze" or step.status != "planned":
        return step.fire_at.astimezone(tz)
    nominal = send_time(PlannedStep(StepKind(step.kind), step.label, step.day), calendar, tz)
    return max(nominal, step.fire_at.astimezone(tz))


def describe_steps(settings: Settings, uow: UnitOfWork, campaign: Campaign) -> list[dict[str, Any]]:
    """The plan as JSON-ready dicts (ISO 8601 with offset, in the bot's time zone)."""
    tz = ZoneInfo(settings.bot.timezone)
    calendar = calendar_from(settings)
    return [
        {
            "kind": step.kind,
            "label": step.label,
            "day": step.day.isoformat(),
            "at": display_time(step, calendar, tz).isoformat(),
            "status": step.status,
        }
        for step in uow.steps.for_campaign(campaign.id)
        if step.person_id is None
    ]


class SchedulerService:
    """Plans campaigns into step rows and runs the due ones."""

    def __init__(self, app: App, key: str = "default") -> None:
        self.app = app
        self.key = key
        self.calendar = calendar_from(app.settings)
        self.plan_settings = plan_settings_from(app.settings)
        self.tz = ZoneInfo(app.settings.bot.timezone)
        self.scheduler: AsyncIOScheduler | None = None
        _SERVICES[key] = self

    # -- planning ----------------------------------------------------------------------------

    def _zones(self, uow: UnitOfWork, campaign: Campaign) -> set[ZoneInfo]:
        people = uow.campaigns.audience(campaign.id)
        if not people and campaign.audience_kind == "service":
            people = uow.people.in_service(campaign.audience_value)
        return {self.tz} | {_zone(p.timezone, self.tz) for p in people}

    def _fire_at(self, step: PlannedStep, zones: set[ZoneInfo]) -> datetime:
        """The earliest instant any audience member should get this step."""
        if step.kind == StepKind.CLOSE:
            return send_time(step, self.calendar, self.tz)
        return min(send_time(step, self.calendar, zone) for zone in zones)

    def replan(self, uow: UnitOfWork, campaign: Campaign, now: datetime) -> list[StepView]:
        """(Re)compute the plan: planned steps are replaced, done ones are kept."""
        existing = uow.steps.for_campaign(campaign.id)
        launch_done = next(
            (s for s in existing if s.kind == StepKind.LAUNCH and s.status == "done"), None
        )
        reminders = parse_offsets(campaign.reminders) if campaign.reminders else None
        plan = plan_campaign(
            deadline=campaign.deadline,
            now=now,
            calendar=self.calendar,
            settings=self.plan_settings,
            tz=self.tz,
            event_date=campaign.event_date,
            launch_on=launch_done.day if launch_done else None,
            reminders=reminders,
        )
        replaced = uow.steps.delete_planned(campaign.id, kinds=("launch", "reminder", "close"))
        self._unschedule(replaced)
        zones = self._zones(uow, campaign)
        done_labels = {(s.kind, s.label) for s in existing if s.status == "done"}
        for step in plan.steps():
            if step.kind == StepKind.LAUNCH and launch_done is not None:
                continue
            if (step.kind, step.label) in done_labels:
                continue
            row = uow.steps.add(
                campaign.id, step.kind, step.label, step.day, self._fire_at(step, zones)
            )
            self._schedule(row)
        if plan.launch.kind == StepKind.LAUNCH and launch_done is None:
            uow.campaigns.set_start(campaign.id, plan.launch.day)
        return self.describe(uow, campaign)

    def describe(self, uow: UnitOfWork, campaign: Campaign) -> list[StepView]:
        return [
            StepView(
                when=display_time(step, self.calendar, self.tz),
                kind=step.kind,
                label=step.label,
                status=step.status,
                day=step.day,
            )
            for step in uow.steps.for_campaign(campaign.id)
            if step.person_id is None
        ]

    def set_reminders(
        self, uow: UnitOfWork, campaign: Campaign, text: str, now: datetime
    ) -> list[StepView]:
        try:
            offsets = parse_offsets(text.replace(" ", ","))
        except ValueError:
            raise ParseError("error_offsets_invalid", value=text[:60]) from None
        if not offsets:
            raise ParseError("error_offsets_invalid", value=text[:60])
        labels = ",".join(f"J-{offset}" for offset in offsets)
        uow.campaigns.set_reminders(campaign.id, labels)
        updated = uow.campaigns.get(campaign.id)
        assert updated is not None
        return self.replan(uow, updated, now)

    def _launch_step(self, uow: UnitOfWork, campaign: Campaign) -> ReminderStep | None:
        return next(
            (
                s
                for s in uow.steps.for_campaign(campaign.id)
                if s.kind == StepKind.LAUNCH and s.status == "planned"
            ),
            None,
        )

    def launch_is_planned(self, uow: UnitOfWork, campaign: Campaign, now: datetime) -> bool:
        """An event campaign whose invitations are planned for later (not today)."""
        step = self._launch_step(uow, campaign)
        if step is None or campaign.event_date is None:
            return False
        return step.day > now.astimezone(self.tz).date()

    def confirm_planned_launch(
        self, uow: UnitOfWork, campaign: Campaign, now: datetime
    ) -> datetime | None:
        step = self._launch_step(uow, campaign)
        uow.campaigns.set_status(campaign.id, CampaignStatus.SCHEDULED)
        return step.fire_at if step else None

    def launched(self, uow: UnitOfWork, campaign: Campaign, now: datetime) -> None:
        """Invitations went out by hand: the planned launch is done; refresh fire times."""
        step = self._launch_step(uow, campaign)
        if step is not None:
            uow.steps.set_status(step.id, "done", now)
            self._unschedule([step.id])
        zones = self._zones(uow, campaign)
        for row in uow.steps.for_campaign(campaign.id):
            if row.status == "planned" and row.kind == StepKind.REMINDER:
                planned = PlannedStep(StepKind(row.kind), row.label, row.day)
                fire_at = self._fire_at(planned, zones)
                if fire_at != row.fire_at:
                    uow.steps.reschedule(row.id, fire_at)
                    self._schedule(
                        ReminderStep(
                            row.id,
                            row.campaign_id,
                            row.kind,
                            row.label,
                            row.day,
                            fire_at,
                            row.status,
                            row.person_id,
                            row.done_at,
                        )
                    )

    def snooze(
        self, uow: UnitOfWork, campaign: Campaign, person: Person, now: datetime
    ) -> datetime | None:
        """One extra reminder after N working days, unless a planned one comes first."""
        zone = _zone(person.timezone, self.tz)
        local_today = now.astimezone(zone).date()
        day = self.calendar.add_working_days(
            local_today, self.app.settings.schedule.snooze_working_days
        )
        when = self.calendar.slot_on(day, zone)
        for step in uow.steps.for_campaign(campaign.id):
            if step.status != "planned" or step.fire_at <= now:
                continue
            if step.kind == StepKind.REMINDER and step.person_id is None:
                agent_time = send_time(
                    PlannedStep(StepKind.REMINDER, step.label, step.day), self.calendar, zone
                )
                if agent_time <= when:
                    return agent_time
            if step.kind == "snooze" and step.person_id == person.id:
                return step.fire_at
        if day > campaign.deadline:
            return None
        row = uow.steps.add(campaign.id, "snooze", "plus tard", day, when, person_id=person.id)
        self._schedule(row)
        return when

    # -- execution ---------------------------------------------------------------------------

    async def tick(self, now: datetime | None = None) -> int:
        """Run every planned step that is due; returns how many ran."""
        now = now or self.app.clock.now()
        async with self.app.lock:
            self.housekeeping(now)
            with self.app.store.transaction() as uow:
                due = [s.id for s in uow.steps.planned(before=now)]
        for step_id in due:
            await self.run_step(step_id, now)
        if due:
            self.app.dispatcher.poke()
        return len(due)

    def housekeeping(self, now: datetime) -> None:
        """Forget what is no longer needed: old event ids, unanswered questions past retention."""
        retention = timedelta(days=self.app.settings.bot.faq_retention_days)
        with self.app.store.transaction() as uow:
            uow.events.purge_before(now - PROCESSED_EVENTS_KEPT)
            uow.questions.purge_before(now - retention)

    async def run_step(self, step_id: int, now: datetime | None = None) -> None:
        async with self.app.lock:
            await self._run_step_locked(step_id, now or self.app.clock.now())
        self.app.dispatcher.poke()

    async def _run_step_locked(self, step_id: int, now: datetime) -> None:
        with self.app.store.transaction() as uow:
            step = uow.steps.get(step_id)
            if step is None or step.status != "planned" or step.fire_at > now:
                return
            campaign = uow.campaigns.get(step.campaign_id)
            if campaign is None or campaign.status in (
                CampaignStatus.CLOSED,
                CampaignStatus.CANCELLED,
            ):
                uow.steps.set_status(step.id, "cancelled", now)
                return
            late = step.kind != StepKind.CLOSE and now - step.fire_at > LATE_AFTER
            if late and self._handle_late(uow, step, campaign, now):
                return
            await self._execute(uow, step, campaign, now)

    def _handle_late(
        self, uow: UnitOfWork, step: ReminderStep, campaign: Campaign, now: datetime
    ) -> bool:
        """A step missed while the bot was down. True when it was handled (not run now)."""
        local_today = now.astimezone(self.tz).date()
        if local_today > campaign.deadline:
            uow.steps.set_status(step.id, "missed", now)
            self._report(uow, campaign, "step_missed", f"missed:{step.id}", now, step=step)
            return True
        if not self.calendar.is_working_time(now, self.tz):
            later = self.calendar.next_slot(now, self.tz)
            uow.steps.reschedule(step.id, later)
            moved = uow.steps.get(step.id)
            if moved is not None:
                self._schedule(moved)
            return True
        return False  # inside working hours: run it now, once

    async def _execute(
        self, uow: UnitOfWork, step: ReminderStep, campaign: Campaign, now: datetime
    ) -> None:
        if not uow.steps.set_status(step.id, "done", now):
            return  # another wake-up got there first
        if step.kind == StepKind.LAUNCH:
            if campaign.status != CampaignStatus.SCHEDULED:
                # Never confirmed with "campagne lancer": nothing goes out on its own.
                uow.steps.set_status(step.id, "cancelled", now, expect="done")
                return
            people = await ops.resolve_audience(self.app, uow, campaign, now)
            batch = ops.Batch("launch", campaign.id, self._report_target(uow, campaign), "step")
            result = ops.invite(self.app, uow, campaign, people, now, batch)
            uow.audit.add("scheduler", "campaign_launch", now, campaign.id, count=result.new)
        elif step.kind == StepKind.REMINDER:
            if campaign.status != CampaignStatus.RUNNING:
                uow.steps.set_status(step.id, "cancelled", now, expect="done")
                return
            planned = PlannedStep(StepKind.REMINDER, step.label, step.day)
            not_before = {
                state.person.id: send_time(
                    planned, self.calendar, _zone(state.person.timezone, self.tz), now=now
                )
                for state in ops.due_for_reminder(uow, campaign)
            }
            count = ops.remind(
                self.app,
                uow,
                campaign,
                f"step{step.id}",
                now,
                label=step.label,
                not_before=not_before,
            )
            uow.audit.add(
                "scheduler", "campaign_remind", now, campaign.id, count=count, detail=step.label
            )
        elif step.kind == "snooze":
            if campaign.status == CampaignStatus.RUNNING and step.person_id is not None:
                ops.remind(
                    self.app,
                    uow,
                    campaign,
                    f"snooze{step.id}",
                    now,
                    label="plus tard",
                    only={step.person_id},
                )
        elif step.kind == StepKind.CLOSE:
            thank = self.app.settings.schedule.thank_completers
            thanked = ops.close(self.app, uow, campaign, now, thank=thank)
            uow.audit.add("scheduler", "campaign_close", now, campaign.id, count=thanked)
            stats = ops.stats(uow, campaign, self.app.settings.stats.min_group)
            self._report(
                uow,
                campaign,
                "campaign_closed_auto",
                f"closed:{campaign.id}",
                now,
                thanked=thanked,
                stats=stats,
            )

    def _ambassadors(self, uow: UnitOfWork, campaign: Campaign) -> list[Person]:
        people = uow.roles.ambassadors_of(campaign.service)
        if campaign.created_by is not None and all(p.id != campaign.created_by for p in people):
            creator = uow.people.get(campaign.created_by)
            if creator is not None:
                people.append(creator)
        return people

    def _report_target(self, uow: UnitOfWork, campaign: Campaign) -> str:
        creator = uow.people.get(campaign.created_by) if campaign.created_by else None
        if creator is None:
            ambassadors = uow.roles.ambassadors_of(campaign.service)
            creator = ambassadors[0] if ambassadors else None
        return f"person:{creator.platform_id}" if creator else ""

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
            self.app.enqueue_to_person(
                uow,
                person,
                template,
                key=f"{key}:{person.id}",
                now=now,
                kind="report",
                campaign=campaign,
                **variables,
            )

    def digest(self, now: datetime | None = None) -> int:
        """Weekly progress digest to each ambassador with running campaigns."""
        now = now or self.app.clock.now()
        week = now.astimezone(self.tz).strftime("%G-W%V")
        sent = 0
        with self.app.store.transaction() as uow:
            for person, service in uow.roles.holders("ambassador"):
                if service is None:
                    continue
                campaigns = uow.campaigns.search([service], statuses=[CampaignStatus.RUNNING])
                if not campaigns:
                    continue
                rows = [
                    {
                        "campaign": c,
                        "total": ops.stats(uow, c, self.app.settings.stats.min_group).total,
                    }
                    for c in campaigns
                ]
                if self.app.enqueue_to_person(
                    uow,
                    person,
                    "digest",
                    key=f"digest:{week}:{person.id}:{service}",
                    now=now,
                    kind="report",
                    rows=rows,
                    service=service,
                    min_group=self.app.settings.stats.min_group,
                ):
                    sent += 1
        self.app.dispatcher.poke()
        return sent

    # -- APScheduler wiring ------------------------------------------------------------------

    def start(self) -> None:
        """Wake up for every planned step; catch up on missed ones right away."""
        self.scheduler = AsyncIOScheduler(timezone=self.tz)
        self.scheduler.add_job(
            run_due,
            "interval",
            minutes=5,
            args=[self.key],
            id=f"{self.key}:tick",
            replace_existing=True,
            next_run_time=self.app.clock.now(),
            coalesce=True,
            max_instances=1,
        )
        digest = self.app.settings.schedule.digest.strip()
        if digest:
            day, _, hour = digest.partition(" ")
            hours, _, minutes = (hour or "09:30").partition(":")
            self.scheduler.add_job(
                send_digest,
                CronTrigger(
                    day_of_week=day[:3].lower(),
                    hour=int(hours),
                    minute=int(minutes or 0),
                    timezone=self.tz,
                ),
                args=[self.key],
                id=f"{self.key}:digest",
                replace_existing=True,
            )
        with self.app.store.transaction() as uow:
            planned = uow.steps.planned()
        self.scheduler.start()
        for step in planned:
            self._schedule(step)

    def stop(self) -> None:
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self.scheduler = None
        _SERVICES.pop(self.key, None)

    def _schedule(self, step: ReminderStep) -> None:
        if self.scheduler is None or step.status != "planned":
            return
        self.scheduler.add_job(
            run_step,
            DateTrigger(run_date=step.fire_at),
            args=[self.key, step.id],
            id=f"{self.key}:step:{step.id}",
            replace_existing=True,
            misfire_grace_time=None,
            coalesce=True,
        )

    def _unschedule(self, step_ids: list[int]) -> None:
        if self.scheduler is None:
            return
        for step_id in step_ids:
            job = self.scheduler.get_job(f"{self.key}:step:{step_id}")
            if job is not None:
                job.remove()


def _zone(name: str | None, default: ZoneInfo) -> ZoneInfo:
    if not name:
        return default
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return default
