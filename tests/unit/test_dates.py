"""Dates as French speakers type them (bot/dates.py), seen from Sunday 6 December 2026."""

from __future__ import annotations

from datetime import date

import pytest

from bot.dates import DateError, read_date

SUNDAY = date(2026, 12, 6)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("15/01/2027", date(2027, 1, 15)),
        ("15/01/27", date(2027, 1, 15)),
        ("15/01", date(2027, 1, 15)),  # the next 15 January
        ("07/12", date(2026, 12, 7)),  # still to come this year
        ("05/12", date(2027, 12, 5)),  # passed this year: next year's
        ("15.01.2027", date(2027, 1, 15)),
        ("2027-01-15", date(2027, 1, 15)),
        ("15 janvier 2027", date(2027, 1, 15)),
        ("15 janvier", date(2027, 1, 15)),
        ("le 15 janvier", date(2027, 1, 15)),
        ("15 janv. 2027", date(2027, 1, 15)),
        ("1er février", date(2027, 2, 1)),
        ("vendredi 15 janvier 2027", date(2027, 1, 15)),
        ("vendredi prochain", date(2026, 12, 11)),
        ("vendredi", date(2026, 12, 11)),
        ("dimanche prochain", date(2026, 12, 13)),  # a week ahead, never today
        ("dans 3 semaines", date(2026, 12, 27)),
        ("demain", date(2026, 12, 7)),
        ("15 January 2027", date(2027, 1, 15)),
    ],
)
def test_dates_french_speakers_write(raw: str, expected: date) -> None:
    assert read_date(raw, SUNDAY) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("fin janvier", "ambiguous"),
        ("mi-janvier", "ambiguous"),
        ("janvier", "ambiguous"),
        ("la semaine prochaine", "ambiguous"),
        ("mardi 15 janvier 2027", "weekday"),  # the 15th is a Friday
        ("15/13", "invalid"),  # never the year 2113
        ("31/02/2027", "invalid"),
        ("１５/０１/２０２７", "invalid"),  # full-width digits are not a date
        ("n'importe quoi", "invalid"),
        ("", "invalid"),
    ],
)
def test_what_names_no_single_day_is_refused(raw: str, reason: str) -> None:
    with pytest.raises(DateError) as refused:
        read_date(raw, SUNDAY)
    assert refused.value.reason == reason
