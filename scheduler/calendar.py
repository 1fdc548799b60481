"""Working days, working hours and public holidays: when the bot may send messages.

Pure code: no clock reads, every moment is a parameter. Public holidays come from the
`holidays` package, loaded once per (country, subdivision, language, year).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays as holidays_lib

__all__ = ["WorkCalendar", "parse_holidays", "parse_working_days", "parse_working_hours"]

_WEEKDAYS: dict[str, int] = {
    # English
    "mon": 0,
    "monday": 0,
    "tue": 1,
    "tues": 1,
    "tuesday": 1,
    "wed": 2,
    "wednesday": 2,
    "thu": 3,
    "thur": 3,
    "thurs": 3,
    "thursday": 3,
    "fri": 4,
    "friday": 4,
    "sat": 5,
    "saturday": 5,
    "sun": 6,
    "sunday": 6,
    # French (compared without accents)
    "lun": 0,
    "lundi": 0,
    "mar": 1,
    "mardi": 1,
    "mer": 2,
    "mercredi": 2,
    "jeu": 3,
    "jeudi": 3,
    "ven": 4,
    "vendredi": 4,
    "sam": 5,
    "samedi": 5,
    "dim": 6,
    "dimanche": 6,
}

_NO_HOLIDAYS = frozenset({"", "none", "aucun", "aucuns", "no", "non", "false", "off"})

# The `holidays` package models Bas-Rhin (67) and Haut-Rhin (68) together as the European
# Collectivity of Alsace ("6AE"); people naturally write the department numbers.
_EXTRA_SUBDIVISION_ALIASES: dict[str, dict[str, str]] = {"FR": {"67": "6AE", "68": "6AE"}}

# Every search for a working day stops after this many days: a calendar is never that empty,
# but a bad custom one must fail loudly rather than loop forever.
_MAX_SEARCH_DAYS = 3 * 366

_TIME_RE = re.compile(r"^(\d{1,2})\s*[:h]\s*(\d{2})?$")


def _fold(text: str) -> str:
    """Lowercase, strip and remove accents ("Lundi" -> "lundi", "Réunion" -> "reunion")."""
    decomposed = unicodedata.normalize("NFKD", text.strip().casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _parse_time(text: str) -> time:
    match = _TIME_RE.match(text.strip().lower())
    if match is None:
        raise ValueError(f"invalid time {text!r}: expected HH:MM, e.g. 09:30")
    hour, minute = int(match.group(1)), int(match.group(2) or 0)
    if hour > 23 or minute > 59:
        raise ValueError(f"invalid time {text!r}: hour must be 0-23 and minutes 0-59")
    return time(hour, minute)


def parse_working_hours(text: str) -> tuple[time, time]:
    """Parse "09:30-17:00" (also "9h30-17h") into (start, end); start must be before end."""
    parts = text.split("-")
    if len(parts) != 2:
        raise ValueError(f"invalid working hours {text!r}: expected START-END, e.g. 09:30-17:00")
    start, end = _parse_time(parts[0]), _parse_time(parts[1])
    if start >= end:
        raise ValueError(f"invalid working hours {text!r}: the start must be before the end")
    return start, end


def _parse_weekday(text: str) -> int:
    key = _fold(text).rstrip(".")
    if key not in _WEEKDAYS:
        raise ValueError(f"unknown day {text.strip()!r}: use mon, tue, … or lun, mar, …")
    return _WEEKDAYS[key]


def parse_working_days(text: str) -> frozenset[int]:
    """Parse "mon-fri", "mon,tue,thu", "lun-ven", "mon-wed,fri" into weekday numbers (Monday=0).

    A range wraps around the week end: "fri-mon" is Friday, Saturday, Sunday and Monday.
    """
    days: set[int] = set()
    for item in re.split(r"[,;\s]+", re.sub(r"\s*-\s*", "-", text.strip())):
        if not item:
            continue
        if "-" in item:
            first_text, _, last_text = item.partition("-")
            first, last = _parse_weekday(first_text), _parse_weekday(last_text)
            span = (last - first) % 7
            days.update((first + step) % 7 for step in range(span + 1))
        else:
            days.add(_parse_weekday(item))
    if not days:
        raise ValueError(f"invalid working days {text!r}: at least one day is needed, e.g. mon-fri")
    return frozenset(days)


@lru_cache(maxsize=64)
def _resolve_holiday_region(country: str, subdivision: str | None) -> tuple[str, str | None]:
    """Return the canonical (country, subdivision) as the `holidays` package names them.

    Accepts any case, the package's own aliases ("RE", "GP", "Moselle") and 67/68 for Alsace.
    """
    country = country.strip().upper()
    try:
        entity = holidays_lib.country_holidays(country)
    except NotImplementedError:
        raise ValueError(
            f"unknown holiday country {country!r}: use an ISO code such as FR"
        ) from None
    if subdivision is None or not subdivision.strip():
        return country, None
    known: dict[str, str] = {_fold(code): code for code in entity.subdivisions}
    aliases = getattr(entity, "subdivisions_aliases", None) or {}
    known.update({_fold(alias): code for alias, code in aliases.items()})
    known.update(_EXTRA_SUBDIVISION_ALIASES.get(country, {}))
    code = known.get(_fold(subdivision))
    if code is None:
        choices = ", ".join(entity.subdivisions)
        raise ValueError(
            f"unknown holiday subdivision {subdivision.strip()!r} for {country}: "
            f"expected one of {choices}"
        )
    return country, code


def parse_holidays(text: str) -> tuple[str, str | None]:
    """Parse "FR", "FR-57", "FR-974", "FR-RE" into (country, subdivision).

    "" or "none" means no public holidays and gives ("", None).
    """
    if _fold(text) in _NO_HOLIDAYS:
        return "", None
    country, _, subdivision = text.strip().partition("-")
    return _resolve_holiday_region(country, subdivision or None)


@lru_cache(maxsize=64)
def _holidays_of_year(
    country: str, subdivision: str | None, language: str | None, year: int
) -> dict[date, str]:
    calendar = holidays_lib.country_holidays(
        country, subdiv=subdivision, years=year, language=language
    )
    return dict(calendar.items())


@dataclass(frozen=True)
class WorkCalendar:
    """When messages may be sent: working hours on working days that are not public holidays.

    `country` "" means no public holidays. The subdivision is normalised on creation to the
    code the `holidays` package uses ("67" -> "6AE", "RE" -> "974").
    """

    start: time
    end: time
    days: frozenset[int]
    country: str = "FR"
    subdivision: str | None = None
    language: str | None = "fr"  # language of holiday names; None follows the environment

    def __post_init__(self) -> None:
        if self.start >= self.end:
            raise ValueError("invalid working hours: the start must be before the end")
        if not self.days or not self.days <= set(range(7)):
            raise ValueError("invalid working days: expected weekday numbers 0 (Monday) to 6")
        if self.country:
            country, subdivision = _resolve_holiday_region(self.country, self.subdivision)
            object.__setattr__(self, "country", country)
            object.__setattr__(self, "subdivision", subdivision)
        elif self.subdivision:
            raise ValueError("a holiday subdivision needs a country")

    @classmethod
    def from_settings(cls, working_hours: str, working_days: str, holidays: str) -> WorkCalendar:
        """Build from the [schedule] settings, e.g. ("09:30-17:00", "mon-fri", "FR-57")."""
        start, end = parse_working_hours(working_hours)
        country, subdivision = parse_holidays(holidays)
        return cls(start, end, parse_working_days(working_days), country, subdivision)

    # -- days -------------------------------------------------------------------------------

    def holiday_name(self, day: date) -> str | None:
        if not self.country:
            return None
        return _holidays_of_year(self.country, self.subdivision, self.language, day.year).get(day)

    def is_holiday(self, day: date) -> bool:
        return self.holiday_name(day) is not None

    def is_working_day(self, day: date) -> bool:
        return day.weekday() in self.days and not self.is_holiday(day)

    def _walk(self, day: date, step: int) -> date:
        for _ in range(_MAX_SEARCH_DAYS):
            if self.is_working_day(day):
                return day
            day += timedelta(days=step)
        raise ValueError("no working day found: check working_days and holidays")

    def previous_working_day(self, day: date) -> date:
        """The latest working day <= day (day itself when it is a working day)."""
        return self._walk(day, -1)

    def next_working_day(self, day: date) -> date:
        """The earliest working day >= day (day itself when it is a working day)."""
        return self._walk(day, +1)

    def add_working_days(self, day: date, n: int) -> date:
        """Move n working days forward (backward when n < 0), not counting `day` itself.

        n == 0 returns `day` unchanged, even when it is not a working day.
        """
        step = 1 if n > 0 else -1
        for _ in range(abs(n)):
            day = self._walk(day + timedelta(days=step), step)
        return day

    # -- instants ---------------------------------------------------------------------------

    def slot_on(self, day: date, tz: ZoneInfo) -> datetime:
        """Start of working hours on the local date `day` in `tz` (aware)."""
        return datetime.combine(day, self.start, tzinfo=tz)

    def end_on(self, day: date, tz: ZoneInfo) -> datetime:
        """End of working hours on the local date `day` in `tz` (aware)."""
        return datetime.combine(day, self.end, tzinfo=tz)

    def is_working_time(self, moment: datetime, tz: ZoneInfo) -> bool:
        """Whether `moment` falls in [start, end) of a working day, in local time of `tz`."""
        local = _localize(moment, tz)
        return self.is_working_day(local.date()) and self.start <= local.time() < self.end

    def previous_slot(self, moment: datetime, tz: ZoneInfo) -> datetime:
        """The latest start of working hours <= moment, in `tz`.

        Inside working hours this is the start of that same working period (09:30 today);
        outside, the start of the latest working day whose period began before `moment`
        (after 17:00 -> 09:30 the same day; Saturday -> Friday 09:30; before 09:30 on a
        Monday -> the previous Friday 09:30).
        """
        local = _localize(moment, tz)
        day = local.date()
        if local.time() < self.start:
            day -= timedelta(days=1)
        return self.slot_on(self.previous_working_day(day), tz)

    def next_slot(self, moment: datetime, tz: ZoneInfo) -> datetime:
        """The earliest working instant >= moment, in `tz`.

        `moment` itself (converted to `tz`) when inside working hours [start, end) of a
        working day, otherwise the next start of working hours (17:00 sharp counts as after).
        """
        local = _localize(moment, tz)
        if self.is_working_time(local, tz):
            return local
        day = local.date()
        if local.time() >= self.start:
            day += timedelta(days=1)
        return self.slot_on(self.next_working_day(day), tz)


def _localize(moment: datetime, tz: ZoneInfo) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("a time-zone aware datetime is required")
    return moment.astimezone(tz)
