"""The dashboard's wording. Every page, word for word, in French and in English: the pages of
three worlds (figures shown and hidden, a chart with hidden services, no chart, the ministry,
refusals, the opening page, nothing yet) are rendered and their text — what is read on screen or
by a screen reader: text, ``title``, ``aria-label``, ``alt``, ``lang`` — compared with the
reference kept in ``dashboard_pages.json`` beside this file (whitespace normalised only).

The reference was taken from the pages as they were written once per language; a change of
wording is a change of the reference: ``PIXBOT_WRITE_PAGES=1 pytest this file`` rewrites it,
and the diff shows what a reader will see differently.

The pages are one set of templates worded in French; English comes from
``bot/messages/web/en.po``. Every message the templates hold (Babel's Jinja2 extraction) has its
English entry there, with the same placeholders, and no French word of theirs is left in an
English page.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po
from jinja2.ext import GETTEXT_FUNCTIONS, babel_extract

from bot.dashboard.pages import EXTRACT_OPTIONS, TEMPLATES, WebRenderer, translations
from bot.dashboard.views import Views, viewer_of
from bot.render import Renderer
from bot.services.charts import Pictures
from tests.helpers.bot import Bot
from tests.helpers.campaigns import AMB, put_person
from tests.helpers.dashboard import ADMIN, CODE, dashboard_bot, other_service, story

REFERENCE = Path(__file__).with_name("dashboard_pages.json")
WEB = Path(__file__).resolve().parents[2] / "bot" / TEMPLATES
LOCALES = ("fr", "en")
SPOKEN = ("title", "aria-label", "alt", "lang")
BOTH_LANGUAGES = {"date"}  # "Date de fin" is "Deadline", but English pages say "date" too
REASONS = ("expired", "reused", "missing", "rights", "tampered")


class _Text(HTMLParser):
    """The text of a page and the attributes read aloud, in document order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in SPOKEN and value:
                self.parts.append(f" [{name}={value}] ")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def text_of(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return re.sub(r"\s+", " ", "".join(parser.parts)).strip()


class Pages:
    """Renders the dashboard's pages of one bot, in both languages, straight from the views."""

    def __init__(self, bot: Bot) -> None:
        settings = bot.app.settings
        app = bot.app
        self.bot = bot
        pictures = Pictures(
            app.store, app.renderer, settings.stats.min_group, settings.stats.refresh
        )
        self.views = Views(app.campaigns, app.planner, pictures, app.renderer.timezone)
        self.web = WebRenderer(app.renderer, settings.stats.min_group)
        self.web.dsfr = False
        for env in self.web._envs.values():
            env.globals["dsfr"] = False  # the same text whether DSFR is vendored or not
        self.found: dict[str, str] = {}

    def add(self, key: str, name: str, **variables: Any) -> None:
        now = self.bot.clock.now()
        for locale in LOCALES:
            html = self.web.render(name, locale, now=now, **variables)
            self.found[f"{key}.{locale}"] = text_of(html)

    def viewer(self, platform_id: str, role: str) -> Any:
        with self.bot.store.transaction() as uow:
            person = uow.people.ensure(platform_id, platform_id, self.bot.clock.now())
            viewer = viewer_of(person, self.bot.app.roles_of(uow, person), role)
        assert viewer is not None
        return viewer

    def overview(self, key: str, platform_id: str, role: str) -> None:
        viewer = self.viewer(platform_id, role)
        with self.bot.store.transaction() as uow:
            view = self.views.overview(uow, viewer, self.bot.clock.now())
        self.add(key, "overview", view=view, viewer=viewer)

    def campaign(self, key: str, code: str, service: str, **changes: Any) -> None:
        viewer = self.viewer(ADMIN, "admin")
        with self.bot.store.transaction() as uow:
            found = [c for c in uow.campaigns.with_code(code, None) if c.service == service]
            assert found, (code, service)
            view = self.views.campaign(uow, viewer, found[0].id, self.bot.clock.now())
        assert view is not None
        self.add(key, "campaign", view=replace(view, **changes), viewer=viewer)

    def ministry(self, key: str) -> None:
        viewer = self.viewer(ADMIN, "admin")
        with self.bot.store.transaction() as uow:
            view = self.views.ministry(uow, self.bot.clock.now())
        self.add(key, "ministry", view=view, viewer=viewer)


async def _daily_world(folder: Path) -> dict[str, str]:
    """Several services on one Pix code (shown, in a band, too small), a second code, a draft
    campaign with an event, and services hidden inside the campaign's own table."""
    async with dashboard_bot(folder, f"sqlite:///{folder}/pixbot.db") as (bot, _):
        bot.clock.advance(minutes=-1)
        await other_service(bot, "DDT-35", "@amb-ddt:console", agents=40, done=3)
        await other_service(bot, "SGAR", "@amb-sgar:console", agents=3, done=1)
        await other_service(bot, "DIRM", "@amb-dirm:console", agents=20, done=18)
        await other_service(bot, "DDT-35", "@amb-ddt:console", agents=0, done=0, code="QWERTY567")
        bot.clock.advance(minutes=1)
        ids = await story(bot, agents=14, done=7, started=5, stopped=1, next_day=False)
        with bot.store.transaction() as uow:
            # Six agents of the campaign moved to two services too small to be shown.
            moved = ("DIRM", "SGAR") * 3
            for pid, service in zip(ids[-6:], moved, strict=True):
                put_person(uow, pid, bot.clock.now(), display_name=pid, service=service)
        await bot.say(
            AMB, 'campagne créer EVENTS234 "Atelier" avant "Conférence cyber" le 10/12/2026'
        )
        bot.clock.advance(days=1)
        await bot.say(AMB, f"campagne relancer {CODE}")
        with bot.store.transaction() as uow:
            lonely = uow.people.ensure("@amb-vide:console", "Vide", bot.clock.now())
            uow.roles.add(lonely.id, "ambassador", "DDT-29")
        pages = Pages(bot)
        pages.overview("daily.overview.ambassador", AMB, "ambassador")
        pages.overview("daily.overview.admin", ADMIN, "admin")
        pages.overview("daily.overview.empty", "@amb-vide:console", "ambassador")
        pages.campaign("daily.campaign.chart", CODE, "DREAL-BZH")
        pages.campaign("daily.campaign.band", CODE, "DDT-35")
        pages.campaign("daily.campaign.hidden", CODE, "SGAR")
        pages.campaign("daily.campaign.almost_all", CODE, "DIRM")
        pages.campaign("daily.campaign.draft_event", "EVENTS234", "DREAL-BZH")
        pages.campaign("daily.campaign.empty", "QWERTY567", "DDT-35")
        pages.campaign("daily.campaign.no_plan", CODE, "DREAL-BZH", plan=[])
        pages.ministry("daily.ministry")
        for reason in REASONS:
            pages.add(f"refused.{reason}", "refused", reason=reason)
        pages.add("not_found", "not_found")
        pages.add("opening", "opening", target="/tableau/campagne/1")
        return pages.found


async def _live_world(folder: Path) -> dict[str, str]:
    """Figures live (no nightly snapshot): nothing yet, then a running campaign."""
    url = f"sqlite:///{folder}/pixbot.db"
    async with dashboard_bot(folder, url, stats={"refresh": "live"}) as (bot, _):
        with bot.store.transaction() as uow:
            amb = uow.people.ensure(AMB, "Ambre", bot.clock.now())
            uow.roles.add(amb.id, "ambassador", "DREAL-BZH")
        pages = Pages(bot)
        pages.overview("live.overview.nothing", AMB, "ambassador")
        pages.ministry("live.ministry.nothing")
        await story(bot, agents=12, done=6, started=2, next_day=False)
        pages.overview("live.overview", AMB, "ambassador")
        pages.campaign("live.campaign", CODE, "DREAL-BZH")
        pages.ministry("live.ministry")
        return pages.found


async def _no_completion_world(folder: Path) -> dict[str, str]:
    """A snapshot taken with too few done to draw the curve: the chart says so."""
    async with dashboard_bot(folder, f"sqlite:///{folder}/pixbot.db") as (bot, _):
        await story(bot, agents=12, done=0, started=7)
        pages = Pages(bot)
        pages.campaign("nothing_done.campaign", CODE, "DREAL-BZH")
        pages.overview("nothing_done.overview", AMB, "ambassador")
        return pages.found


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    import asyncio

    folder = tmp_path_factory.mktemp("pages")
    for world in ("daily", "live", "nothing-done"):
        (folder / world).mkdir()

    async def every_page() -> dict[str, str]:
        found: dict[str, str] = {}
        found |= await _daily_world(folder / "daily")
        found |= await _live_world(folder / "live")
        found |= await _no_completion_world(folder / "nothing-done")
        return found

    return asyncio.run(every_page())


def test_every_page_reads_as_the_reference(rendered: dict[str, str]) -> None:
    if os.environ.get("PIXBOT_WRITE_PAGES"):
        REFERENCE.write_text(
            json.dumps(rendered, ensure_ascii=False, indent=1, sort_keys=True) + "\n",
            encoding="utf-8",
        )
    reference = json.loads(REFERENCE.read_text(encoding="utf-8"))
    assert sorted(rendered) == sorted(reference)
    differing = [key for key in sorted(reference) if rendered[key] != reference[key]]
    for key in differing:  # the first differing words, for the reader of a failure
        got, want = rendered[key], reference[key]
        at = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), 0)
        print(key, "got  " + got[max(0, at - 60) : at + 80], sep="\n  ")
        print("  want " + want[max(0, at - 60) : at + 80])
    assert differing == []


