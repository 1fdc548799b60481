from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings


def test_defaults_match_commands_md(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PIXBOT_CONFIG", raising=False)
    settings = load_settings()
    assert settings.bot.platform == "console"
    assert settings.bot.database_url == "sqlite:///pixbot.db"
    assert settings.schedule.reminders == ["J-7", "J-2", "J-0"]
    assert settings.schedule.event_launch == "J-15"
    assert settings.schedule.event_reminders == ["J-7", "J-1"]
    assert settings.stats.min_group == 5
    assert settings.matrix.e2ee is True


def test_file_and_environment_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "pixbot.toml"
    config.write_text(
        '[bot]\nplatform = "matrix"\nadmins = ["@a:x"]\n'
        '[matrix]\npassword = "s3cret"\n[stats]\nmin_group = 3\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("PIXBOT_STATS__MIN_GROUP", "7")
    settings = load_settings(config)
    assert settings.bot.platform == "matrix"
    assert settings.bot.admins == ["@a:x"]
    assert settings.stats.min_group == 7
    assert settings.matrix.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ('[bot]\nplatform = "irc"\n', "bot.platform"),
        ('[bot]\ntimezone = "Mars/Olympus"\n', "bot.timezone"),
        ('[schedule]\nworking_hours = "17:00-09:00"\n', "schedule.working_hours"),
        ('[schedule]\nreminders = ["J-7", "demain"]\n', "schedule.reminders"),
        ("[stats]\nmin_group = 0\n", "stats.min_group"),
        ('[schedule]\ndigest = "lundi matin"\n', "schedule.digest"),
        ("[bot]\nunknown_key = 1\n", "bot.unknown_key"),
    ],
)
def test_bad_key_is_named(tmp_path: Path, toml: str, key: str) -> None:
    config = tmp_path / "pixbot.toml"
    config.write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_settings(config)
    assert str(error.value).startswith(f"{key} ")


def test_secret_never_in_error(tmp_path: Path) -> None:
    config = tmp_path / "pixbot.toml"
    config.write_text('[matrix]\npassword = ["topsecret"]\n', encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_settings(config)
    assert "topsecret" not in str(error.value)
    assert "matrix.password" in str(error.value)


def test_missing_explicit_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="introuvable"):
        load_settings(tmp_path / "nope.toml")
