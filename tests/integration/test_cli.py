"""The command line: roles, agents import, forget, and the console bot with piped input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from storage.uow import Store
from tests.helpers.bot import clean_environment

runner = CliRunner()


def _people(url: str) -> dict[str, tuple[str | None, str | None, str | None]]:
    store = Store.from_url(url)
    try:
        with store.transaction() as uow:
            result = {}
            for service in uow.services.all():
                for p in uow.people.in_service(service):
                    result[p.platform_id] = (p.display_name, p.service, p.timezone)
            return result
    finally:
        store.close()


GOOD = (
    "id,display_name,service,email,timezone\n"
    "@alice:console,Alice Martin,DREAL-BZH,alice@dreal.gouv.fr,Europe/Paris\n"
    "@bob:console,Bob,DREAL-BZH,,Indian/Reunion\n"
)


def test_agents_import_then_update(env: str, tmp_path: Path) -> None:
    csv_file = tmp_path / "agents.csv"
    csv_file.write_text(GOOD, encoding="utf-8")
    result = runner.invoke(app, ["agents", "import", str(csv_file)])
    assert result.exit_code == 0, result.output
    assert "2 agents importés (2 nouveaux, 0 mis à jour)" in result.output
    csv_file.write_text(GOOD.replace("Bob,", "Bob Le Gall,"), encoding="utf-8")
    result = runner.invoke(app, ["agents", "import", str(csv_file)])
    assert "(0 nouveau, 2 mis à jour)" in result.output
    people = _people(env)
    assert people["@bob:console"] == ("Bob Le Gall", "DREAL-BZH", "Indian/Reunion")


@pytest.mark.parametrize(
    ("bad_row", "reason"),
    [
        ("@carol:console,Carol,,,", "ligne 4 : service manquant"),
        ("@carol:console,Carol,DREAL-BZH,,Mars/Olympus", "ligne 4 : fuseau horaire inconnu"),
        ("@alice:console,Alice bis,DREAL-BZH,,", "ligne 4 : identifiant @alice:console en double"),
    ],
)
def test_agents_import_bad_row_imports_nothing(
    env: str, tmp_path: Path, bad_row: str, reason: str
) -> None:
    csv_file = tmp_path / "agents.csv"
    csv_file.write_text(GOOD + bad_row + "\n", encoding="utf-8")
    result = runner.invoke(app, ["agents", "import", str(csv_file)])
    assert result.exit_code == 1
    assert reason in result.output
    assert "aucun agent n'a été importé" in result.output
    runner.invoke(app, ["db", "upgrade"])
    assert _people(env) == {}


def test_agents_import_semicolon_and_bad_header(env: str, tmp_path: Path) -> None:
    csv_file = tmp_path / "agents.csv"
    csv_file.write_text("id;display_name;service\n@a:x;A;S\n", encoding="utf-8")
    assert runner.invoke(app, ["agents", "import", str(csv_file)]).exit_code == 0
    csv_file.write_text("id,name\n@a:x,A\n", encoding="utf-8")
    result = runner.invoke(app, ["agents", "import", str(csv_file)])
    assert result.exit_code == 1 and "colonnes manquantes" in result.output


def test_roles_and_forget(env: str) -> None:
    result = runner.invoke(app, ["ambassador", "add", "@amb:console", "--service", "DREAL-BZH"])
    assert result.exit_code == 0 and "ambassadeur pour DREAL-BZH" in result.output
    result = runner.invoke(app, ["ambassador", "list"])
    assert "@amb:console" in result.output and "DREAL-BZH" in result.output
    assert runner.invoke(app, ["admin", "add", "@boss:console"]).exit_code == 0
    assert "@boss:console" in runner.invoke(app, ["admin", "list"]).output
    result = runner.invoke(app, ["ambassador", "remove", "@nobody:console"])
    assert result.exit_code == 1 and "n'est pas ambassadeur" in result.output
    assert runner.invoke(app, ["forget", "@amb:console"]).exit_code == 0
    assert "Aucun ambassadeur" in runner.invoke(app, ["ambassador", "list"]).output
    result = runner.invoke(app, ["forget", "@amb:console"])
    assert result.exit_code == 1 and "Personne inconnue" in result.output


def test_invalid_config_is_reported(env: str, tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text('[bot]\nplatform = "irc"\n', encoding="utf-8")
    result = runner.invoke(app, ["--config", str(tmp_path / "bad.toml"), "db", "upgrade"])
    assert result.exit_code == 2
    assert "bot.platform" in result.output


def test_help_everywhere() -> None:
    for args in (
        [],
        ["run"],
        ["db"],
        ["ambassador"],
        ["ambassador", "add"],
        ["admin"],
        ["agents", "import"],
        ["forget"],
    ):
        result = runner.invoke(app, [*args, "--help"])
        assert result.exit_code == 0, args
        assert "Utilisation :" in result.output


def test_console_run_with_piped_input(tmp_path: Path) -> None:
    """The acceptance line of the foundation issue, as a real process."""
    env = clean_environment()
    completed = subprocess.run(
        [sys.executable, "-m", "bot.cli", "run"],
        input="/as @alice:console\naide\nmes données\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    out = completed.stdout
    assert out.count("→ @alice:console") == 2
    assert "« mes données » : ce que je conserve sur vous" in out
    assert "identifiant : @alice:console" in out
    assert "aucun score" in out
    assert (tmp_path / "pixbot.db").exists()


def test_slack_needs_a_bot_token(env: str) -> None:
    from bot.config import load_settings
    from bot.runner import build_platform

    settings = load_settings(None, bot={"platform": "slack"})
    with pytest.raises(SystemExit, match="bot_token"):
        build_platform(settings)
    configured = load_settings(
        None, bot={"platform": "slack"}, slack={"bot_token": "xoxb-test", "app_token": "xapp-1"}
    )
    platform = build_platform(configured)
    assert platform.name == "slack"
