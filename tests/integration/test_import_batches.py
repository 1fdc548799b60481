"""The imports written in short batches (#18) keep the whole-file rules of #9 and #14: a file is
matched and checked as a whole before any write (shared emails refuse it), a person listed in
two batches counts once, and a person erased at their request is not brought back."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from bot.cli import app as cli
from storage.models import AuditRow, ParticipationEventRow, PersonRow
from tests.helpers.bot import Bot
from tests.helpers.campaigns import AGENTS, launched, with_emails

runner = CliRunner()
ORGA_HEADER = "Adresse e-mail professionnelle;Date de début;Partage (O/N)\n"


@pytest.fixture
def cli_env(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # One row per transaction: every rule below crosses a batch boundary.
    monkeypatch.setenv("PIXBOT_LIMITS__IMPORT_BATCH", "1")
    monkeypatch.setenv("PIXBOT_LIMITS__IMPORT_PAUSE", "0")
    monkeypatch.setattr("bot.cli.csvio.BULK_IMPORT_BATCH", 1)
    return cli_env


def _count(bot: Bot, column: object, *where: object) -> int:
    with bot.store.transaction() as uow:
        return int(uow.session.scalar(select(func.count(column)).where(*where)) or 0)  # type: ignore[arg-type]


async def test_orga_import_in_batches_counts_a_person_once(bot: Bot, cli_env: Path) -> None:
    await launched(bot)
    with_emails(bot, {AGENTS[0]: "un@dreal.gouv.fr", AGENTS[1]: "deux@dreal.gouv.fr"})
    path = cli_env / "orga.csv"
    path.write_text(
        ORGA_HEADER + "un@dreal.gouv.fr;2026-11-24;N\n"
        "deux@dreal.gouv.fr;2026-11-24;O\n"
        "UN@dreal.gouv.fr;2026-11-24;O\n",  # the same person, in a later batch
        encoding="utf-8",
    )
    result = runner.invoke(cli, ["campaign", "import-orga", "ABCDEF234", str(path)])
    assert result.exit_code == 0, result.output
    assert "3 lignes : 2 terminés, 0 commencé" in result.stdout
    assert "1 doublon compté une fois" in result.stdout
    assert _count(bot, ParticipationEventRow.id, ParticipationEventRow.source == "orga") == 2
    assert _count(bot, AuditRow.id, AuditRow.action == "import_orga") == 1


async def test_orga_shared_email_in_a_late_batch_refuses_before_any_write(
    bot: Bot, cli_env: Path
) -> None:
    await launched(bot)
    with_emails(bot, {AGENTS[0]: "un@dreal.gouv.fr", AGENTS[1]: "pool@dreal.gouv.fr"})
    with_emails(bot, {AGENTS[2]: "POOL@dreal.gouv.fr"})
    before = _count(bot, ParticipationEventRow.id)
    path = cli_env / "orga.csv"
    path.write_text(
        ORGA_HEADER + "un@dreal.gouv.fr;2026-11-24;O\npool@dreal.gouv.fr;2026-11-24;O\n",
        encoding="utf-8",
    )
    result = runner.invoke(cli, ["campaign", "import-orga", "ABCDEF234", str(path)])
    assert result.exit_code == 1
    assert "ligne 3 : plusieurs agents ont l'adresse pool@dreal.gouv.fr" in result.stderr
    assert _count(bot, ParticipationEventRow.id) == before  # not even line 2


async def test_agents_import_in_batches_checks_emails_first_and_skips_the_erased(
    bot: Bot, cli_env: Path
) -> None:
    with_emails(bot, {"@taken:console": "taken@x.fr"})
    header = "id,display_name,service,email\n"
    clash = cli_env / "clash.csv"
    clash.write_text(
        header + "@a:console,A,DNUM,a@x.fr\n@b:console,B,DNUM,\n@c:console,C,DNUM,Taken@x.fr\n",
        encoding="utf-8",
    )
    result = runner.invoke(cli, ["agents", "import", str(clash)])
    assert result.exit_code == 1
    assert "ligne 4 : adresse Taken@x.fr déjà utilisée par un autre agent" in result.stderr
    assert _count(bot, PersonRow.id) == 1  # the first batches were not written either

    assert runner.invoke(cli, ["forget", "@taken:console"]).exit_code == 0
    again = cli_env / "again.csv"
    again.write_text(
        header + "@a:console,A,DNUM,a@x.fr\n@b:console,B,DNUM,\n@taken:console,T,DNUM,\n",
        encoding="utf-8",
    )
    result = runner.invoke(cli, ["agents", "import", str(again)])
    assert result.exit_code == 0, result.output
    assert (
        "2 agents importés (2 nouveaux, 0 mis à jour) ; 1 ignoré car effacé à sa demande"
        in result.stdout
    )
    with bot.store.transaction() as uow:
        assert uow.people.by_platform_id("@taken:console") is None
