"""Long command-line jobs show a progress bar (counts, rate) only to someone watching a terminal
(#14): in a pipe, a log or cron they print nothing more, and the files they write are the same
byte for byte with or without the bar."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app as cli
from tests.helpers.bot import Bot
from tests.helpers.campaigns import AGENTS, AMB, CREATE, setup_service

runner = CliRunner()
BAR = "━"  # rich draws its bar with this character


async def _running(bot: Bot) -> None:
    setup_service(bot)
    await bot.say(AMB, CREATE)
    await bot.say(AMB, "campagne lancer ABCDEF234")
    await bot.say(AGENTS[0], "fait")


def _watched(monkeypatch: pytest.MonkeyPatch, watched: bool) -> None:
    monkeypatch.setattr("bot.cli.progress.on_terminal", lambda: watched)


async def test_stats_export_shows_a_bar_only_on_a_terminal(
    bot: Bot, cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _running(bot)
    quiet = runner.invoke(cli, ["campaign", "stats", "ABCDEF234", "--csv", "quiet.csv"])
    assert quiet.exit_code == 0, quiet.output
    named, written = quiet.output.splitlines()  # not a terminal: nothing else
    assert named.startswith("Base de données : ") and written == "CSV écrit : quiet.csv"
    _watched(monkeypatch, True)
    shown = runner.invoke(cli, ["campaign", "stats", "ABCDEF234", "--csv", "shown.csv"])
    assert shown.exit_code == 0, shown.output
    assert "Export CSV" in shown.output and BAR in shown.output
    assert (cli_env / "shown.csv").read_bytes() == (cli_env / "quiet.csv").read_bytes()
    groups = len((cli_env / "shown.csv").read_text(encoding="utf-8").splitlines()) - 1
    assert f"{groups}/{groups}" in shown.output  # every group written, counted


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_backup_shows_its_pages_only_on_a_terminal(
    bot: Bot, cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _running(bot)
    quiet = runner.invoke(cli, ["db", "backup", "quiet.db"])
    assert quiet.exit_code == 0, quiet.output
    named, written = quiet.output.splitlines()
    assert named.startswith("Base de données : sqlite:///")
    assert written.startswith("Sauvegarde écrite : quiet.db (") and BAR not in quiet.output
    _watched(monkeypatch, True)
    shown = runner.invoke(cli, ["db", "backup", "shown.db"])
    assert shown.exit_code == 0, shown.output
    assert "Sauvegarde (pages)" in shown.output and BAR in shown.output
    assert (cli_env / "shown.db").read_bytes() == (cli_env / "quiet.db").read_bytes()


async def test_agents_import_is_quiet_off_a_terminal(
    bot: Bot, cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = cli_env / "agents.csv"
    path.write_text(
        "id,display_name,service\n" + "".join(f"@p{i}:console,P {i},DNUM\n" for i in range(3)),
        encoding="utf-8",
    )
    quiet = runner.invoke(cli, ["agents", "import", str(path)])
    assert quiet.output.splitlines()[1:] == ["3 agents importés (3 nouveaux, 0 mis à jour)."]
    _watched(monkeypatch, True)
    shown = runner.invoke(cli, ["agents", "import", str(path)])
    assert "Import des agents" in shown.output and "3/3" in shown.output
    assert shown.output.endswith("3 agents importés (0 nouveau, 3 mis à jour).\n")
