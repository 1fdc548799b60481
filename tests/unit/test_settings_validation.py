"""Every setting is checked when the configuration loads (issue #30): one bad value per key gives
one French line naming the key, the value (never a secret's) and an example; exit code 2; no
traceback; nothing else runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from bot.cli import app as cli
from bot.config import ConfigError, Settings, check_platform, load_settings

runner = CliRunner()

# One bad value per documented key (TOML source). A key added to the model must be added here.
BAD: dict[str, str] = {
    "bot.platform": '"irc"',
    "bot.database_url": '"mysql://pixbot:pw@db/pixbot"',
    "bot.locale": '"de"',
    "bot.timezone": '"Mars/Olympus"',
    "bot.admins": '["@a:x", "two words"]',
    "bot.faq_overrides": '"/nonexistent/overrides.yaml"',
    "bot.faq_retention_days": "0",
    "matrix.homeserver": '"matrix.example.gouv.fr"',
    "matrix.user_id": '"pixbot"',
    "matrix.password": "3",
    "matrix.access_token": "[1]",
    "matrix.recovery_key": "\"'EsTc 5rr1'\"",
    "matrix.device_id": '"MY DEVICE"',
    "matrix.store_path": '""',
    "matrix.e2ee": '"maybe"',
    "matrix.allowed_servers": '["https://tchap.gouv.fr"]',
    "matrix.rate_limit": "0",
    "matrix.senders": '[{ user_id = "pixbot-2", store_path = "/var/lib/pixbot/s2" }]',
    "slack.bot_token": '"xapp-123"',
    "slack.app_token": '"xoxb-123"',
    "slack.signing_secret": "12",
    "slack.rate_limit": '"fast"',
    "slack.http_host": '""',
    "slack.http_port": "70000",
    "slack.spool_path": "[]",
    "schedule.working_hours": '"17:00-09:00"',
    "schedule.working_days": '"xyz"',
    "schedule.holidays": '"XX"',
    "schedule.reminders": '["J-7", "demain"]',
    "schedule.event_launch": '"15 jours avant"',
    "schedule.event_reminders": '"J-7"',
    "schedule.snooze_working_days": "0",
    "schedule.thank_completers": '"oui merci"',
    "schedule.digest": '"lundi matin"',
    "schedule.morning_note": '"le matin"',
    "stats.min_group": "0",
    "stats.refresh": '"hourly"',
    "privacy.retention_days": "-1",
    "privacy.key": '"not-hex"',
    "privacy.key_file": "[]",
    "limits.send_concurrency": "0",
    "limits.messages_per_minute": '"many"',
    "limits.handoffs_per_day": "-1",
    "limits.max_room_members": "1",
    "limits.deadline_horizon_days": "99999",
    "limits.questions_per_day": "1.5",
    "limits.import_batch": "0",
    "limits.import_pause": "60",
    "http.listen": '"8080"',
    "http.metrics_token": "42",
    "http.public_url": '"pixbot.example.gouv.fr/tableau"',
    "pix.api_url": '"api.pix.fr"',
    "pix.client_id": "3",
    "pix.client_secret": "[1]",
    "pix.sync_minutes": "1",
    "pix.overlap_minutes": "-5",
    "pix.timeout": "0",
    "log.level": '"LOUD"',
    "log.format": '"xml"',
}
TABLES = {"matrix.senders": 'matrix.senders n°1.user_id = "pixbot-2" : '}
SECRETS = {
    "matrix.password",
    "matrix.access_token",
    "matrix.recovery_key",
    "slack.bot_token",
    "slack.app_token",
    "slack.signing_secret",
    "privacy.key",
    "http.metrics_token",
    "pix.client_secret",
}


def _keys(model: type[BaseModel]) -> set[str]:
    keys = set()
    for section, field in model.model_fields.items():
        assert isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
        keys |= {f"{section}.{key}" for key in field.annotation.model_fields}
    return keys


def test_every_key_of_the_model_has_a_bad_value_here() -> None:
    assert set(BAD) == _keys(Settings)


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in list(__import__("os").environ):
        if name.startswith("PIXBOT_"):
            monkeypatch.delenv(name)
    return tmp_path


@pytest.mark.parametrize("key", sorted(BAD))
def test_one_bad_value_is_one_french_line_and_exit_code_2(folder: Path, key: str) -> None:
    section, name = key.split(".")
    config = folder / "pixbot.toml"
    config.write_text(f"[{section}]\n{name} = {BAD[key]}\n", encoding="utf-8")
    result = runner.invoke(cli, ["--config", str(config), "campaign", "list"])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    (line,) = result.stderr.splitlines()
    if key in TABLES:  # a list of tables names the entry and its key
        assert line.startswith(f"Configuration invalide : {TABLES[key]}"), line
        assert "; exemple : " in line
        return
    assert line.startswith(f"Configuration invalide : {key} = "), line
    assert "; exemple : " in line
    if key in SECRETS:
        assert "(valeur masquée)" in line and BAD[key].strip('"') not in line
        assert f"PIXBOT_{section.upper()}__{name.upper()}=…" in line
    else:
        shown = BAD[key].replace("pw@", "***@")
        assert shown in line
    assert not (folder / "pixbot.db").exists()


def test_an_environment_value_is_named_with_its_variable(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIXBOT_SCHEDULE__HOLIDAYS", "FR-99")
    result = runner.invoke(cli, ["admin", "list"])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        'Configuration invalide : schedule.holidays = "FR-99" (variable '
        "PIXBOT_SCHEDULE__HOLIDAYS) : subdivision inconnue pour FR (FR-57, FR-974…) ; "
        'exemple : holidays = "FR-57"'
    ]


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        (
            "[bot]\nplatfrom = 1\n",
            "bot.platfrom : clé inconnue dans [bot] ; vouliez-vous dire platform ?",
        ),
        ("[shedule]\n", "[shedule] : section inconnue ; vouliez-vous dire [schedule] ?"),
        ("[bot\n", "syntaxe TOML invalide"),
    ],
)
def test_unknown_keys_and_syntax_are_one_french_line(
    folder: Path, toml: str, expected: str
) -> None:
    (folder / "pixbot.toml").write_text(toml, encoding="utf-8")
    result = runner.invoke(cli, ["admin", "list"])
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("Configuration invalide : ") and expected in line


def test_an_unreadable_configuration_is_one_line(folder: Path) -> None:
    import os

    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    config = folder / "pixbot.toml"
    config.write_text("[bot]\n", encoding="utf-8")
    config.chmod(0)
    result = runner.invoke(cli, ["--config", str(config), "admin", "list"])
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert "illisible" in line and "sudo -u pixbot" in line


@pytest.mark.parametrize(
    ("platform", "variable"),
    [("matrix", "PIXBOT_MATRIX__PASSWORD"), ("slack", "PIXBOT_SLACK__BOT_TOKEN")],
)
def test_run_without_the_account_secret_is_one_line(
    folder: Path, platform: str, variable: str
) -> None:
    result = runner.invoke(cli, ["run", "--platform", platform])
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("Configuration invalide : ") and variable in line
    assert not (folder / "pixbot.db").exists()


def test_platform_secrets_are_needed_by_run_only(folder: Path) -> None:
    settings = load_settings(None, bot={"platform": "slack"}, slack={"bot_token": "xoxb-1"})
    with pytest.raises(ConfigError, match="signing_secret"):
        check_platform(settings)
    check_platform(load_settings(None, bot={"platform": "matrix"}, matrix={"password": "x"}))
