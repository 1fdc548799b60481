"""Planning reminder schedules: a campaign's plan becomes step rows; APScheduler is only told
when to wake up (through :class:`Wakeups`)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.config import Settings
from bot.domain import Campaign, CampaignStatus, Person, ReminderStep, StepView
from bot.parsing import ParseError
from scheduler.plans import PlannedStep, StepKind, parse_offsets, plan_campaign, send_time
from scheduler.views import (
    calendar_from,
    display_time,
    plan_settings_from,
    zone_of,
)
from storage.uow import UnitOfWork

# Reminders one plan may hold (``campagne rappels``): a plan is a few steps, not a daily spam.
MAX_PLAN_STEPS = 10


class Wakeups(Protocol):
    """Whoever wakes the bot up when a planned step is due (APScheduler in production)."""

    def schedule(self, step: ReminderStep) -> None: ...

    def unschedule(self, step_ids: list[int]) -> None: ...


class NoWakeups:
    """For processes that plan but never run steps (the CLI): the bot's start-up reads every
    planned step from the database anyway."""

    def schedule(self, step: ReminderStep) -> None:
        pass

    def unschedule(self, step_ids: list[int]) -> None:
        pass


class Planner:
    """Plans campaigns into step rows."""

    def __init__(self, settings: Settings, wakeups: Wakeups | None = None) -> None:
        self.calendar = calendar_from(settings)
        self.plan_settings = plan_settings_from(settings)
        self.tz = ZoneInfo(settings.bot.timezone)
        self.snooze_working_days = settings.schedule.snooze_working_days
        self.wakeups: Wakeups = wakeups or NoWakeups()

    def _zones(self, uow: UnitOfWork, campaign: Campaign) -> set[ZoneInfo]:
        people = uow.campaigns.audience(campaign.id)
        if not people and campaign.audience_kind == "service":
            people = uow.people.in_service(campaign.audience_value)
        return {self.tz} | {zone_of(p.timezone, self.tz) for p in people}

    def is_working_day(self, day: date) -> bool:
        return self.calendar.is_working_day(day)

    def holiday_name(self, day: date) -> str | None:
        return self.calendar.holiday_name(day)

    def fire_at(
        self, step: PlannedStep, zones: set[ZoneInfo], now: datetime | None = None
    ) -> datetime:
        """The earliest instant any audience member should get this step (never before
        ``now``: a launch planned today at 10:00 is not shown at 09:30)."""
        if step.kind == StepKind.CLOSE:
            return send_time(step, self.calendar, self.tz)
        return min(send_time(step, self.calendar, zone, now=now) for zone in zones)

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
        self.wakeups.unschedule(replaced)
        zones = self._zones(uow, campaign)
        done_labels = {(s.kind, s.label) for s in existing if s.status == "done"}
        for step in plan.steps():
            if step.kind == StepKind.LAUNCH and launch_done is not None:
                continue
            if (step.kind, step.label) in done_labels:
                continue
            row = uow.steps.add(
                campaign.id, step.kind, step.label, step.day, self.fire_at(step, zones, now)
            )
            self.wakeups.schedule(row)
        if plan.launch.kind == StepKind.LAUNCH and launch_done is None:
            uow.campaigns.set_start(campaign.id, plan.launch.day)
        return self.describe(uow, campaign, now)

    def describe(
        self, uow: UnitOfWork, campaign: Campaign, now: datetime | None = None
    ) -> list[StepView]:
        """The plan as people read it: each line says what happened (or will) and when,
        manual relances included (at the working time they leave)."""
        steps = [
            StepView(
                when=display_time(step, self.calendar, self.tz),
                kind=step.kind,
                label=step.label,
                status=step.status,
                day=step.day,
                pending=bool(now and step.status == "done" and step.done_at and step.done_at > now),
            )
            for step in uow.steps.for_campaign(campaign.id)
            if step.person_id is None
        ]
        for asked in uow.audit.moments("campaign_remind", campaign.id, exclude_actor="scheduler"):
            leaves = self.calendar.next_slot(asked, self.tz)
            steps.append(
                StepView(
                    when=leaves,
                    kind="relance",
                    label="",
                    status="done",
                    day=leaves.date(),
                    pending=bool(now and leaves > now),
                )
            )
        return sorted(steps, key=lambda step: step.when)

    def time_for(self, step: ReminderStep, person: Person) -> datetime:
        """When a planned step reaches this person: its day at the start of working hours in
        their time zone (a "plus tard" reminder is already theirs)."""
        if step.kind not in (StepKind.LAUNCH, StepKind.REMINDER) or step.person_id is not None:
            return step.fire_at
        planned = PlannedStep(StepKind(step.kind), step.label, step.day)
        return max(
            send_time(planned, self.calendar, zone_of(person.timezone, self.tz)), step.fire_at
        )

    def set_reminders(
        self, uow: UnitOfWork, campaign: Campaign, text: str, now: datetime
    ) -> list[StepView]:
        try:
            offsets = parse_offsets(text.replace(" ", ","))
        except ValueError:
            raise ParseError("error_offsets_invalid", value=text[:60]) from None
        if not offsets:
            raise ParseError("error_offsets_invalid", value=text[:60])
        if len(offsets) > MAX_PLAN_STEPS:
            raise ParseError("error_offsets_too_many", limit=MAX_PLAN_STEPS)
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

    def launched(
        self, uow: UnitOfWork, campaign: Campaign, now: datetime, leave_at: datetime | None = None
    ) -> None:
        """Invitations went out by hand (leaving at ``leave_at`` when queued for the working
        hours): the launch step is done at that moment; refresh fire times."""
        step = self._launch_step(uow, campaign)
        if step is not None:
            uow.steps.set_status(step.id, "done", leave_at or now)
            self.wakeups.unschedule([step.id])
        else:
            # A launch step that woke up before "lancer" (a draft is never sent on its own)
            # was cancelled: the launch that follows is what happened.
            for row in uow.steps.for_campaign(campaign.id):
                if row.kind == StepKind.LAUNCH and row.status == "cancelled":
                    uow.steps.set_status(row.id, "done", leave_at or now, expect="cancelled")
        self.retime_reminders(uow, campaign, now)

    def retime_reminders(self, uow: UnitOfWork, campaign: Campaign, now: datetime) -> None:
        """The audience is known (a launch recorded it): planned reminders leave at the first
        agent's morning among the time zones it holds."""
        zones = self._zones(uow, campaign)
        for row in uow.steps.for_campaign(campaign.id):
            if row.status == "planned" and row.kind == StepKind.REMINDER:
                planned = PlannedStep(StepKind(row.kind), row.label, row.day)
                fire_at = self.fire_at(planned, zones, now)
                if fire_at != row.fire_at:
                    uow.steps.reschedule(row.id, fire_at)
                    moved = uow.steps.get(row.id)
                    if moved is not None:
                        self.wakeups.schedule(moved)

    def snooze(
        self, uow: UnitOfWork, campaign: Campaign, person: Person, now: datetime
    ) -> datetime | None:
        """One extra reminder after N working days, unless a planned one comes first."""
        zone = zone_of(person.timezone, self.tz)
        local_today = now.astimezone(zone).date()
        day = self.calendar.add_working_days(local_today, self.snooze_working_days)
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
        self.wakeups.schedule(row)
        return when
