"""An operator's first day (issue #30): every command names its database, none but ``db upgrade``
and ``run`` creates one, and a database that cannot be used is one line saying what to check."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app as cli

runner = CliRunner()


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An operator in an empty folder; the deployment's configuration lives in another one."""
    here = tmp_path / "anywhere"
    here.mkdir()
    monkeypatch.chdir(here)
    for name in ("PIXBOT_CONFIG", "PIXBOT_BOT__DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    etc = tmp_path / "etc"
    etc.mkdir()
    data = tmp_path / "var"
    data.mkdir()
    (etc / "pixbot.toml").write_text(
        f'[bot]\ndatabase_url = "sqlite:///{data / "pixbot.db"}"\n', encoding="utf-8"
    )
    return tmp_path


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize(
    "args",
    [
        ["admin", "add", "@ops:example.gouv.fr"],
        ["ambassador", "add", "@a:example.gouv.fr", "--service", "DNUM"],
        ["ambassador", "list"],
        ["campaign", "list"],
        ["forget", "@a:example.gouv.fr"],
        ["purge", "--dry-run"],
        ["faq", "unanswered"],
    ],
)
def test_without_configuration_no_command_creates_a_database(
    elsewhere: Path, args: list[str]
) -> None:
    result = runner.invoke(cli, args)
    assert result.exit_code == 2, result.output
    (line,) = _lines(result.stderr)
    assert line.startswith("Base de données absente, sqlite:///")
    assert str(elsewhere / "anywhere" / "pixbot.db") in line
    assert "db upgrade" in line and "PIXBOT_CONFIG" in line and "--config" in line
    assert not (elsewhere / "anywhere" / "pixbot.db").exists()
    assert "administrateur" not in result.stdout


def test_the_configuration_names_the_database_every_command_uses(elsewhere: Path) -> None:
    config = str(elsewhere / "etc" / "pixbot.toml")
    database = elsewhere / "var" / "pixbot.db"
    refused = runner.invoke(cli, ["--config", config, "admin", "add", "@ops:x.fr"])
    assert refused.exit_code == 2 and not database.exists()
    created = runner.invoke(cli, ["--config", config, "db", "upgrade"])
    assert created.exit_code == 0, created.output
    assert oct(stat.S_IMODE(database.stat().st_mode)) == "0o600"
    added = runner.invoke(cli, ["--config", config, "admin", "add", "@ops:x.fr"])
    assert added.exit_code == 0, added.output
    assert _lines(added.stderr) == [
        f"Base de données : sqlite:///{database} (configuration {config})"
    ]
    assert added.stdout == "@ops:x.fr est administrateur.\n"
    assert not (elsewhere / "anywhere" / "pixbot.db").exists()


def test_an_empty_database_file_is_not_a_pixbot_database(elsewhere: Path) -> None:
    (elsewhere / "anywhere" / "pixbot.db").write_bytes(b"")
    result = runner.invoke(cli, ["campaign", "list"])
    assert result.exit_code == 2
    (line,) = _lines(result.stderr)
    assert line.startswith("Base de données vide") and "db upgrade" in line


def test_a_sqlite_folder_that_does_not_exist_is_not_created(
    elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = elsewhere / "no" / "such" / "dir"
    monkeypatch.setenv("PIXBOT_BOT__DATABASE_URL", f"sqlite:///{missing}/pixbot.db")
    for args in (["db", "upgrade"], ["admin", "list"], ["run"]):
        result = runner.invoke(cli, args, input="")
        assert result.exit_code == 2, result.output
        (line,) = _lines(result.stderr)
        assert f"le dossier {missing} n'existe pas" in line and "install -d" in line
        assert "PIXBOT_BOT__DATABASE_URL" in line
    assert not (elsewhere / "no").exists()


@pytest.mark.postgres
def test_postgresql_errors_say_what_to_check_without_the_password(
    elsewhere: Path, monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> None:
    from sqlalchemy.engine import make_url

    server = make_url(postgres_url)
    cases = {
        server.set(database="pixbot_absent_db", password="s3cret"): "createdb",
        server.set(username="pixbot_absent_role", password="s3cret"): "createuser",
        server.set(port=1, password="s3cret"): "aucun serveur PostgreSQL n'écoute",
    }
    for url, hint in cases.items():
        monkeypatch.setenv("PIXBOT_BOT__DATABASE_URL", url.render_as_string(hide_password=False))
        result = runner.invoke(cli, ["admin", "list"])
        assert result.exit_code == 2, result.output
        (line,) = _lines(result.stderr)
        assert line.startswith("Base de données inaccessible, postgresql")
        assert hint in line and "s3cret" not in result.output and "***" in line


@pytest.mark.postgres
def test_a_postgresql_database_without_the_schema_is_refused_then_created(
    elsewhere: Path, monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> None:
    monkeypatch.setenv("PIXBOT_BOT__DATABASE_URL", postgres_url)
    refused = runner.invoke(cli, ["admin", "add", "@ops:x.fr"])
    assert refused.exit_code == 2
    assert _lines(refused.stderr)[0].startswith("Base de données vide")
    assert runner.invoke(cli, ["db", "upgrade"]).exit_code == 0
    assert runner.invoke(cli, ["admin", "add", "@ops:x.fr"]).exit_code == 0


def test_backup_is_private_and_never_overwrites_without_force(elsewhere: Path) -> None:
    config = str(elsewhere / "etc" / "pixbot.toml")
    assert runner.invoke(cli, ["--config", config, "db", "upgrade"]).exit_code == 0
    target = elsewhere / "backup.db"
    first = runner.invoke(cli, ["--config", config, "db", "backup", str(target)])
    assert first.exit_code == 0, first.output
    assert oct(stat.S_IMODE(target.stat().st_mode)) == "0o600"
    target.write_bytes(b"an older backup")
    again = runner.invoke(cli, ["--config", config, "db", "backup", str(target)])
    assert again.exit_code == 2
    assert "--force" in again.stderr and target.read_bytes() == b"an older backup"
    forced = runner.invoke(cli, ["--config", config, "db", "backup", "--force", str(target)])
    assert forced.exit_code == 0, forced.output
    assert target.read_bytes().startswith(b"SQLite format 3")
    assert oct(stat.S_IMODE(target.stat().st_mode)) == "0o600"


def test_the_instance_lock_file_is_private(tmp_path: Path) -> None:
    from storage.db import Database
    from storage.lock import InstanceLock

    database = Database(f"sqlite:///{tmp_path / 'pixbot.db'}")
    database.upgrade()
    lock = InstanceLock(database)
    try:
        assert lock.acquire()
        assert stat.S_IMODE((tmp_path / "pixbot.db.lock").stat().st_mode) == 0o600
    finally:
        lock.release()
        database.dispose()
