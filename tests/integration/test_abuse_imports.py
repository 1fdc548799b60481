"""Holds under abuse (#18): CSV files a careless or hostile admin could feed the CLI, and the
bot staying available while a big import runs (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from bot.app import App
from bot.cli import app as cli
from bot.config import ConfigError, load_settings
from bot.core import FakeClock
from storage.lock import InstanceLock
from storage.models import PersonRow
from storage.uow import Store
from tests.helpers.bot import Bot, RecordingConsole, make_settings

runner = CliRunner()
HEADER = "id,display_name,service,email,timezone\n"


def _people(url: str) -> int:
    store = Store.from_url(url)
    store.upgrade()
    try:
        with store.transaction() as uow:
            return int(uow.session.scalar(select(func.count()).select_from(PersonRow)) or 0)
    finally:
        store.close()


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("@a:console,A,DNUM,a\x00@x.fr,", "ligne 3 : adresse électronique invalide"),
        ("@a:console,A,DNUM,a\u200f@x.fr,", "ligne 3 : adresse électronique invalide"),
        ("@a\u202e:console,A,DNUM,,", "ligne 3 : identifiant invalide"),
        ("@a:console,A,DNUM,,Factory", "ligne 3 : fuseau horaire inconnu"),
        ("@a:console,A,DNUM,,localtime", "ligne 3 : fuseau horaire inconnu"),
        ("@a:console,A,DNUM,,right/Europe/Paris", "ligne 3 : fuseau horaire inconnu"),
        ('@a:console,"' + "x" * 200_000 + '",DNUM,,', "ligne 3 : cellule trop longue"),
    ],
)
def test_bad_cells_are_refused_with_their_line(
    env: str, tmp_path: Path, row: str, reason: str
) -> None:
    path = tmp_path / "agents.csv"
    path.write_text(HEADER + "@ok:console,Ok,DNUM,,\n" + row + "\n", encoding="utf-8")
    result = runner.invoke(cli, ["agents", "import", str(path)])
    assert result.exit_code == 1
    assert reason in result.output and "aucun agent n'a été importé" in result.output
    assert len(result.output) < 2000
    assert _people(env) == 0


def test_a_huge_header_gives_one_short_error(env: str, tmp_path: Path) -> None:
    path = tmp_path / "agents.csv"
    path.write_text(HEADER.strip() + ",x" * 1_000_000 + "\n@a:console,A,DNUM,,\n")
    result = runner.invoke(cli, ["agents", "import", str(path)])
    assert result.exit_code == 1
    assert "ligne 1 : en-tête trop long" in result.output and len(result.output) < 500
    wide = tmp_path / "wide.csv"
    wide.write_text(HEADER.strip() + "".join(f",c{n}" for n in range(5000)) + "\n")
    result = runner.invoke(cli, ["agents", "import", str(wide)])
    assert "colonnes inconnues" in result.output and "(et 4990 autres)" in result.output
    assert len(result.output) < 1000


def test_orga_export_with_40000_columns_and_a_huge_cell(env: str, tmp_path: Path) -> None:
    runner.invoke(cli, ["db", "upgrade"])
    store = Store.from_url(env)
    with store.transaction() as uow:
        now = FakeClock().now()
        amb = uow.people.ensure("@amb:console", "Ambre", now)
        uow.roles.add(amb.id, "ambassador", "DNUM")
        uow.campaigns.create(
            code="ABCDEF234",
            title="T",
            url="https://app.pix.fr/campagnes/ABCDEF234",
            service="DNUM",
            deadline=now.date(),
            audience_kind="service",
            audience_value="DNUM",
            now=now,
            created_by=amb.id,
        )
    store.close()
    columns = ";".join(f"Colonne {n}" for n in range(40_000))
    export = tmp_path / "orga.csv"
    export.write_text(
        f"Adresse e-mail;Date de début;Partage (O/N);{columns}\na@x.fr;2026-11-24;O\n",
        encoding="utf-8",
    )
    result = runner.invoke(cli, ["campaign", "import-orga", "ABCDEF234", str(export)])
    assert result.exit_code == 0, result.output
    assert "1 ligne :" in result.output
    export.write_text(
        'Adresse e-mail;Date de début;Partage (O/N)\na@x.fr;;O\nb@x.fr;"' + "y" * 200_000 + '";O\n',
        encoding="utf-8",
    )
    result = runner.invoke(cli, ["campaign", "import-orga", "ABCDEF234", str(export)])
    assert result.exit_code == 1
    assert (
        "ligne 3 : cellule trop longue" in result.output and "Rien n'a été modifié" in result.output
    )


@pytest.mark.parametrize("zone", ["Factory", "localtime", "right/Europe/Paris", "posix/UTC"])
def test_config_time_zone_must_be_canonical(zone: str) -> None:
    with pytest.raises(ConfigError, match=r"bot\.timezone"):
        load_settings(None, bot={"timezone": zone})


ROWS = 60_000


async def test_the_bot_answers_within_5_s_while_a_60000_row_import_runs(
    db_url: str, store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "agents.csv"
    with path.open("w", encoding="utf-8") as handle:
        handle.write(HEADER)
        for n in range(ROWS):
            handle.write(f"@agent{n}:console,Agent {n},DNUM-{n % 50},agent{n}@x.gouv.fr,\n")
    environment = {**os.environ, "PIXBOT_BOT__DATABASE_URL": db_url}
    environment.pop("PIXBOT_CONFIG", None)
    # The bot holds the instance lock, as `pixbot run` does: on SQLite the import sees it and
    # writes short batches with pauses (on PostgreSQL it writes bulk batches regardless).
    lock = InstanceLock(store.database)
    assert lock.acquire()
    importing = subprocess.Popen(  # noqa: ASYNC220 (started once; waited for off the loop)
        [sys.executable, "-m", "bot.cli", "agents", "import", str(path)],
        env=environment,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    platform = RecordingConsole(journal_path=tmp_path / "j.jsonl")
    clock = FakeClock()
    bot = Bot(App(make_settings(db_url), store, platform, clock=clock), platform, clock)
    try:
        # Wait (bounded) until the import is writing.
        for _ in range(600):
            if importing.poll() is not None or await asyncio.to_thread(_people, db_url) > 0:
                break
            await asyncio.sleep(0.2)
        answered = 0
        while importing.poll() is None and answered < 5:
            replies = await asyncio.wait_for(bot.say(f"@user{answered}:console", "aide"), 5.0)
            assert len(replies) == 1  # the help text, answered while the import writes
            answered += 1
        assert answered >= 1, "the import ended before the bot was asked anything"
        output, _ = await asyncio.to_thread(importing.communicate, timeout=900)
    finally:
        if importing.poll() is None:
            importing.kill()
            importing.wait()
        lock.release()
    assert importing.returncode == 0, output.decode()
    assert f"{ROWS} agents importés" in output.decode()
    assert await asyncio.to_thread(_people, db_url) == ROWS + answered
