"""How reminder plans are shown: step views for templates and JSON, and the calendar
built from the settings."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.config import Settings
from bot.domain import ReminderStep
from scheduler.calendar import WorkCalendar
from scheduler.plans import PlannedStep, PlanSettings, StepKind, send_time


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


def display_time(step: ReminderStep, calendar: WorkCalendar, tz: ZoneInfo) -> datetime:
    """When a step happens in the reference time zone (agents elsewhere get it at the same
    local hour): a step done shows when its messages left (or leave), a step planned when it
    will run; a step moved after downtime shows its actual time."""
    if step.status == "done" and step.done_at is not None:
        return step.done_at.astimezone(tz)
    if step.kind == "snooze" or step.status != "planned":
        return step.fire_at.astimezone(tz)
    nominal = send_time(PlannedStep(StepKind(step.kind), step.label, step.day), calendar, tz)
    return max(nominal, step.fire_at.astimezone(tz))


def zone_of(name: str | None, default: ZoneInfo) -> ZoneInfo:
    if not name:
        return default
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return default