def test_the_worlds_cover_what_pages_can_say(rendered: dict[str, str]) -> None:
    """The reference is worth what its worlds show: every masking and band, both languages."""
    fr = " ".join(v for k, v in rendered.items() if k.endswith(".fr"))
    en = " ".join(v for k, v in rendered.items() if k.endswith(".en"))
    for said in (
        "chiffres masqués pour la confidentialité",
        "Moins de 5 personnes invitées",
        "moins de 5 personnes",
        "au plus 10 %",
        "presque tous",
        "non affichés",
        "Chiffres en direct.",
        "les prochains arrivent le",
        "Aucune campagne pour l'instant.",
        "Aucune campagne dans vos services.",
        "Aucun envoi prévu.",
        "Événement : Conférence cyber",
        "courbe non communiquée",
        "Ce lien a expiré",
        "Ce lien n'est pas valable",
        "Ouverture du tableau de bord",
        "Page introuvable",
    ):
        assert said in fr, said
    for said in ("figures hidden for privacy", "fewer than 5", "at most 10 %", "almost all"):
        assert said in en, said


# -- the English catalogue -------------------------------------------------------------------


def template_messages() -> dict[tuple[str, ...], list[str]]:
    """Each message of the templates — (singular,) or (singular, plural) — and where it is."""
    found: dict[tuple[str, ...], list[str]] = {}
    for path in sorted(WEB.glob("*.html")):
        with path.open("rb") as handle:
            for line, _, message, _ in babel_extract(
                handle, GETTEXT_FUNCTIONS, [], EXTRACT_OPTIONS
            ):
                parts = message if isinstance(message, tuple) else (message,)
                strings = tuple(part for part in parts if part)
                found.setdefault(strings, []).append(f"{path.name}:{line}")
    return found


