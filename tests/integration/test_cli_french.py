"""The command line speaks French to operators (issue #30): Click's own errors and help screens,
help on every option; English with ``--lang en`` or an English locale."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from bot.cli import app as cli
from bot.cli import i18n
from tests.helpers.bot import clean_environment

runner = CliRunner()


@pytest.fixture(autouse=True)
def french(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    i18n.install("fr")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--nope"], "Erreur : option inconnue : --nope"),
        (["agents", "import", "nope.csv"], "Erreur : valeur invalide pour 'FILE.csv' : 'nope.csv'"),
        (["ambassador", "add", "@a:x"], "Erreur : option obligatoire manquante : '--service'."),
        (["campaign", "stats"], "Erreur : argument obligatoire manquant : 'CODE'."),
        (["campaign", "list", "extra"], "Erreur : argument en trop : extra"),
        (["campaign", "stats", "X", "--chart"], "Erreur : l'option '--chart' attend une valeur."),
        (["nosuch"], "Erreur : commande inconnue : 'nosuch'."),
        (["--lang", "de", "admin", "list"], "Erreur : valeur invalide pour --lang : fr ou en."),
    ],
)
def test_usage_errors_are_french(args: list[str], expected: str) -> None:
    result = runner.invoke(cli, args)
    assert result.exit_code == 2
    assert expected in result.stderr, result.stderr
    for english in ("Error", "Usage:", "Try '", "Invalid value", "Missing", "No such"):
        assert english not in result.stderr


def test_help_screens_are_french_and_keep_brackets() -> None:
    result = runner.invoke(cli, ["purge", "--help"])
    assert result.exit_code == 0
    assert result.stdout.startswith("Utilisation : ") and " purge [OPTIONS]" in result.stdout
    assert "([privacy] retention_days)" in result.stdout
    assert "Options :" in result.stdout and "Afficher cette aide et quitter." in result.stdout
    assert "Show this message" not in result.stdout
    assert "Commandes :" in runner.invoke(cli, ["--help"]).stdout


def test_every_option_and_argument_has_help() -> None:
    missing = []

    def walk(command: object, path: str) -> None:
        for param in command.params:  # type: ignore[attr-defined]
            if not getattr(param, "help", None):
                missing.append(f"{path} {param.name}")
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(get_command(cli), "pixbot")
    assert missing == []


@pytest.mark.parametrize(
    ("argv", "environ", "expected"),
    [
        ([], {}, "fr"),
        ([], {"LANG": "fr_FR.UTF-8"}, "fr"),
        ([], {"LANG": "C.UTF-8"}, "fr"),
        ([], {"LANG": "en_GB.UTF-8"}, "en"),
        ([], {"LC_ALL": "fr_FR.UTF-8", "LANG": "en_US.UTF-8"}, "fr"),
        (["--lang", "en", "admin"], {"LANG": "fr_FR.UTF-8"}, "en"),
        (["--lang=fr"], {"LANG": "en_US.UTF-8"}, "fr"),
    ],
)
def test_the_language_comes_from_lang_then_the_locale(
    argv: list[str], environ: dict[str, str], expected: str
) -> None:
    assert i18n.choose_language(argv, environ) == expected


@pytest.mark.parametrize(
    ("args", "env"),
    [(["--lang", "en", "--nope"], {}), (["--nope"], {"LC_ALL": "en_US.UTF-8"})],
)
def test_english_on_request(tmp_path: Path, args: list[str], env: dict[str, str]) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=clean_environment(**env),
        timeout=60,
        check=False,
    )
    assert completed.returncode == 2
    assert "Error: No such option: --nope" in completed.stderr
    assert "Erreur" not in completed.stderr


def test_matrix_status_without_a_matrix_configuration_is_one_line(tmp_path: Path) -> None:
    result = runner.invoke(cli, ["matrix", "status"])
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("Pas de compte Matrix ici") and "PIXBOT_CONFIG" in line
    assert "Traceback" not in result.output


def test_matrix_status_lists_every_sender_account(tmp_path: Path) -> None:
    """With [[matrix.senders]], each account is shown in turn; one never connected is enough
    for exit code 1 (agents pinned to it cannot reach the bot)."""
    (tmp_path / "main-store").mkdir()
    config = tmp_path / "pixbot.toml"
    config.write_text(
        "\n".join(
            [
                "[bot]",
                'platform = "matrix"',
                "[matrix]",
                'user_id = "@pixbot:example.gouv.fr"',
                'store_path = "main-store"',
                "[[matrix.senders]]",
                'user_id = "@pixbot-2:example.gouv.fr"',
                'password = "secret-deux"',
                'store_path = "store-2"',
                "[[matrix.senders]]",
                'user_id = "@pixbot-3:example.gouv.fr"',
                'password = "secret-trois"',
                'store_path = "store-3"',
            ]
        ),
        encoding="utf-8",
    )
    result = runner.invoke(cli, ["matrix", "status", "--config", str(config)])
    assert result.exit_code == 1, result.output
    assert "Comptes : 3 (le principal et 2 d'envoi)" in result.output
    for role, user in (
        ("principal", "@pixbot:example.gouv.fr"),
        ("d'envoi n°1", "@pixbot-2:example.gouv.fr"),
        ("d'envoi n°2", "@pixbot-3:example.gouv.fr"),
    ):
        assert f"— Compte {role} : {user}" in result.output
    assert result.output.count("jamais connecté") == 3
    assert "secret" not in result.output
    as_json = runner.invoke(cli, ["matrix", "status", "--json", "--config", str(config)])
    assert as_json.exit_code == 1
    assert '"senders"' in as_json.output and "secret" not in as_json.output
