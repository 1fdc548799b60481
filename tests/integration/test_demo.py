"""``pixbot run --demo``: a throwaway database, a demo service, agents who answer."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.app import App
from bot.cli import app as pixbot_cli
from bot.core import FakeClock
from bot.demo import AGENTS, DemoAgents, demo_database, seed
from storage.uow import Store
from tests.helpers.bot import Bot, RecordingConsole, make_settings

ME = "@vous:console"


async def test_the_demo_story_creating_launching_reminding_and_the_chart(
    tmp_path: Path, clock: FakeClock
) -> None:
    url = demo_database(tmp_path)
    store = Store.from_url(url)
    store.upgrade()
    seed(store, clock.now())
    console = RecordingConsole(journal_path=tmp_path / "pixbot-demo.console.jsonl")
    demo = DemoAgents(console, delay=0)
    settings = make_settings(url)
    settings.stats.refresh = "live"  # as `pixbot run --demo` does
    app = App(settings, store, demo, clock=clock, drain_after_message=True)
    demo.listen(app.handle)
    bot = Bot(app, console, clock)
    try:
        [created] = await bot.say(ME, 'campagne créer ABCDEF234 "Cybersécurité" fin 18/12/2026')
        assert "créée" in created and f"({len(AGENTS)} aujourd'hui)" in created
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
        stats, chart = await bot.say(ME, "campagne stats ABCDEF234")
        # 7 of 10 completed and 1 stopped: shown in words that one person cannot change.
        assert "presque tous terminés" in stats and "moins de 5 rappels arrêtés" in stats
        picture = [m for m in console.journal.messages if m.get("image")]
        assert len(picture) == 1 and Path(picture[0]["image"]).parent == tmp_path
        assert chart.startswith("Graphique de participation")
    finally:
        store.close()


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
