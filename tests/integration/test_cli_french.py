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
    assert "secret-deux" not in result.output and "secret-trois" not in result.output
    as_json = runner.invoke(cli, ["matrix", "status", "--json", "--config", str(config)])
    assert as_json.exit_code == 1
    assert '"senders"' in as_json.output and "secret-deux" not in as_json.output


# -- pixbot's own words: French by default, English on request (bot/translation.py) -------------


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from tests.helpers.bot import point_cli_at

    point_cli_at(monkeypatch, tmp_path, f"sqlite:///{tmp_path / 'pixbot.db'}")
    return tmp_path


@pytest.mark.parametrize(
    ("args", "in_french", "in_english"),
    [
        (
            ["admin", "add", "@chef:console"],
            "@chef:console est administrateur.",
            "@chef:console is an administrator.",
        ),
        (["campaign", "show", "ABCDEF234"], "Campagne inconnue : ABCDEF234", "Unknown campaign"),
        (["forget", "@nobody:console"], "Personne inconnue : @nobody:console", "Unknown person"),
        (["ambassador", "list"], "Aucun ambassadeur.", "No ambassador."),
    ],
)
def test_messages_are_french_and_english_with_lang_en(
    database: Path, args: list[str], in_french: str, in_english: str
) -> None:
    said = runner.invoke(cli, args)
    assert in_french in said.output and "Base de données : sqlite:///" in said.stderr
    runner.invoke(cli, ["admin", "remove", "@chef:console"])
    told = runner.invoke(cli, ["--lang", "en", *args])
    assert told.exit_code == said.exit_code
    assert in_english in told.output and "Database: sqlite:///" in told.stderr, told.output
    assert in_french not in told.output


def test_help_is_english_with_lang_en_french_by_default() -> None:
    french = runner.invoke(cli, ["agents", "import", "--help"]).stdout
    assert "Importer ou mettre à jour des agents." in french and "Le fichier CSV" in french
    english = runner.invoke(cli, ["--lang", "en", "agents", "import", "--help"]).stdout
    assert "Import or update agents." in english and "The CSV file to import." in english
    assert "Show this message and exit." in english and "Importer" not in english
    top = runner.invoke(cli, ["--lang", "en", "db", "--help"]).stdout
    assert "Create or migrate the database (Alembic)." in top


def test_an_english_locale_gives_english_messages_and_help(tmp_path: Path) -> None:
    def pixbot(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot.cli", *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=clean_environment(**env),
            timeout=60,
            check=False,
        )

    english = pixbot("admin", "add", "@chef:console", LANG="en_GB.UTF-8")
    assert english.returncode == 2 and english.stderr.startswith("No database, sqlite:///")
    french = pixbot("admin", "add", "@chef:console", LANG="fr_FR.UTF-8")
    assert french.stderr.startswith("Base de données absente, sqlite:///")
    helped = pixbot("--help", LC_ALL="en_US.UTF-8").stdout
    assert "Run the bot (console by default" in helped and "Lancer le bot" not in helped


def test_log_sentences_are_french_and_english_by_the_language_keeping_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json
    import logging

    from bot import logs, translation

    logger = logging.getLogger("bot.lease")
    try:
        logs.configure(logging.WARNING, "json")
        logger.warning("Verrou d'instance repris (époque %s) : les envois reprennent", 7)
        translation.set_language("en")
        logger.warning("Verrou d'instance repris (époque %s) : les envois reprennent", 7)
    finally:
        translation.set_language("fr")
        logs.configure(logging.WARNING, "text")
    french, english = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    assert french["message"] == "Verrou d'instance repris (époque 7) : les envois reprennent"
    assert english["message"] == "Instance lock re-acquired (epoch 7): sending resumes"
    assert french.keys() == english.keys() == {"time", "level", "logger", "message"}


def test_nio_room_details_stay_quiet_at_info(capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    from bot import logs

    try:
        logs.configure(logging.INFO, "text")
        logging.getLogger("nio.rooms").info("Room !abc:x handling event of type m.room.member")
        logging.getLogger("alembic.runtime.migration").info("Context impl SQLiteImpl.")
        logging.getLogger("bot.runner").info("démarrage de pixbot : plateforme %s", "matrix")
    finally:
        logs.configure(logging.WARNING, "text")
    err = capsys.readouterr().err
    assert "démarrage de pixbot" in err
    assert "Room !abc" not in err and "SQLiteImpl" not in err


def test_a_bad_setting_is_one_line_in_either_language(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIXBOT_SCHEDULE__WORKING_DAYS", "xyz")
    french = runner.invoke(cli, ["admin", "list"])
    assert french.exit_code == 2
    assert french.stderr.splitlines() == [
        'Configuration invalide : schedule.working_days = "xyz" (variable '
        "PIXBOT_SCHEDULE__WORKING_DAYS) : jours attendus : mon…sun ou lun…dim, en plages "
        '(mon-fri) ou en liste (mon,tue,thu) ; exemple : working_days = "mon-thu"'
    ]
    english = runner.invoke(cli, ["--lang", "en", "admin", "list"])
    assert english.exit_code == 2
    assert english.stderr.splitlines() == [
        'Invalid configuration: schedule.working_days = "xyz" (variable '
        "PIXBOT_SCHEDULE__WORKING_DAYS): days expected: mon…sun or lun…dim, as ranges "
        '(mon-fri) or a list (mon,tue,thu); example: working_days = "mon-thu"'
    ]


def test_a_refused_backup_says_why_in_either_language(database: Path) -> None:
    target = database / "copie.db"
    target.write_bytes(b"")
    french = runner.invoke(cli, ["db", "backup", str(target)])
    assert french.exit_code == 2
    assert f"Sauvegarde refusée : le fichier {target} existe déjà" in french.stderr
    english = runner.invoke(cli, ["--lang", "en", "db", "backup", str(target)])
    assert english.exit_code == 2
    assert f"Backup refused: the file {target} exists already" in english.stderr
    assert "--force" in english.stderr


def test_the_bot_s_last_word_about_its_identity_follows_the_language() -> None:
    from bot import translation
    from bot.cli.matrix import state_words
    from bot.platforms.matrix.identity_state import MESSAGES_FR, RESET_FR, IdentityState

    said = f"{RESET_FR} {MESSAGES_FR[IdentityState.VERIFIED]}"
    assert state_words(said) == said
    translation.set_language("en")
    assert state_words(said) == (
        "The cross-signing identity of the bot's account was reset from another device (master "
        "key changed). The bot's device is verified: it is signed by the account's cross-signing "
        "identity; agents see no warning."
    )
