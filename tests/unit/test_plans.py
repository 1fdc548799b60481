"""The pure reminder planner (`scheduler.plans`) and its working calendar (`scheduler.calendar`).

Every test uses a fixed `now`; nothing reads the wall clock.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.calendar import WorkCalendar, parse_holidays, parse_working_days
from scheduler.plans import (
    DroppedStep,
    DropReason,
    Plan,
    PlannedStep,
    PlanSettings,
    StepKind,
    parse_offset,
    parse_offsets,
    plan_campaign,
    send_time,
)

PARIS = ZoneInfo("Europe/Paris")
REUNION = ZoneInfo("Indian/Reunion")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=PARIS)  # a Monday, during working hours

FR = WorkCalendar.from_settings("09:30-17:00", "mon-fri", "FR")
FR_57 = WorkCalendar.from_settings("09:30-17:00", "mon-fri", "FR-57")
NO_HOLIDAYS = WorkCalendar.from_settings("09:30-17:00", "mon-fri", "none")
DEFAULTS = PlanSettings.from_settings(["J-7", "J-2", "J-0"], "J-15", ["J-7", "J-1"])


def plan(
    deadline: date,
    *,
    now: datetime = NOW,
    calendar: WorkCalendar = FR,
    reminders: str | None = None,
    event_date: date | None = None,
    launch_on: date | None = None,
) -> Plan:
    return plan_campaign(
        deadline=deadline,
        now=now,
        calendar=calendar,
        settings=DEFAULTS,
        tz=PARIS,
        event_date=event_date,
        launch_on=launch_on,
        reminders=parse_offsets(reminders) if reminders is not None else None,
    )


def reminder_days(result: Plan) -> list[date]:
    return [step.day for step in result.reminders]


# -- offsets ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("J-7", 7), ("J-0", 0), ("j-10", 10), ("D-3", 3), (" J - 2 ", 2), ("J−1", 1), ("J-365", 365)],
)
def test_parse_offset(text: str, expected: int) -> None:
    assert parse_offset(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("J+2", "before the date"),
        ("J-366", "out of range"),
        ("J-", "expected J-n"),
        ("7", "expected J-n"),
        ("X-3", "expected J-n"),
        ("J-1.5", "expected J-n"),
        ("", "expected J-n"),
    ],
)
def test_parse_offset_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_offset(text)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("J-10,J-3,J-0", (10, 3, 0)),
        ("J-0, J-3 ,J-10", (10, 3, 0)),
        (["J-7", "J-2"], (7, 2)),
        (["J-2", "j-2", "D-7"], (7, 2)),
        ([1, 7], (7, 1)),
        ("", ()),
        ([], ()),
    ],
)
def test_parse_offsets_sorted_furthest_first(value: str | list[str], expected: tuple[int]) -> None:
    assert parse_offsets(value) == expected


def test_parse_offsets_rejects_a_bad_item() -> None:
    with pytest.raises(ValueError, match="J\\+1"):
        parse_offsets("J-3,J+1")


def test_plan_settings_are_normalised() -> None:
    assert PlanSettings(reminders=(0, 7, 2, 7)).reminders == (7, 2, 0)
    assert PlanSettings() == DEFAULTS
    with pytest.raises(ValueError, match="out of range"):
        PlanSettings(event_launch=400)


# -- calendar settings -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mon-fri", {0, 1, 2, 3, 4}),
        ("lun-ven", {0, 1, 2, 3, 4}),
        ("Lundi - Vendredi", {0, 1, 2, 3, 4}),
        ("mon,wed", {0, 2}),
        ("mon,tue,thu", {0, 1, 3}),
        ("mer, jeu", {2, 3}),
        ("mon-wed,fri", {0, 1, 2, 4}),
        ("fri-mon", {4, 5, 6, 0}),
        ("sam", {5}),
    ],
)
def test_parse_working_days(text: str, expected: set[int]) -> None:
    assert parse_working_days(text) == frozenset(expected)


@pytest.mark.parametrize("text", ["", "mon-", "monday-funday", "lun,xyz", "1-5"])
def test_parse_working_days_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="day"):
        parse_working_days(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("FR", ("FR", None)),
        ("fr", ("FR", None)),
        ("FR-", ("FR", None)),
        ("FR-57", ("FR", "57")),
        ("FR-67", ("FR", "6AE")),
        ("FR-68", ("FR", "6AE")),
        ("FR-974", ("FR", "974")),
        ("FR-RE", ("FR", "974")),
        ("FR-GP", ("FR", "971")),
        ("FR-moselle", ("FR", "57")),
        ("", ("", None)),
        ("none", ("", None)),
        (" None ", ("", None)),
    ],
)
def test_parse_holidays(text: str, expected: tuple[str, str | None]) -> None:
    assert parse_holidays(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("XX", "unknown holiday country"),
        ("FR-99", "unknown holiday subdivision"),
        ("FR-Alsace-Lorraine", "unknown holiday subdivision"),
    ],
)
def test_parse_holidays_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_holidays(text)


@pytest.mark.parametrize(
    ("hours", "days", "holidays", "message"),
    [
        ("17:00-09:30", "mon-fri", "FR", "start must be before the end"),
        ("09:30", "mon-fri", "FR", "START-END"),
        ("9:30-25:00", "mon-fri", "FR", "hour must be"),
        ("nine-five", "mon-fri", "FR", "HH:MM"),
        ("09:30-17:00", "", "FR", "at least one day"),
        ("09:30-17:00", "mon-fri", "FR-00", "unknown holiday subdivision"),
    ],
)
def test_from_settings_rejects(hours: str, days: str, holidays: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WorkCalendar.from_settings(hours, days, holidays)


def test_from_settings_accepts_french_hours_and_days() -> None:
    calendar = WorkCalendar.from_settings("9h-17h30", "lun-ven", "FR-974")
    assert (calendar.start, calendar.end) == (time(9, 0), time(17, 30))
    assert calendar.days == frozenset(range(5))
    assert (calendar.country, calendar.subdivision) == ("FR", "974")


# -- calendar days ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("calendar", "day", "holiday", "working"),
    [
        (FR, date(2026, 12, 25), "Noël", False),
        (FR, date(2026, 12, 26), None, False),  # a Saturday, no holiday outside Alsace-Moselle
        (FR_57, date(2026, 12, 26), "Saint-Étienne", False),
        (FR, date(2027, 3, 26), None, True),  # Good Friday is a working day in most of France
        (FR_57, date(2027, 3, 26), "Vendredi saint", False),
        (FR, date(2026, 11, 11), "Armistice", False),
        (NO_HOLIDAYS, date(2026, 11, 11), None, True),
        (FR, date(2026, 11, 12), None, True),
    ],
)
def test_holidays_and_working_days(
    calendar: WorkCalendar, day: date, holiday: str | None, working: bool
) -> None:
    assert calendar.holiday_name(day) == holiday
    assert calendar.is_holiday(day) is (holiday is not None)
    assert calendar.is_working_day(day) is working


@pytest.mark.parametrize(
    ("day", "previous", "following"),
    [
        (date(2026, 12, 23), date(2026, 12, 23), date(2026, 12, 23)),  # a working Wednesday
        (date(2026, 12, 25), date(2026, 12, 24), date(2026, 12, 28)),  # Christmas, a Friday
        (date(2026, 12, 27), date(2026, 12, 24), date(2026, 12, 28)),  # Sunday after it
        (date(2026, 11, 11), date(2026, 11, 10), date(2026, 11, 12)),  # Armistice
    ],
)
def test_previous_and_next_working_day(day: date, previous: date, following: date) -> None:
    assert FR.previous_working_day(day) == previous
    assert FR.next_working_day(day) == following


@pytest.mark.parametrize(
    ("day", "n", "expected"),
    [
        (date(2026, 11, 10), 2, date(2026, 11, 13)),  # Tuesday + 2 skips Armistice (11/11)
        (date(2026, 11, 13), 1, date(2026, 11, 16)),  # Friday + 1 skips the week-end
        (date(2026, 12, 24), 1, date(2026, 12, 28)),  # skips Christmas and the week-end
        (date(2026, 11, 14), 1, date(2026, 11, 16)),  # from a Saturday
        (date(2026, 11, 13), -2, date(2026, 11, 10)),  # backward skips Armistice
        (date(2026, 11, 14), 0, date(2026, 11, 14)),  # zero: unchanged
    ],
)
def test_add_working_days(day: date, n: int, expected: date) -> None:
    assert FR.add_working_days(day, n) == expected


# -- calendar slots --------------------------------------------------------------------------


def paris(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=PARIS)


@pytest.mark.parametrize(
    ("moment", "previous", "following"),
    [
        # inside working hours on a working day
        (paris(2026, 11, 24, 11, 0), paris(2026, 11, 24, 9, 30), paris(2026, 11, 24, 11, 0)),
        (paris(2026, 11, 24, 9, 30), paris(2026, 11, 24, 9, 30), paris(2026, 11, 24, 9, 30)),
        # before the start and after the end of working hours
        (paris(2026, 11, 24, 8, 0), paris(2026, 11, 23, 9, 30), paris(2026, 11, 24, 9, 30)),
        (paris(2026, 11, 24, 17, 0), paris(2026, 11, 24, 9, 30), paris(2026, 11, 25, 9, 30)),
        (paris(2026, 11, 24, 19, 0), paris(2026, 11, 24, 9, 30), paris(2026, 11, 25, 9, 30)),
        # week-end and Monday morning
        (paris(2026, 11, 28, 12, 0), paris(2026, 11, 27, 9, 30), paris(2026, 11, 30, 9, 30)),
        (paris(2026, 11, 30, 7, 0), paris(2026, 11, 27, 9, 30), paris(2026, 11, 30, 9, 30)),
        # Friday evening before the week-end, and Christmas Eve evening before Christmas
        (paris(2026, 11, 27, 18, 0), paris(2026, 11, 27, 9, 30), paris(2026, 11, 30, 9, 30)),
        (paris(2026, 12, 24, 18, 0), paris(2026, 12, 24, 9, 30), paris(2026, 12, 28, 9, 30)),
    ],
)
def test_previous_and_next_slot(moment: datetime, previous: datetime, following: datetime) -> None:
    assert FR.previous_slot(moment, PARIS) == previous
    assert FR.next_slot(moment, PARIS) == following
    assert FR.next_slot(moment, PARIS).tzinfo is PARIS


def test_slots_convert_the_moment_to_the_time_zone() -> None:
    # 07:00 in Paris is already 10:00 in Réunion (UTC+4, UTC+1 in Paris in winter)
    moment = paris(2026, 11, 24, 7, 0)
    assert FR.next_slot(moment, REUNION) == moment
    assert FR.next_slot(moment, REUNION) == datetime(2026, 11, 24, 10, 0, tzinfo=REUNION)
    assert FR.previous_slot(moment, REUNION) == datetime(2026, 11, 24, 9, 30, tzinfo=REUNION)


def test_slots_need_an_aware_moment() -> None:
    with pytest.raises(ValueError, match="aware"):
        FR.next_slot(datetime(2026, 11, 24, 10, 0), PARIS)


# -- plans -----------------------------------------------------------------------------------


def test_christmas_plan_moves_reminders_back_and_sends_at_start_of_hours() -> None:
    result = plan(date(2026, 12, 28))

    assert result.launch == PlannedStep(StepKind.LAUNCH, "launch", date(2026, 11, 23))
    assert result.reminders == (
        PlannedStep(StepKind.REMINDER, "J-7", date(2026, 12, 21), 7),
        # 26/12 is a Saturday and 25/12 Christmas: back to Thursday 24/12
        PlannedStep(StepKind.REMINDER, "J-2", date(2026, 12, 24), 2, date(2026, 12, 26)),
        PlannedStep(StepKind.REMINDER, "J-0", date(2026, 12, 28), 0),
    )
    assert result.close == PlannedStep(StepKind.CLOSE, "close", date(2026, 12, 28))
    assert result.dropped == ()
    assert [send_time(step, FR, PARIS) for step in result.reminders] == [
        paris(2026, 12, 21, 9, 30),
        paris(2026, 12, 24, 9, 30),
        paris(2026, 12, 28, 9, 30),
    ]
    assert send_time(result.close, FR, PARIS) == paris(2026, 12, 28, 17, 0)
    assert [step.kind for step in result.steps()] == [
        StepKind.LAUNCH,
        StepKind.REMINDER,
        StepKind.REMINDER,
        StepKind.REMINDER,
        StepKind.CLOSE,
    ]


def test_agent_in_reunion_gets_the_reminder_at_local_start_of_hours() -> None:
    first = plan(date(2026, 12, 28)).reminders[0]
    assert first.day == date(2026, 12, 21)
    at = send_time(first, FR, REUNION)
    assert at == datetime(2026, 12, 21, 9, 30, tzinfo=REUNION)
    assert at.astimezone(PARIS) == paris(2026, 12, 21, 6, 30)


@pytest.mark.parametrize(
    ("calendar", "j3_day", "moved_from"),
    [
        (FR, date(2027, 3, 26), None),
        # Good Friday is a public holiday in Moselle: back to Thursday
        (FR_57, date(2027, 3, 25), date(2027, 3, 26)),
    ],
)
def test_good_friday_only_moves_reminders_in_moselle(
    calendar: WorkCalendar, j3_day: date, moved_from: date | None
) -> None:
    result = plan(date(2027, 3, 29), calendar=calendar, reminders="J-3")
    assert result.reminders == (PlannedStep(StepKind.REMINDER, "J-3", j3_day, 3, moved_from),)


def test_event_launches_event_launch_days_before_it() -> None:
    result = plan(date(2026, 12, 10), event_date=date(2026, 12, 10))
    assert result.launch == PlannedStep(StepKind.LAUNCH, "launch", date(2026, 11, 25), 15)
    assert date(2026, 11, 25).weekday() == 2  # a Wednesday
    # event reminders J-7, J-1 aim at the event
    assert reminder_days(result) == [date(2026, 12, 3), date(2026, 12, 9)]


@pytest.mark.parametrize(
    ("event_date", "deadline", "launch", "launch_moved_from", "reminders", "dropped"),
    [
        # J-15 of Monday 14/12 is Sunday 29/11: back to Friday 27/11
        (date(2026, 12, 14), date(2026, 12, 14), date(2026, 11, 27), date(2026, 11, 29),
         [date(2026, 12, 7), date(2026, 12, 11)], []),
        # J-15 already passed: launch now; J-7 (19/11) past
        (date(2026, 11, 26), date(2026, 11, 26), date(2026, 11, 23), date(2026, 11, 11),
         [date(2026, 11, 25)], [DroppedStep("J-7", date(2026, 11, 19), DropReason.PAST)]),
        # the deadline comes before the event: reminders after it are dropped
        (date(2026, 12, 21), date(2026, 12, 16), date(2026, 12, 4), date(2026, 12, 6),
         [date(2026, 12, 14)],
         [DroppedStep("J-1", date(2026, 12, 18), DropReason.AFTER_DEADLINE)]),
    ],
)  # fmt: skip
def test_event_plans(
    event_date: date,
    deadline: date,
    launch: date,
    launch_moved_from: date | None,
    reminders: list[date],
    dropped: list[DroppedStep],
) -> None:
    result = plan(deadline, event_date=event_date)
    assert (result.launch.day, result.launch.moved_from) == (launch, launch_moved_from)
    assert reminder_days(result) == reminders
    assert list(result.dropped) == dropped


def test_explicit_reminders_override_the_event_reminders() -> None:
    result = plan(date(2026, 12, 10), event_date=date(2026, 12, 10), reminders="J-3")
    assert [step.label for step in result.reminders] == ["J-3"]
    assert reminder_days(result) == [date(2026, 12, 7)]


@pytest.mark.parametrize(
    ("now", "deadline", "reminders", "expected_days", "dropped"),
    [
        # created 4 days before: J-7 already past
        (NOW, date(2026, 11, 27), "J-7,J-2,J-0", [date(2026, 11, 25), date(2026, 11, 27)],
         [DroppedStep("J-7", date(2026, 11, 20), DropReason.PAST)]),
        # J-5 lands on today, the launch day
        (NOW, date(2026, 11, 28), "J-5,J-1", [date(2026, 11, 27)],
         [DroppedStep("J-5", date(2026, 11, 23), DropReason.BEFORE_LAUNCH)]),
        # after working hours: nothing can go out today, so a reminder today is past
        (paris(2026, 11, 23, 18, 0), date(2026, 11, 27), "J-4,J-1",
         [date(2026, 11, 26)], [DroppedStep("J-4", date(2026, 11, 23), DropReason.PAST)]),
        # J-3 (Fri 25/12 → Thu 24/12) and J-2 (Sat 26/12 → Thu 24/12) merge: the later is dropped
        (NOW, date(2026, 12, 28), "J-3,J-2", [date(2026, 12, 24)],
         [DroppedStep("J-2", date(2026, 12, 24), DropReason.DUPLICATE)]),
        # deadline today: J-0 falls on the launch day
        (NOW, date(2026, 11, 23), "J-0", [], [
            DroppedStep("J-0", date(2026, 11, 23), DropReason.BEFORE_LAUNCH)]),
    ],
)  # fmt: skip
def test_dropped_steps(
    now: datetime,
    deadline: date,
    reminders: str,
    expected_days: list[date],
    dropped: list[DroppedStep],
) -> None:
    result = plan(deadline, now=now, reminders=reminders)
    assert reminder_days(result) == expected_days
    assert list(result.dropped) == dropped


def test_deadline_on_a_holiday_closes_the_working_day_before() -> None:
    result = plan(date(2026, 12, 25), reminders="J-1,J-0")  # Christmas, a Friday
    assert result.close == PlannedStep(
        StepKind.CLOSE, "close", date(2026, 12, 24), moved_from=date(2026, 12, 25)
    )
    assert reminder_days(result) == [date(2026, 12, 24)]
    assert result.reminders[0].label == "J-1"
    assert result.dropped == (DroppedStep("J-0", date(2026, 12, 24), DropReason.DUPLICATE),)


@pytest.mark.parametrize(
    ("deadline", "close"),
    [
        (date(2026, 12, 13), date(2026, 12, 11)),  # Sunday → Friday
        (date(2026, 12, 12), date(2026, 12, 11)),  # Saturday → Friday
        (date(2026, 11, 11), date(2026, 11, 10)),  # Armistice (a Wednesday) → Tuesday
        (date(2027, 1, 1), date(2026, 12, 31)),  # New Year's Day → Thursday
    ],
)
def test_deadline_on_a_non_working_day_closes_at_the_end_of_the_working_day_before(
    deadline: date, close: date
) -> None:
    now = paris(2026, 11, 2, 10, 0)
    result = plan(deadline, now=now)
    assert result.close == PlannedStep(StepKind.CLOSE, "close", close, moved_from=deadline)
    assert send_time(result.close, FR, PARIS) == paris(close.year, close.month, close.day, 17, 0)
    assert all(step.day <= close for step in result.reminders)


@pytest.mark.parametrize(
    "deadline", [date(2026, 11, 22), date(2025, 1, 1)], ids=["yesterday", "last-year"]
)
def test_deadline_in_the_past_raises(deadline: date) -> None:
    with pytest.raises(ValueError, match="in the past"):
        plan(deadline)


def test_deadline_today_is_accepted() -> None:
    result = plan(date(2026, 11, 23))
    assert result.launch.day == result.close.day == date(2026, 11, 23)
    assert result.reminders == ()


def test_no_working_time_left_before_the_deadline_raises() -> None:
    with pytest.raises(ValueError, match="no working day left"):
        plan(date(2026, 11, 28), now=paris(2026, 11, 27, 18, 0))  # Friday evening, Saturday


@pytest.mark.parametrize(
    ("now", "launch", "moved_from"),
    [
        (NOW, date(2026, 11, 23), None),
        (paris(2026, 11, 28, 10, 0), date(2026, 11, 30), date(2026, 11, 28)),  # a Saturday
        (paris(2026, 11, 24, 18, 0), date(2026, 11, 25), date(2026, 11, 24)),  # after hours
    ],
)
def test_launch_now_goes_out_on_the_next_working_slot(
    now: datetime, launch: date, moved_from: date | None
) -> None:
    result = plan(date(2026, 12, 28), now=now)
    assert result.launch == PlannedStep(StepKind.LAUNCH, "launch", launch, None, moved_from)


@pytest.mark.parametrize(
    ("launch_on", "reminders", "expected", "moved_from"),
    [
        (date(2026, 12, 1), "J-7", date(2026, 12, 1), None),  # a working Tuesday
        (date(2026, 11, 28), "J-7", date(2026, 11, 30), date(2026, 11, 28)),  # Sat → Monday
        # Saturday 19/12 → Monday 21/12 would be the J-7 day: Friday 18/12 instead
        (date(2026, 12, 19), "J-7", date(2026, 12, 18), date(2026, 12, 19)),
        # a past launch is one that already happened: kept as given
        (date(2026, 11, 14), "J-7", date(2026, 11, 14), None),
    ],
)
def test_launch_on(
    launch_on: date, reminders: str, expected: date, moved_from: date | None
) -> None:
    result = plan(date(2026, 12, 28), launch_on=launch_on, reminders=reminders)
    assert (result.launch.day, result.launch.moved_from, result.launch.offset) == (
        expected,
        moved_from,
        None,
    )
    assert reminder_days(result) == [date(2026, 12, 21)]


def test_launch_on_after_the_deadline_raises() -> None:
    with pytest.raises(ValueError, match="after the deadline"):
        plan(date(2026, 12, 1), launch_on=date(2026, 12, 2))


def test_event_launch_after_the_deadline_raises() -> None:
    with pytest.raises(ValueError, match="J-15 before the event"):
        plan(date(2026, 12, 1), event_date=date(2026, 12, 20))  # J-15 is 04/12


def test_launch_on_overrides_the_event_launch() -> None:
    result = plan(date(2026, 12, 10), event_date=date(2026, 12, 10), launch_on=date(2026, 12, 1))
    assert result.launch == PlannedStep(StepKind.LAUNCH, "launch", date(2026, 12, 1))
    assert reminder_days(result) == [date(2026, 12, 3), date(2026, 12, 9)]


def test_steps_are_in_date_order() -> None:
    result = plan(date(2026, 12, 28), reminders="J-0,J-14,J-3")
    days = [step.day for step in result.steps()]
    assert days == sorted(days)
    assert [step.label for step in result.steps()] == ["launch", "J-14", "J-3", "J-0", "close"]


# -- send_time -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "now", "expected"),
    [
        # in the future: the planned slot
        (PlannedStep(StepKind.REMINDER, "J-7", date(2026, 12, 21), 7), NOW,
         paris(2026, 12, 21, 9, 30)),
        # today, slot passed, still working hours: right now
        (PlannedStep(StepKind.LAUNCH, "launch", date(2026, 11, 23)), NOW, NOW),
        # today, after working hours: next working slot
        (PlannedStep(StepKind.LAUNCH, "launch", date(2026, 11, 27)),
         paris(2026, 11, 27, 18, 0), paris(2026, 11, 30, 9, 30)),
        # close: end of working hours on the deadline, even on a non-working day
        (PlannedStep(StepKind.CLOSE, "close", date(2026, 12, 25)), NOW,
         paris(2026, 12, 25, 17, 0)),
        (PlannedStep(StepKind.CLOSE, "close", date(2026, 11, 23)), None,
         paris(2026, 11, 23, 17, 0)),
    ],
)  # fmt: skip
def test_send_time(step: PlannedStep, now: datetime | None, expected: datetime) -> None:
    assert send_time(step, FR, PARIS, now=now) == expected


def test_send_time_needs_an_aware_now() -> None:
    step = PlannedStep(StepKind.REMINDER, "J-7", date(2026, 11, 20), 7)
    with pytest.raises(ValueError, match="aware"):
        send_time(step, FR, PARIS, now=datetime(2026, 11, 23, 10, 0))


# -- property --------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    now=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(PARIS)
    ),
    days_to_deadline=st.integers(min_value=0, max_value=400),
    offsets=st.lists(st.integers(min_value=0, max_value=365), max_size=8),
    calendar=st.sampled_from([FR, FR_57, NO_HOLIDAYS]),
    event_shift=st.none() | st.integers(min_value=-30, max_value=30),
    launch_shift=st.none() | st.integers(min_value=-10, max_value=60),
)
def test_every_reminder_is_a_working_day_between_launch_and_deadline(
    now: datetime,
    days_to_deadline: int,
    offsets: list[int],
    calendar: WorkCalendar,
    event_shift: int | None,
    launch_shift: int | None,
) -> None:
    today = now.date()
    deadline = today + timedelta(days=days_to_deadline)
    event_date = None if event_shift is None else deadline + timedelta(days=event_shift)
    launch_on = None if launch_shift is None else today + timedelta(days=launch_shift)
    earliest = calendar.next_slot(now, PARIS).date()
    try:
        result = plan_campaign(
            deadline=deadline,
            now=now,
            calendar=calendar,
            settings=DEFAULTS,
            tz=PARIS,
            event_date=event_date,
            launch_on=launch_on,
            reminders=tuple(offsets),
        )
    except ValueError as error:
        # only when the launch (given, from the event, or now) comes after the deadline
        if launch_on is not None and launch_on > deadline:
            assert "after the deadline" in str(error)
        elif "before the event" in str(error):
            assert event_date is not None
            launch = calendar.previous_working_day(event_date - timedelta(DEFAULTS.event_launch))
            assert launch > deadline
        else:
            assert "no working day left" in str(error)
            assert earliest > deadline
        return

    if launch_on is not None and launch_on < today:
        assert result.launch.day == launch_on  # re-planning after the launch
    else:
        assert today <= result.launch.day <= deadline
        assert calendar.is_working_day(result.launch.day)
    assert result.close.day <= deadline
    assert calendar.is_working_day(result.close.day) or result.close.day == deadline
    assert all(step.day <= result.close.day for step in result.steps())
    days = reminder_days(result)
    assert days == sorted(set(days))
    for step in result.reminders:
        assert step.kind is StepKind.REMINDER
        assert calendar.is_working_day(step.day)
        assert step.day <= deadline
        assert step.day > result.launch.day
        assert step.day >= today
    # every offset is either planned or dropped, once
    assert len(result.reminders) + len(result.dropped) == len(set(offsets))
