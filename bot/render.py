"""Everything the bot says comes from Jinja2 templates in ``bot/messages/<locale>/``.

User text only ever enters as a variable, never as template source, and ``StrictUndefined`` makes
a missing variable an error instead of a silent blank.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.numbers import format_percent
from jinja2 import Environment, PackageLoader, StrictUndefined

LOCALES = ("fr", "en")


class Renderer:
    def __init__(self, default_locale: str = "fr", timezone: str = "Europe/Paris") -> None:
        self.default_locale = default_locale if default_locale in LOCALES else "fr"
        self.timezone = ZoneInfo(timezone)
        self._envs = {locale: self._environment(locale) for locale in LOCALES}

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
        return env

    def locale_for(self, locale: str | None) -> str:
        return locale if locale in LOCALES else self.default_locale

    def render(self, template: str, locale: str | None = None, /, **variables: Any) -> str:
        env = self._envs[self.locale_for(locale)]
        return env.get_template(f"{template}.txt").render(**variables).strip()

    def format_day(self, value: date, locale: str | None = None) -> str:
        """``15 décembre 2026`` / ``December 15, 2026``."""
        return format_date(value, format="long", locale=self.locale_for(locale))

    def format_moment(
        self, value: datetime, locale: str | None = None, tz: str | None = None
    ) -> str:
        """``lundi 21 décembre 2026 à 09:30`` in the given (or default) time zone."""
        zone = ZoneInfo(tz) if tz else self.timezone
        loc = self.locale_for(locale)
        pattern = "EEEE d MMMM y 'à' HH:mm" if loc == "fr" else "EEEE, MMMM d, y 'at' HH:mm"
        return format_datetime(value.astimezone(zone), pattern, locale=loc)
