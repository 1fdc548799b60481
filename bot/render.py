"""Everything the bot says comes from Jinja2 templates in ``bot/messages/<locale>/``.

User text only ever enters as a variable, never as template source, and ``StrictUndefined`` makes
a missing variable an error instead of a silent blank.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime, get_timezone_location
from babel.numbers import format_percent
from jinja2 import Environment, PackageLoader, StrictUndefined

LOCALES = ("fr", "en")
# French elides "de" before a vowel sound: "d'Anne", "d'Inès", "d'Yves" ("h" varies: kept).
_VOWELS = frozenset("aeiouyàâäéèêëîïôöùûüœæAEIOUYÀÂÄÉÈÊËÎÏÔÖÙÛÜŒÆ")


class Renderer:
    def __init__(self, default_locale: str = "fr", timezone: str = "Europe/Paris") -> None:
        self.default_locale = default_locale if default_locale in LOCALES else "fr"
        self.timezone = ZoneInfo(timezone)
        self._envs = {locale: self._environment(locale) for locale in LOCALES}
        # format_local's answers: a launch writes the same deadline into 20,000 invitations,
        # and Babel takes a quarter of a millisecond to format it each time.
        self._local: dict[tuple[datetime, str, str | None], str] = {}

    def _environment(self, locale: str) -> Environment:
        env = Environment(
            loader=PackageLoader("bot", f"messages/{locale}"),
            undefined=StrictUndefined,
            autoescape=False,  # plain text; platforms escape for HTML / mrkdwn
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )
        env.filters["day"] = lambda value: self.format_day(value, locale)
        env.filters["moment"] = lambda value, tz=None: self.format_moment(value, locale, tz)
        env.filters["percent"] = lambda value: format_percent(value, locale=locale)
        env.filters["longday"] = lambda value: self.format_long_day(value, locale)
        env.filters["weekday"] = lambda value: format_date(
            value, "EEEE", locale=self.locale_for(locale)
        )
        env.filters["plural"] = lambda n, one, other: plural(n, one, other, locale)
        # Digits without grouping: scripts read these lines ("60000 agents importés").
        env.filters["count"] = lambda n, one, other: f"{n} {plural(n, one, other, locale)}"
        env.filters["de"] = lambda name: of(name, locale)
        env.filters["local"] = lambda value, zone=None: self.format_local(value, locale, zone)
        return env

    def locale_for(self, locale: str | None) -> str:
        return locale if locale in LOCALES else self.default_locale

    def render(self, template: str, locale: str | None = None, /, **variables: Any) -> str:
        env = self._envs[self.locale_for(locale)]
        return env.get_template(f"{template}.txt").render(**variables).strip()

    def format_day(self, value: date, locale: str | None = None) -> str:
        """``15 décembre 2026``, ``1er décembre 2026`` / ``December 15, 2026``."""
        loc = self.locale_for(locale)
        if loc == "fr":
            return format_date(value, f"{_fr_day(value)} MMMM y", locale=loc)
        return format_date(value, format="long", locale=loc)

    def format_moment(
        self, value: datetime, locale: str | None = None, tz: str | None = None
    ) -> str:
        """``lundi 21 décembre 2026 à 09:30`` in the given (or default) time zone."""
        zone = ZoneInfo(tz) if tz else self.timezone
        loc = self.locale_for(locale)
        local = value.astimezone(zone)
        if loc == "fr":
            pattern = f"EEEE {_fr_day(local)} MMMM y 'à' HH:mm"
        else:
            pattern = "EEEE, MMMM d, y 'at' HH:mm"
        return format_datetime(local, pattern, locale=loc)

    def format_long_day(self, value: date, locale: str | None = None) -> str:
        """``vendredi 15 janvier 2027`` / ``Friday, January 15, 2027``: how a date typed by
        someone is read back to them."""
        loc = self.locale_for(locale)
        pattern = f"EEEE {_fr_day(value)} MMMM y" if loc == "fr" else "EEEE, MMMM d, y"
        return format_date(value, pattern, locale=loc)

    def format_local(
        self, value: datetime, locale: str | None = None, zone: str | None = None
    ) -> str:
        """A moment as a person reads it: in their time zone, which is named when it is not
        the bot's ("mardi 8 décembre 2026 à 09:30 (heure de Cayenne)")."""
        loc = self.locale_for(locale)
        key = (value, loc, zone)
        text = self._local.get(key)
        if text is None:
            if len(self._local) >= 4096:
                self._local.clear()
            text = self._local[key] = self._format_local(value, loc, zone)
        return text

    def _format_local(self, value: datetime, loc: str, zone: str | None) -> str:
        try:
            tz = ZoneInfo(zone) if zone else self.timezone
        except (KeyError, ValueError):
            tz = self.timezone
        text = self.format_moment(value, loc, str(tz))
        if value.astimezone(tz).utcoffset() == value.astimezone(self.timezone).utcoffset():
            return text
        city = get_timezone_location(tz, locale=loc, return_city=True)
        return f"{text} ({self.render('_zone', loc, city=city)})"


def _fr_day(value: date) -> str:
    """The day of the month in a French date pattern: "1er", then "2", "3"…"""
    return "d'er'" if value.day == 1 else "d"


def plural(n: float, one: str, other: str, locale: str) -> str:
    """The word for ``n`` by the locale's plural rule (French: 0 and 1 are singular)."""
    return one if Locale.parse(locale).plural_form(n) == "one" else other


def of(name: str, locale: str) -> str:
    """French "de" with its elision ("d'Anne", "de Jean"); in English the name alone (the
    template writes "from" or "of" itself)."""
    if locale != "fr":
        return name
    return f"d'{name}" if name[:1] in _VOWELS else f"de {name}"