def english() -> Catalog:
    with (WEB / "en.po").open("rb") as handle:
        return read_po(handle, locale="en")


def translated(catalogue: Catalog, strings: tuple[str, ...]) -> tuple[str, ...]:
    """The English forms of a message, empty when it has no usable entry."""
    entry = catalogue.get(strings[0])
    if entry is None or entry.fuzzy or entry.pluralizable != (len(strings) > 1):
        return ()
    forms = entry.string if isinstance(entry.string, tuple) else (entry.string,)
    return tuple(forms) if all(forms) else ()


def test_every_message_of_the_templates_has_its_english_entry() -> None:
    catalogue = english()
    messages = template_messages()
    assert len(messages) > 50  # the extraction found the templates' wording
    missing = [strings for strings in messages if not translated(catalogue, strings)]
    entries = "".join(
        f"\n#: {', '.join(messages[strings])}\nmsgid {json.dumps(strings[0], ensure_ascii=False)}"
        + (
            f"\nmsgid_plural {json.dumps(strings[1], ensure_ascii=False)}"
            if len(strings) > 1
            else ""
        )
        + '\nmsgstr ""\n'
        for strings in missing
    )
    assert missing == [], f"to translate in bot/messages/web/en.po:{entries}"
    # And nothing there that the templates no longer say.
    said = {strings[0] for strings in messages}
    ids = [entry.id[0] if entry.pluralizable else entry.id for entry in catalogue if entry.id]
    assert [msgid for msgid in ids if msgid not in said] == []


def test_english_keeps_the_placeholders() -> None:
    catalogue = english()
    placeholder = re.compile(r"%\((\w+)\)s|%%")
    wrong = [
        (strings, forms)
        for strings in template_messages()
        for forms in [translated(catalogue, strings)]
        if any(
            sorted(placeholder.findall(f)) != sorted(placeholder.findall(strings[-1]))
            for f in forms
        )
    ]
    assert wrong == []


def french_words() -> set[str]:
    """Words of the templates' messages that no English entry uses."""
    word = re.compile(r"[^\W\d_]{4,}")
    catalogue = english()
    in_english = {
        w
        for strings in template_messages()
        for form in translated(catalogue, strings)
        for w in word.findall(form.lower())
    }
    in_french = {
        w for strings in template_messages() for s in strings for w in word.findall(s.lower())
    }
    return in_french - in_english - BOTH_LANGUAGES


def test_no_french_left_in_the_english_pages(rendered: dict[str, str]) -> None:
    words = french_words()
    assert {"campagne", "confidentialité", "tableau", "invités", "rappels"} <= words
    word = re.compile(r"[^\W\d_]{4,}")
    on_page = {
        key: words & set(word.findall(text.lower()))
        for key, text in rendered.items()
        if key.endswith(".en")
    }
    assert {key: found for key, found in on_page.items() if found} == {}
    # The same check finds them in the French pages: it is not blind.
    french = {
        w
        for key, text in rendered.items()
        if key.endswith(".fr")
        for w in word.findall(text.lower())
    }
    assert len(words & french) > len(words) / 2


def test_a_threshold_of_one_is_worded_in_the_singular() -> None:
    """French counts 0 and 1 in the singular, English 1 only (``{% pluralize %}``)."""
    pages = WebRenderer(Renderer(), min_group=1)
    french = text_of(pages.render("not_found", "fr", now=None))
    assert "Un groupe de moins de 1 personne n'est jamais chiffré" in french
    assert "A group of fewer than 1 person is never counted" in text_of(
        pages.render("not_found", "en", now=None)
    )
    one, other = "moins de %(count)s personne", "moins de %(count)s personnes"
    assert translations("fr").ngettext(one, other, 0) == one
    assert translations("en").ngettext(one, other, 0) == "fewer than %(count)s people"
