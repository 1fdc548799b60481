"""HTML rendering of the dashboard: Jinja2 templates in ``bot/messages/<locale>/web/``, HTML
autoescape on, the same filters as the chat templates (dates and percentages with babel).

Whether DSFR's stylesheet was vendored into the package (``scripts/vendor_dsfr.py``) is read
once: the pages link it when present, and always link ``dashboard.css``, which alone keeps the
pages readable and accessible (contrast, focus, tables) when it is not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from babel.numbers import format_percent
from jinja2 import ChoiceLoader, Environment, PackageLoader, StrictUndefined, select_autoescape

from bot.dashboard import svg
from bot.render import LOCALES, Renderer

STATIC = Path(__file__).parent / "static"
DSFR_CSS = STATIC / "dsfr" / "dsfr.min.css"


def dsfr_available() -> bool:
    return DSFR_CSS.is_file()


class WebRenderer:
    def __init__(self, renderer: Renderer, min_group: int) -> None:
        self.renderer = renderer
        self.min_group = min_group
        self.dsfr = dsfr_available()
        self._envs = {locale: self._environment(locale) for locale in LOCALES}

    def _environment(self, locale: str) -> Environment:
        env = Environment(
            # The pages, then the chat's templates (statuses, step names: the same words).
            loader=ChoiceLoader(
                [
                    PackageLoader("bot", f"messages/{locale}/web"),
                    PackageLoader("bot", f"messages/{locale}"),
                ]
            ),
            undefined=StrictUndefined,
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        r = self.renderer
        env.filters["day"] = lambda value: r.format_day(value, locale)
        env.filters["moment"] = lambda value, tz=None: r.format_moment(value, locale, tz)
        env.filters["percent"] = lambda value: format_percent(value, locale=locale)
        env.globals["chart_labels"] = lambda **variables: svg.labels(r, locale, **variables)
        env.globals["chart_alt"] = lambda **variables: r.render("chart_alt", locale, **variables)
        env.globals["geometry"] = svg.geometry
        env.globals["dsfr"] = self.dsfr
        env.globals["locale"] = locale
        env.globals["min_group"] = self.min_group
        return env

    def render(self, name: str, locale: str | None, /, **variables: Any) -> str:
        env = self._envs[self.renderer.locale_for(locale)]
        return env.get_template(f"{name}.html").render(**variables)
