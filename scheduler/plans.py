"""The reminder plan of a campaign: launch, reminders before the target date, close.

Pure functions of their arguments (sans-I/O): `now` is always a parameter, never read from a
clock. Dates are local calendar dates in the campaign's reference time zone; `send_time` turns
a planned step into the instant an agent in a given time zone should receive it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from scheduler.calendar import WorkCalendar

__all__ = [
    "MAX_OFFSET",
    "DropReason",
    "DroppedStep",
    "Plan",
    "PlanSettings",
    "PlannedStep",
    "StepKind",
    "offset_label",
    "parse_offset",
    "parse_offsets",
    "plan_campaign",
    "send_time",
]

MAX_OFFSET = 365

# "J-7" (French jour) or "D-7" (English day); dashes that chat clients substitute are accepted.
_OFFSET_RE = re.compile(r"^([jd])\s*[-\u2010-\u2015\u2212]\s*(\d+)$")
_POSITIVE_OFFSET_RE = re.compile(r"^[jd]\s*\+\s*\d+$")


class StepKind(StrEnum):
    LAUNCH = "launch"
    REMINDER = "reminder"
    CLOSE = "close"


class DropReason(StrEnum):
    PAST = "past"  # no working time left on that day at planning time
    AFTER_DEADLINE = "after_deadline"  # an event-linked step landing after the deadline
    BEFORE_LAUNCH = "before_launch"  # on or before the launch day
    DUPLICATE = "duplicate"  # same day as an earlier-offset reminder after moving


LAUNCH_LABEL = "launch"
CLOSE_LABEL = "close"


def offset_label(offset: int) -> str:
    return f"J-{offset}"


def _check_offset(offset: int, text: str) -> int:
    if not 0 <= offset <= MAX_OFFSET:
        raise ValueError(f"offset {text!r} out of range: expected J-0 to J-{MAX_OFFSET}")
    return offset


def parse_offset(text: str) -> int:
    """Parse "J-7" / "j-10" / "D-3" into a number of days before the target (0..365)."""
    cleaned = text.strip().lower()
    match = _OFFSET_RE.match(cleaned)
    if match is None:
        if _POSITIVE_OFFSET_RE.match(cleaned):
            raise ValueError(
                f"invalid offset {text!r}: reminders are planned before the date, use J-n"
            )
        raise ValueError(f"invalid offset {text!r}: expected J-n, e.g. J-7 or J-0")
    return _check_offset(int(match.group(2)), text)


def parse_offsets(text_or_list: str | Iterable[str | int]) -> tuple[int, ...]:
    """Parse "J-10,J-3,J-0" or ["J-7", "J-2"] (or ints): deduplicated, furthest first."""
    if isinstance(text_or_list, str):
        items: Iterable[str | int] = [
            part for part in re.split(r"[,;\s]+", text_or_list.strip()) if part
        ]
    else:
        items = text_or_list
    offsets: set[int] = set()
    for item in items:
        if isinstance(item, bool):
            raise ValueError(f"invalid offset {item!r}: expected J-n")
        if isinstance(item, int):
            offsets.add(_check_offset(item, str(item)))
        else:
            offsets.add(parse_offset(item))
    return tuple(sorted(offsets, reverse=True))


@dataclass(frozen=True)
class PlanSettings:
    """The [schedule] plan settings, as days before the target date (defaults: COMMANDS.md)."""

    reminders: tuple[int, ...] = (7, 2, 0)
    event_launch: int = 15
    event_reminders: tuple[int, ...] = (7, 1)

    def __post_init__(self) -> None:
        object.__setattr__(self, "reminders", parse_offsets(self.reminders))
        object.__setattr__(self, "event_reminders", parse_offsets(self.event_reminders))
        _check_offset(self.event_launch, str(self.event_launch))

    @classmethod
    def from_settings(
        cls,
        reminders: str | Iterable[str],
        event_launch: str,
        event_reminders: str | Iterable[str],
    ) -> PlanSettings:
        """Build from config values such as (["J-7", "J-2", "J-0"], "J-15", ["J-7", "J-1"])."""
        return cls(
            reminders=parse_offsets(reminders),
            event_launch=parse_offset(event_launch),
            event_reminders=parse_offsets(event_reminders),
        )


@dataclass(frozen=True)
class PlannedStep:
    kind: StepKind
    label: str  # "J-7" for reminders, "launch", "close"; display wording belongs to templates
    day: date  # local date in the reference time zone, after moving to a working day
    offset: int | None = None  # days before the target; None for launch-now, a given date, close
    moved_from: date | None = None  # the date before moving (holiday, week-end, …), else None


@dataclass(frozen=True)
class DroppedStep:
    label: str
    day: date  # after moving to a working day
    reason: DropReason


@dataclass(frozen=True)
class Plan:
    launch: PlannedStep
    reminders: tuple[PlannedStep, ...]
    close: PlannedStep
    dropped: tuple[DroppedStep, ...] = ()

    def steps(self) -> tuple[PlannedStep, ...]:
        """Launch, reminders in date order, close."""
        return (self.launch, *sorted(self.reminders, key=lambda step: step.day), self.close)


def plan_campaign(
    *,
    deadline: date,
    now: datetime,
    calendar: WorkCalendar,
    settings: PlanSettings,
    tz: ZoneInfo,
    event_date: date | None = None,
    launch_on: date | None = None,
    reminders: tuple[int, ...] | None = None,
) -> Plan:
    """Compute the plan of a campaign closing on `deadline`.

    - Target: `event_date` when the campaign is linked to an event, else `deadline`.
      Offsets: `reminders` when given, else `settings.event_reminders` (event) or
      `settings.reminders`. J-n is n calendar days before the target, then moved back to the
      previous working day.
    - Launch: `launch_on` when given (moved forward to the next working day, or back to the
      previous one when moving forward would reach the first reminder or pass the deadline;
      a past `launch_on` is a launch that already happened and is kept as is); else
      `settings.event_launch` days before the event, moved back to a working day; else now.
      A launch that cannot happen any more (before the first working slot >= now) is "now",
      i.e. on the day of that first slot.
    - Reminders are dropped when after the deadline, with no working time left on their day,
      on or before the launch day, or on the same day as a reminder with a larger offset.
    - Close is at the end of the last working day up to the deadline: a deadline on a
      week-end or a holiday closes (and thanks) on the working day before it. Only when that
      day has already passed (re-planning over such a week-end) does it stay on the deadline.
    """
    local_now = _aware(now).astimezone(tz)
    today = local_now.date()
    if deadline < today:
        raise ValueError(f"the deadline {deadline.isoformat()} is in the past")
    # First day with working time left: a step planned earlier could only be sent late.
    earliest = calendar.next_slot(local_now, tz).date()

    target = event_date if event_date is not None else deadline
    if reminders is not None:
        offsets = parse_offsets(reminders)
    elif event_date is not None:
        offsets = settings.event_reminders
    else:
        offsets = settings.reminders

    candidates: list[tuple[int, date, date]] = []  # (offset, original day, working day)
    for offset in offsets:
        original = target - timedelta(days=offset)
        candidates.append((offset, original, calendar.previous_working_day(original)))

    launch = _plan_launch(
        deadline=deadline,
        today=today,
        earliest=earliest,
        calendar=calendar,
        settings=settings,
        event_date=event_date,
        launch_on=launch_on,
        reminder_days=[day for _, _, day in candidates],
    )

    kept: list[PlannedStep] = []
    dropped: list[DroppedStep] = []
    kept_days: set[date] = set()
    for offset, original, day in candidates:  # furthest first: the later duplicate is dropped
        label = offset_label(offset)
        reason: DropReason | None = None
        if day > deadline:
            reason = DropReason.AFTER_DEADLINE
        elif day < earliest:
            reason = DropReason.PAST
        elif day <= launch.day:
            reason = DropReason.BEFORE_LAUNCH
        elif day in kept_days:
            reason = DropReason.DUPLICATE
        if reason is not None:
            dropped.append(DroppedStep(label, day, reason))
            continue
        kept_days.add(day)
        kept.append(
            PlannedStep(
                StepKind.REMINDER,
                label,
                day,
                offset=offset,
                moved_from=original if original != day else None,
            )
        )

    close = _plan_close(deadline, today, calendar)
    kept.sort(key=lambda step: step.day)
    return Plan(launch=launch, reminders=tuple(kept), close=close, dropped=tuple(dropped))


def _plan_close(deadline: date, today: date, calendar: WorkCalendar) -> PlannedStep:
    day = calendar.previous_working_day(deadline)
    if day == deadline or day < today:
        return PlannedStep(StepKind.CLOSE, CLOSE_LABEL, deadline)
    return PlannedStep(StepKind.CLOSE, CLOSE_LABEL, day, moved_from=deadline)


def _plan_launch(
    *,
    deadline: date,
    today: date,
    earliest: date,
    calendar: WorkCalendar,
    settings: PlanSettings,
    event_date: date | None,
    launch_on: date | None,
    reminder_days: list[date],
) -> PlannedStep:
    offset: int | None = None
    if launch_on is not None:
        if launch_on > deadline:
            raise ValueError(
                f"the launch date {launch_on.isoformat()} is after the deadline "
                f"{deadline.isoformat()}"
            )
        if launch_on < today:
            # Re-planning a running campaign: its launch already happened.
            return PlannedStep(StepKind.LAUNCH, LAUNCH_LABEL, launch_on)
        requested = launch_on
        day = calendar.next_working_day(max(launch_on, earliest))
        later_reminders = [reminder for reminder in reminder_days if reminder > launch_on]
        limit = min([*later_reminders, deadline + timedelta(days=1)])
        if day >= limit:
            backward = calendar.previous_working_day(launch_on)
            if backward >= earliest:
                day = backward
    elif event_date is not None:
        offset = settings.event_launch
        requested = event_date - timedelta(days=offset)
        day = calendar.previous_working_day(requested)
        if day > deadline:
            raise ValueError(
                f"the launch date {day.isoformat()} (J-{offset} before the event) is after "
                f"the deadline {deadline.isoformat()}"
            )
        if day < earliest:
            day = earliest  # too late for the planned launch: launch now
    else:
        requested = today
        day = earliest

    if day > deadline:
        raise ValueError(
            f"no working day left to launch before the deadline {deadline.isoformat()}"
        )
    return PlannedStep(
        StepKind.LAUNCH,
        LAUNCH_LABEL,
        day,
        offset=offset,
        moved_from=requested if requested != day else None,
    )


def send_time(
    step: PlannedStep,
    calendar: WorkCalendar,
    agent_tz: ZoneInfo,
    *,
    now: datetime | None = None,
) -> datetime:
    """When an agent in `agent_tz` should receive `step` (aware, in `agent_tz`).

    Launch and reminders: start of working hours on the step's day, agent's local time.
    Close: end of working hours on the deadline day. When `now` is given and that instant
    has passed, the earliest working instant >= now instead (now itself during working hours).
    """
    if step.kind is StepKind.CLOSE:
        moment = calendar.end_on(step.day, agent_tz)
    else:
        moment = calendar.slot_on(step.day, agent_tz)
    if now is not None and moment < _aware(now):
        moment = calendar.next_slot(now, agent_tz)
    return moment


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("`now` must be a time-zone aware datetime")
    return moment
