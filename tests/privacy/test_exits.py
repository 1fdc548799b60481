"""Issue #23, items 1-3: every reply an ambassador, an admin or a room reads is classified, and
each class of probe that made a reply move with one agent's choice reads the same in two worlds.

A *world* is a bot on its own SQLite copy of one migrated database; two worlds differ only in
what one agent did (said "stop tout", "fait", "plus tard", erased themselves…), and the test
compares what the ambassador read in each.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from jinja2 import meta

from bot.app import App
from bot.config import load_settings
from bot.core import FakeClock
from bot.exits import TEMPLATES
from bot.render import LOCALES, Renderer
from storage.uow import Store
from tests.helpers.bot import Bot, RecordingConsole
from tests.helpers.campaigns import AMB, CREATE, other_service, put_person, setup_service

CODE = "ABCDEF234"
MESSAGES = Path(__file__).resolve().parents[2] / "bot" / "messages"


def test_every_template_is_classified_with_the_variables_it_reads() -> None:
    """A new template, or a new variable in one (a count slipped into a reply), fails here
    until ``bot/exits.py`` says what it may tell about agents."""
    renderer = Renderer()
    for locale in LOCALES:
        env = renderer._envs[locale]
        names = sorted(p.stem for p in (MESSAGES / locale).glob("*.txt"))
        assert names == sorted(TEMPLATES), f"{locale}: classify every template in bot/exits.py"
        for name in names:
            source = (MESSAGES / locale / f"{name}.txt").read_text(encoding="utf-8")
            read = tuple(sorted(meta.find_undeclared_variables(env.parse(source))))
            assert read == TEMPLATES[name][1], f"{locale}/{name}.txt reads {read}"


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "pixbot.db"
    store = Store.from_url(f"sqlite:///{path}")
    store.upgrade()
    store.close()
    return path


class Worlds:
    def __init__(self, template: Path, root: Path) -> None:
        self.template = template
        self.root = root
        self.stores: list[Store] = []

    def new(self, **stats: object) -> Bot:
        folder = self.root / str(len(self.stores))
        folder.mkdir()
        db = folder / "pixbot.db"
        shutil.copy(self.template, db)
        store = Store.from_url(f"sqlite:///{db}")
        self.stores.append(store)
        os.environ.pop("PIXBOT_CONFIG", None)
        cfg = load_settings(None, bot={"database_url": f"sqlite:///{db}"}, stats=stats)
        clock = FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))  # a Monday, 10:00 in Paris
        platform = RecordingConsole(journal_path=folder / "console.jsonl")
        return Bot(App(cfg, store, platform, clock=clock), platform, clock)


@pytest.fixture
def worlds(template_db: Path, tmp_path: Path) -> Iterator[Worlds]:
    made = Worlds(template_db, tmp_path)
    yield made
    for store in made.stores:
        store.close()


def agents(n: int, prefix: str = "a") -> list[str]:
    return [f"@{prefix}{i}:console" for i in range(n)]


def pictures_by_content(texts: list[str]) -> list[str]:
    """A picture is compared by its bytes (its file's name and folder are its world's)."""

    def digest(match: re.Match[str]) -> str:
        return "<png " + hashlib.sha256(Path(match.group(1)).read_bytes()).hexdigest()[:16] + ">"

    return [re.sub(r"\[(/[^\]]+\.png)\]", digest, text) for text in texts]


async def ask(bot: Bot, text: str) -> list[str]:
    return pictures_by_content(await bot.say(AMB, text))


def to_ambassador(bot: Bot) -> list[str]:
    return [m["text"] for m in bot.delivered() if m["to"] == AMB]


async def forget(bot: Bot, who: str) -> None:
    await bot.say(who, "oublie-moi")
    await bot.say(who, "oui")


# -- Operational replies ------------------------------------------------------------------


async def _second_launch(bot: Bot, stop_all: bool) -> list[str]:
    people = agents(12)
    setup_service(bot, agents=people)
    if stop_all:
        await bot.say(people[0], "stop tout")
    await bot.say(AMB, CREATE)
    first = await bot.say(AMB, f"campagne lancer {CODE}")
    second = await bot.say(AMB, f"campagne lancer {CODE}")
    return first + second


async def test_a_second_launch_does_not_count_who_said_stop_tout(worlds: Worlds) -> None:
    """Before: 'à 1 personne (11 personnes déjà invitées)' against 'Aucune nouvelle invitation'."""
    said = await _second_launch(worlds.new(), stop_all=True)
    silent = await _second_launch(worlds.new(), stop_all=False)
    assert said == silent
    assert "à 12 personnes" in said[0]  # the first launch counts the audience (a chosen figure)


async def _cancel_after_evening_remind(bot: Bot, done: bool) -> list[str]:
    people = agents(12)
    setup_service(bot, agents=people)
    await bot.say(AMB, CREATE)
    await bot.say(AMB, f"campagne lancer {CODE}")
    if done:
        await bot.say(people[0], "fait")
    bot.clock.advance(hours=10)  # 20:00 in Paris: the relance waits for the morning
    await bot.say(AMB, f"campagne relancer {CODE}")
    await bot.say(AMB, f"campagne annuler {CODE}")
    return await bot.say(AMB, "oui")


async def test_cancelling_does_not_count_the_pending_messages(worlds: Worlds) -> None:
    """Before: '12 messages en attente abandonnés' against '11'."""
    done = await _cancel_after_evening_remind(worlds.new(), done=True)
    not_done = await _cancel_after_evening_remind(worlds.new(), done=False)
    assert done == not_done
    assert "annulée" in done[0]


async def _missed_steps(bot: Bot, later: bool) -> list[str]:
    people = agents(12)
    setup_service(bot, agents=people)
    await bot.say(AMB, CREATE)
    await bot.say(AMB, f"campagne lancer {CODE}")
    if later:
        await bot.say(people[0], "plus tard")
    # The bot was down until after the deadline (15/12): every step left is missed.
    bot.clock.advance(days=23)
    await bot.app.runner.tick(bot.clock.now())
    await bot.app.dispatcher.drain()
    return to_ambassador(bot)


async def test_a_missed_later_reminder_is_not_reported(worlds: Worlds) -> None:
    """Before: a notice 'Le rappel « plus tard » … n'a pas pu partir' only when one agent said
    'plus tard'."""
    later = await _missed_steps(worlds.new(), later=True)
    not_later = await _missed_steps(worlds.new(), later=False)
    assert later == not_later
    assert any("n'a pas pu partir" in text for text in later)  # the plan's own steps are


async def _reply_to_a_question(bot: Bot, erased: bool) -> list[str]:
    people = agents(3)
    setup_service(bot, agents=people)
    await bot.say(
        people[0], "Le restaurant administratif ouvre à quelle heure ?"
    )  # no fact answers it
    await bot.say(people[0], "oui")
    handoff = [t for t in to_ambassador(bot) if "Question n°" in t]
    assert handoff, to_ambassador(bot)
    number = re.search(r"Question n° (\d+)", handoff[0])
    assert number is not None
    if erased:
        await forget(bot, people[0])
    first = await bot.say(AMB, f"répondre {number.group(1)} Blanc.")
    again = await bot.say(AMB, f"répondre {number.group(1)} Blanc, vraiment.")
    return first + again


async def test_reply_reads_the_same_when_the_asker_erased_themselves(worlds: Worlds) -> None:
    """Before: 'Je ne trouve pas de question n° 1' after the asker's erasure, 'Votre réponse
    … est envoyée à Agent 1 (@a0:console)' before."""
    erased = await _reply_to_a_question(worlds.new(), erased=True)
    present = await _reply_to_a_question(worlds.new(), erased=False)
    assert erased == present
    assert "transmise" in erased[0] and "déjà reçu une réponse" in erased[1]


