"""HTML rendering of the dashboard: one set of Jinja2 templates in ``bot/messages/web/``, HTML
autoescape on, the same filters as the chat templates (dates and percentages with babel).

The pages are worded in French in the templates (``{% trans %}``, ``_()``: jinja2's i18n
extension); another language comes from its gettext catalogue beside them
(``bot/messages/web/en.po``, read with Babel when the renderer is built: nothing to compile). A
test checks that every message of the templates has its English entry
(tests/integration/test_dashboard_wording.py). The chat's own words the pages include (statuses,
step names, the chart's labels) stay in the chat's templates of each locale.

Whether DSFR's stylesheet was vendored into the package (``scripts/vendor_dsfr.py``) is read
once: the pages link it when present, and always link ``dashboard.css``, which alone keeps the
pages readable and accessible (contrast, focus, tables) when it is not.
"""

from __future__ import annotations

import gettext
import io
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_percent
from babel.support import Translations
from jinja2 import ChoiceLoader, Environment, PackageLoader, StrictUndefined, select_autoescape

from bot.dashboard import svg
from bot.render import LOCALES, Renderer, plural

STATIC = Path(__file__).parent / "static"
DSFR_CSS = STATIC / "dsfr" / "dsfr.min.css"
TEMPLATES = "messages/web"
SOURCE_LOCALE = "fr"  # the templates' own words: the message ids


def dsfr_available() -> bool:
    return DSFR_CSS.is_file()


class SourceTranslations(gettext.NullTranslations):
    """The message ids themselves, with the source language's plural rule (French: 0 and 1
    are singular; gettext's default would make 0 plural)."""

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        return plural(n, msgid1, msgid2, SOURCE_LOCALE)


@cache
def translations(locale: str) -> gettext.NullTranslations:
    """The pages' catalogue for ``locale`` (``bot/messages/web/<locale>.po``), compiled in
    memory; entries left untranslated or fuzzy fall back to the French."""
    if locale == SOURCE_LOCALE:
        return SourceTranslations()
    path = resources.files("bot").joinpath(*TEMPLATES.split("/"), f"{locale}.po")
    with path.open("rb") as handle:
        catalogue = read_po(handle, locale=locale)
    compiled = io.BytesIO()
    write_mo(compiled, catalogue)
    compiled.seek(0)
    return Translations(compiled)


# How message extraction (jinja2.ext.babel_extract, pybabel) must read the templates to find the
# message ids the pages' environment looks up: the same whitespace policies as below.
EXTRACT_OPTIONS = {
    "trimmed": "true",
    "trim_blocks": "true",
    "lstrip_blocks": "true",
    "newstyle_gettext": "true",
    "silent": "false",
}


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
                [PackageLoader("bot", TEMPLATES), PackageLoader("bot", f"messages/{locale}")]
            ),
            extensions=["jinja2.ext.i18n"],
            undefined=StrictUndefined,
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        # A {% trans %} block's message is its text on one line, whatever the template's layout.
        env.policies["ext.i18n.trimmed"] = True
        # Added by the i18n extension, unknown to the type stubs.
        install = env.install_gettext_translations  # type: ignore[attr-defined]
        install(translations(locale), newstyle=True)
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
