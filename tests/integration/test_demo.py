"""``pixbot run --demo``: a throwaway database, a demo service, agents who answer."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from bot.app import App
from bot.cli import app as pixbot_cli
from bot.core import FakeClock
from bot.demo import AGENTS, DemoAgents, demo_database, demo_start, seed
from bot.demo_history import HISTORY_SERVICES
from bot.services.charts import chart_data
from storage.uow import Store
from tests.helpers.bot import Bot, RecordingConsole, make_settings

ME = "@vous:console"


def _demo_bot(tmp_path: Path, clock: FakeClock) -> tuple[Bot, DemoAgents]:
    url = demo_database(tmp_path)
    store = Store.from_url(url)
    store.upgrade()
    settings = make_settings(url)  # the deployment's rules: daily snapshot, office hours
    seed(store, clock.now(), settings=settings)
    console = RecordingConsole(journal_path=tmp_path / "pixbot-demo.console.jsonl")
    demo = DemoAgents(console, delay=0)
    app = App(settings, store, demo, clock=clock, drain_after_message=True)
    demo.listen(app.handle)
    return Bot(app, console, clock), demo


async def test_the_demo_shows_a_running_campaign_whose_text_and_chart_agree(
    tmp_path: Path, clock: FakeClock
) -> None:
    """Issue #24: 40+ agents in two services, campaigns launched days ago, so that the daily
    snapshot holds figures; the words and the picture come from the same figures."""
    bot, _ = _demo_bot(tmp_path, clock)
    try:
        assert sum(len(s.outcomes) for s in HISTORY_SERVICES) >= 40
        [listing] = await bot.say(ME, "campagne liste")
        assert all(s.code in listing and s.name in listing for s in HISTORY_SERVICES)
        assert "clôture le lundi 7 décembre 2026 à 17:00" in listing  # one deadline everywhere
        stats, chart = await bot.say(ME, "campagne stats CYBDRL235")
        assert "24 invités · 5 en cours (21\u00a0%) · 13 terminés (54\u00a0%)" in stats
        assert "moins de 5 rappels arrêtés" in stats and "état au lundi 23 novembre" in stats
        assert (
            "sur 24 personnes invitées, 13 ont terminé (54\u00a0%), 5 sont en cours (21\u00a0%)"
            in chart
        )
        # The picture is drawn from that same snapshot: its curve ends at the 13 completed.
        with bot.store.transaction() as uow:
            found = bot.app.dispatcher.pictures._read(uow, 1, clock.now().date())
        assert found is not None
        campaign, figures, completions = found
        data = chart_data(
            campaign, figures, completions, clock.now().date(), ZoneInfo("Europe/Paris")
        )
        assert figures.total.completed.value == 13
        assert sum(count for _, count in data.completions) == 13 and len(data.completions) >= 3
        [picture] = [m for m in bot.platform.journal.messages if m.get("image")]
        image = Path(picture["image"])
        assert image.parent == tmp_path and image.name in os.listdir(tmp_path)
        [shown] = await bot.say(ME, "campagne voir CYBDTM235")
        assert "20 invités · 5 en cours (25\u00a0%) · 9 terminés (45\u00a0%)" in shown
        assert "(envoyées)" in shown and "(prévu)" in shown
    finally:
        bot.store.close()


async def test_the_demo_agents_answer_a_campaign_you_launch(
    tmp_path: Path, clock: FakeClock
) -> None:
    bot, demo = _demo_bot(tmp_path, clock)
    try:
        [created] = await bot.say(
            ME, 'campagne créer ABCDEF234 "Bureautique" fin 18/12/2026 pour service DREAL Bretagne'
        )
        assert "créée" in created and "(34 aujourd'hui)" in created
        await bot.say(ME, "campagne lancer ABCDEF234")
        await demo.settle()
        # Everyone was invited; the scripted agents answered.
        assert all(any("app.pix.fr" in t for t in bot.inbox(a.platform_id)) for a in AGENTS)
        assert any(t.startswith("Bravo") for t in bot.inbox("@camille:console"))
        assert any("rappellerai" in t for t in bot.inbox("@lea:console"))
        assert any("plus de rappel" in t for t in bot.inbox("@manon:console"))
        assert any("Pix Orga" in t for t in bot.inbox("@louis:console"))  # the FAQ answer
        await bot.say(ME, "campagne relancer ABCDEF234")
        await demo.settle()
        assert any(t.startswith("Bravo") for t in bot.inbox("@lea:console"))
    finally:
        bot.store.close()


def test_the_demo_clock_is_a_working_moment() -> None:
    settings = make_settings("sqlite://")
    sunday_evening = datetime(2026, 12, 6, 21, 3, tzinfo=UTC)
    assert demo_start(settings, sunday_evening) == datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    tuesday = datetime(2026, 12, 8, 13, 0, tzinfo=UTC)
    assert demo_start(settings, tuesday) == tuesday


def test_pixbot_run_demo_starts_on_a_throwaway_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PIXBOT_CONFIG", raising=False)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    result = CliRunner().invoke(pixbot_cli, ["run", "--demo"], input="aide\n")
    assert result.exit_code == 0, result.output
    assert "Démonstration de pixbot" in result.output
    assert "campagne créer ABCDEF234" in result.output
    assert not (tmp_path / "pixbot.db").exists()  # the real database is untouched
    assert list(tmp_path.glob("pixbot-demo-*/pixbot-demo.db"))