# -- The snapshot and the audience probe ---------------------------------------------------


async def test_an_erasure_does_not_rewrite_the_day_already_shown(worlds: Worlds) -> None:
    """Before: 13 invités · 6 terminés, then 12 · 5 the same day once one of them erased."""
    bot = worlds.new()
    people = agents(13)
    setup_service(bot, agents=people)
    await bot.say(AMB, CREATE)
    await bot.say(AMB, f"campagne lancer {CODE}")
    for agent in people[:6]:
        await bot.say(agent, "fait")
    bot.clock.advance(days=1)
    views = (f"campagne stats {CODE}", f"campagne voir {CODE}", "campagne liste")
    before = [await ask(bot, view) for view in views]
    assert "13 invités" in before[0][0] and "6 terminés" in before[0][0]
    await forget(bot, people[0])
    assert [await ask(bot, view) for view in views] == before
    bot.clock.advance(days=1)
    after = await bot.say(AMB, f"campagne stats {CODE}")
    assert "12 invités" in after[0] and "5 terminés" in after[0]  # at the next snapshot


async def test_an_audience_probe_cannot_tell_who_left(worlds: Worlds) -> None:
    """``campagne créer … pour @x``: the same reply whether x is an agent of the service, was
    erased, or was never known. Before: '(1 aujourd'hui)' against '(0 aujourd'hui) 1
    identifiant non retenu'."""
    bot = worlds.new()
    setup_service(bot, agents=agents(6))
    x = "@a0:console"

    async def probe(code: str, who: str) -> str:
        reply = await bot.say(AMB, f'campagne créer {code} "Sonde" fin 15/12/2026 pour {who}')
        return reply[0].replace(code, "CODE")

    known = await probe("AAAAAA111", x)
    never = await probe("AAAAAA222", "@nobody:console")
    await forget(bot, x)
    erased = await probe("AAAAAA333", x)
    assert known == never == erased
    assert "moins de 5 aujourd'hui" in known


