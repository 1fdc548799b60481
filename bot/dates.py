"""Dates as French speakers type them: ``15/01/2027``, ``15/01/27``, ``15/01`` (the next one),
``15 janvier [2027]``, ``vendredi prochain``, ``dans 3 semaines``, ``2027-01-15``.

Numeric forms are read day first by a strict pattern (``15/13`` is an error, never the year
2113); words go to dateparser (French and English), which knows month names and relative
phrases. What names no day ("fin janvier", "la semaine prochaine") or contradicts itself
("mardi 15 janvier" when the 15th is a Friday) is refused as ambiguous, with an example.
Pure: ``today`` is a parameter, nothing reads a clock.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

from bot.text import fold

# ASCII digits only: full-width or Arabic-Indic digits are not read as a date.
_NUMERIC = re.compile(r"^([0-9]{1,2})[/.\-]([0-9]{1,2})(?:[/.\-]([0-9]{2}|[0-9]{4}))?$")
_ISO = re.compile(r"^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})$")
_WEEKDAYS = {
    "lundi": 0,
    "mardi": 1,
    "mercredi": 2,
    "jeudi": 3,
    "vendredi": 4,
    "samedi": 5,
    "dimanche": 6,
    "monday": 0,
    "tuesday": 1,
    "wednesday": 2,
    "thursday": 3,
    "friday": 4,
    "saturday": 5,
    "sunday": 6,
}
_NEXT = frozenset({"prochain", "prochaine", "next"})
# Words that name a period, not a day.
_VAGUE = frozenset({"fin", "debut", "mi", "milieu", "courant", "vers", "environ", "end"})
# Words naming one day without a number ("janvier" alone names a month: ambiguous).
_RELATIVE = frozenset(
    {"demain", "apres-demain", "aujourd'hui", "aujourdhui", "dans", "tomorrow", "today", "in"}
)
_FILLERS = frozenset({"le", "du", "au", "on", "the"})
# dateparser reads any number as a year; nobody plans a campaign that far.
_MAX_YEARS = 5


class DateError(ValueError):
    """Why a date was refused: ``invalid`` (unreadable), ``ambiguous`` (no single day)."""

    def __init__(self, reason: str, weekday: int | None = None, day: date | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.weekday = weekday
        self.day = day


def read_date(raw: str, today: date) -> date:
    """The day ``raw`` names, seen from ``today``; :class:`DateError` when there is none or
    several. A past day is returned as is (the caller refuses it with its own wording)."""
    text = raw.strip().rstrip(".,;")
    if any(ch.isdigit() and not ch.isascii() for ch in text):
        raise DateError("invalid")  # full-width or Arabic-Indic digits are not a date
    folded = fold(text)
    words = [w for w in re.split(r"[\s,]+", folded) if w and w not in _FILLERS]
    if not words:
        raise DateError("invalid")
    joined = " ".join(words)
    iso = _ISO.match(joined)
    if iso:
        return _make(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
    numeric = _NUMERIC.match(joined)
    if numeric:
        return _numeric(numeric, today)
    if any(w.strip("-") in _VAGUE or w.startswith("mi-") for w in words):
        raise DateError("ambiguous")
    weekdays = [_WEEKDAYS[w] for w in words if w in _WEEKDAYS]
    rest = [w for w in words if w not in _WEEKDAYS and w not in _NEXT]
    if weekdays and not rest:
        # "vendredi", "vendredi prochain": the next one after today.
        ahead = (weekdays[0] - today.weekday() - 1) % 7 + 1
        return today + timedelta(days=ahead)
    found = _words(" ".join(w for w in words if w not in _WEEKDAYS), today)
    if not any(ch.isdigit() for ch in joined) and not _RELATIVE.intersection(words):
        raise DateError("ambiguous")  # a month or a week, not a day
    if weekdays and found.weekday() != weekdays[0]:
        raise DateError("weekday", weekday=weekdays[0], day=found)
    return found


def _make(year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise DateError("invalid") from None


def _numeric(match: re.Match[str], today: date) -> date:
    day, month = int(match.group(1)), int(match.group(2))
    year_text = match.group(3)
    if year_text is None:
        found = _make(today.year if (month, day) != (2, 29) else _leap(today.year), month, day)
        if found < today:
            found = _make(found.year + 1, month, day) if (month, day) != (2, 29) else found
        return found
    year = int(year_text)
    return _make(2000 + year if len(year_text) == 2 else year, month, day)


def _leap(year: int) -> int:
    while not (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)):
        year += 1
    return year


def _words(text: str, today: date) -> date:
    import dateparser  # loaded on first use: most commands carry no date in words

    parsed = dateparser.parse(
        text,
        languages=["fr", "en"],
        settings={
            "DATE_ORDER": "DMY",
            "PREFER_DATES_FROM": "future",
            "RELATIVE_BASE": datetime.combine(today, time(12, 0)),
        },
    )
    if parsed is None or not 0 <= parsed.year - today.year <= _MAX_YEARS:
        raise DateError("invalid")
    return parsed.date()
