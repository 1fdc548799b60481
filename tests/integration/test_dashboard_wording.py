"""Every dashboard page, word for word, in French and in English: the pages of three worlds
(figures shown and hidden, a chart with hidden services, no chart, the ministry, refusals, the
opening page, nothing yet) are rendered and their text — what is read on screen or by a screen
reader: text, ``title``, ``aria-label``, ``alt``, ``lang`` — compared with the reference kept
in ``dashboard_pages.json`` beside this file (whitespace normalised only).

The reference was taken from the pages as they were written once per language; a change of
wording is a change of the reference: ``PIXBOT_WRITE_PAGES=1 pytest this file`` rewrites it,
and the diff shows what a reader will see differently.
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

from bot.dashboard.pages import WebRenderer
from bot.dashboard.views import Views, viewer_of
from bot.services.charts import Pictures
from tests.helpers.bot import Bot
from tests.helpers.campaigns import AMB, put_person
from tests.helpers.dashboard import ADMIN, CODE, dashboard_bot, other_service, story

REFERENCE = Path(__file__).with_name("dashboard_pages.json")
LOCALES = ("fr", "en")
SPOKEN = ("title", "aria-label", "alt", "lang")
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