# -- Differencing ----------------------------------------------------------------------------


async def _two_campaigns(bot: Bot, x_stops_all: bool) -> list[str]:
    """Two list campaigns whose audiences differ by X; six others said "stop tout"."""
    people = agents(14)
    x = "@x:console"
    setup_service(bot, agents=[*people, x])
    await bot.say(AMB, f'campagne créer AAAAAA111 "A" fin 15/12/2026 pour {",".join([*people, x])}')
    await bot.say(AMB, f'campagne créer BBBBBB222 "B" fin 15/12/2026 pour {",".join(people)}')
    await bot.say(AMB, "campagne lancer AAAAAA111")
    await bot.say(AMB, "campagne lancer BBBBBB222")
    for agent in people[:6]:
        await bot.say(agent, "stop tout")
    if x_stops_all:
        await bot.say(x, "stop tout")
    bot.clock.advance(days=1)
    seen = []
    for command in ("stats AAAAAA111", "stats BBBBBB222", "voir AAAAAA111", "liste"):
        seen.extend(await ask(bot, f"campagne {command}"))
    return seen


async def test_two_campaigns_differing_by_one_agent_do_not_tell_their_stop_tout(
    worlds: Worlds,
) -> None:
    """Before: 'rappels arrêtés' 7 against 6 on A (B unchanged), i.e. X's "stop tout"."""
    stopped = await _two_campaigns(worlds.new(), x_stops_all=True)
    not_stopped = await _two_campaigns(worlds.new(), x_stops_all=False)
    assert stopped == not_stopped
    assert any("15 invités" in text for text in stopped)
    assert any("14 invités" in text for text in stopped)


async def test_a_service_shown_in_words_is_not_the_total_minus_the_others(
    worlds: Worlds,
) -> None:
    """Seven agents moved to another service after the launch; two of them said "fait".
    Before: T 'moins de 5 terminés', the total '12 terminés', S '10 terminés': T is 2."""
    bot = worlds.new()
    people = agents(27)
    setup_service(bot, agents=people)
    await bot.say(AMB, CREATE)
    await bot.say(AMB, f"campagne lancer {CODE}")
    for agent in [*people[:10], *people[20:22]]:
        await bot.say(agent, "fait")
    with bot.store.transaction() as uow:
        for agent in people[20:]:
            put_person(uow, agent, bot.clock.now(), service="SVC-T")
    bot.clock.advance(days=1)
    text = (await bot.say(AMB, f"campagne stats {CODE}"))[0]
    lines = {line.split(" : ")[0].strip("• "): line for line in text.splitlines()}
    assert "12 terminés" in lines["ensemble"]
    # T alone would be the total minus S: S's figure is withheld too (no band for either).
    assert "terminés, rappels arrêtés : non communiqués" in lines["SVC-T"]  # 7: too small
    # DREAL-BZH is large enough on its own: the reply says why its figure is withheld.
    assert (
        "terminés : non communiqué (il se déduirait du total moins les autres services)"
        in (lines["DREAL-BZH"])
    )


async def _morning_after_erasure(bot: Bot, erase: bool) -> list[str]:
    """#24: the morning note, the bands and the ministry's line of a day already shown do not
    move when someone erases themselves that day (they leave at the next snapshot)."""
    people = agents(12)
    setup_service(bot, agents=people)
    await other_service(bot)
    await bot.say(AMB, CREATE)
    await bot.say(AMB, f"campagne lancer {CODE}")
    for agent in people[:3]:
        await bot.say(agent, "fait")
    bot.clock.advance(days=1)  # Tuesday 10:00 in Paris
    seen = await ask(bot, f"campagne stats {CODE}")
    if erase:
        await forget(bot, people[0])
    bot.app.runner.morning_notes(bot.clock.now())
    bot.app.runner.digest(bot.clock.now())
    await bot.app.dispatcher.drain()
    seen += await ask(bot, f"campagne stats {CODE}")
    digests = [t for t in to_ambassador(bot) if t.startswith("Point hebdomadaire")]
    return seen + digests + [t for t in to_ambassador(bot) if t.startswith("Bonjour, les")]


async def test_the_morning_note_and_the_ministry_line_after_an_erasure(worlds: Worlds) -> None:
    erased = await _morning_after_erasure(worlds.new(), erase=True)
    kept = await _morning_after_erasure(worlds.new(), erase=False)
    assert erased == kept
    note = erased[-1]
    assert "• 12 invités · moins de 5 en cours (au plus 34" in note
    assert "moins de 5 terminés (au plus 34" in note
    assert "par rapport au ministère : votre campagne est dans la moitié basse" in note
    assert "parmi les 2 campagnes en cours des 2 services du ministère" in erased[0]
    assert "parmi les 2 campagnes en cours" in erased[-2]  # the weekly digest carries it too
