"""Issue #9, second round: attacks through files, the command line, names and erasure.

Each test plays what a hostile or careless user would do and asserts the fix.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from bot.cli import app as cli
from bot.privacy import MAX_DISPLAY_NAME
from storage.models import ParticipationEventRow
from tests.helpers.bot import Bot
from tests.helpers.campaigns import (
    AGENTS,
    AMB,
    CREATE,
    launched,
    put_person,
    setup_service,
    with_emails,
)

runner = CliRunner()
ORGA_HEADER = (
    "Nom du Participant;Prénom du Participant;Adresse e-mail professionnelle;"
    "Date de début;Partage (O/N);Date du partage;% maîtrise de l'ensemble des acquis\n"
)
EVIL_NAME = "\u202eEve\u0007 \x1b[31mAdmin\u200b"


def _events(bot: Bot) -> int:
    with bot.store.transaction() as uow:
        return len(uow.session.scalars(select(ParticipationEventRow.id)).all())


def _import_orga(path: Path, rows: str) -> tuple[int, str, str]:
    path.write_text(ORGA_HEADER + rows, encoding="utf-8")
    result = runner.invoke(cli, ["campaign", "import-orga", "ABCDEF234", str(path)])
    return result.exit_code, result.stdout, result.stderr


# -- Pix Orga import -----------------------------------------------------------------------------


async def test_orga_duplicates_count_once_and_email_case_does_not_matter(
    bot: Bot, cli_env: Path
) -> None:
    await launched(bot)
    with_emails(bot, {AGENTS[0]: "un@dreal.gouv.fr", AGENTS[1]: "deux@dreal.gouv.fr"})
    code, out, _ = _import_orga(
        cli_env / "orga.csv",
        "Un;A;un@dreal.gouv.fr;2026-11-24;N;;\n"
        "Un;A;UN@Dreal.Gouv.Fr;2026-11-24;O;2026-11-25;90 %\n"  # the same person, shouting
        "Un;A;un@dreal.gouv.fr;2026-11-24;O;2026-11-25;90 %\n"
        "Deux;B;Deux@DREAL.gouv.fr;2026-11-24;N;;\n",
    )
    assert code == 0, out
    assert "4 lignes : 1 terminé, 1 commencé" in out and "2 doublons comptés une fois" in out
    with bot.store.transaction() as uow:
        campaign = uow.campaigns.by_code("ABCDEF234")
        assert campaign is not None
        states = uow.participation.states(campaign.id)
        done = [s for s in states.values() if s.status == "completed"]
    assert [s.person.platform_id for s in done] == [AGENTS[0]]


async def test_orga_shared_email_refuses_with_line_numbers(bot: Bot, cli_env: Path) -> None:
    await launched(bot)
    with_emails(bot, {AGENTS[0]: "pool@dreal.gouv.fr", AGENTS[1]: "POOL@dreal.gouv.fr"})
    before = _events(bot)
    code, out, err = _import_orga(
        cli_env / "orga.csv",
        "Trois;C;trois@dreal.gouv.fr;2026-11-24;O;2026-11-25;1 %\n"
        "Pool;P;pool@dreal.gouv.fr;2026-11-24;O;2026-11-25;1 %\n",
    )
    assert code == 1
    assert "ligne 3 : plusieurs agents ont l'adresse pool@dreal.gouv.fr" in err
    assert "Import annulé" in err and "Traceback" not in out + err
    assert _events(bot) == before  # nothing changed, not even the unambiguous row


async def test_orga_external_ids_with_terminal_escapes_are_printed_clean(
    bot: Bot, cli_env: Path
) -> None:
    await launched(bot)
    code, out, _ = _import_orga(
        cli_env / "orga.csv",
        "X;Y;\x1b[2J\x1b[31m\u202eevil@x.fr\x07;2026-11-24;O;2026-11-25;1 %\n",
    )
    assert code == 0
    assert "ligne 2 : aucun agent" in out
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out


# -- command-line errors -------------------------------------------------------------------------


def _one_french_line(result: object, code: int | None = None) -> str:
    exit_code = result.exit_code  # type: ignore[attr-defined]
    err = result.stderr  # type: ignore[attr-defined]
    assert exit_code != 0 and (code is None or exit_code == code)
    assert "Traceback" not in err + result.stdout  # type: ignore[attr-defined]
    assert result.exception is None or isinstance(result.exception, SystemExit)  # type: ignore[attr-defined]
    # The line naming the database in use comes first when it could be opened.
    lines = [line for line in err.splitlines() if line.strip()]
    lines = lines[1:] if lines and lines[0].startswith("Base de données : ") else lines
    assert len(lines) == 1, err
    return lines[0]


async def test_cli_unwritable_csv_and_bad_chart_names(bot: Bot, cli_env: Path) -> None:
    await launched(bot)
    locked = cli_env / "locked"
    locked.mkdir(mode=0o500)
    try:
        for target in (locked / "stats.csv", cli_env / "missing" / "stats.csv"):
            result = runner.invoke(cli, ["campaign", "stats", "ABCDEF234", "--csv", str(target)])
            if os.geteuid() == 0 and target.parent == locked:
                continue  # root writes anywhere
            assert _one_french_line(result).startswith("Impossible d'écrire")
    finally:
        locked.chmod(0o700)
    for chart in ("stats.jpg", ".png", "stats"):
        result = runner.invoke(cli, ["campaign", "stats", "ABCDEF234", "--chart", chart])
        assert _one_french_line(result, 2).startswith("Le graphique doit être un fichier .png")
        assert not (cli_env / chart).exists()


@pytest.mark.parametrize(
    "url",
    [
        "nope://what",
        "postgresql+psycopg://nobody@127.0.0.1:1/none",
        "sqlite:///{tmp}/a-file/pixbot.db",  # a parent that is a file
        "::::",
    ],
)
def test_cli_bad_database_url_is_one_french_line(
    url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PIXBOT_CONFIG", raising=False)
    (tmp_path / "a-file").write_text("not a directory", encoding="utf-8")
    monkeypatch.setenv("PIXBOT_BOT__DATABASE_URL", url.format(tmp=tmp_path))
    for args in (["campaign", "stats", "ABCDEF234"], ["db", "upgrade"], ["forget", "@x:c"]):
        line = _one_french_line(runner.invoke(cli, args), 2)
        assert line.startswith("Base de données ") or line.startswith("Configuration invalide")


# -- names ---------------------------------------------------------------------------------------


async def test_handoff_and_reply_show_the_platform_id_next_to_the_name(bot: Bot) -> None:
    setup_service(bot)
    with bot.store.transaction() as uow:
        agent = uow.people.by_platform_id(AGENTS[0])
        assert agent is not None
        # An agent who calls themself like the ambassador, to be mistaken for them.
        put_person(uow, AGENTS[0], bot.clock.now(), display_name="Ambre")
    await bot.say(AGENTS[0], "Quel temps fera-t-il demain à Brest ?")
    await bot.say(AGENTS[0], "oui")
    handed = bot.inbox(AMB)[-1]
    assert f"d'Ambre ({AGENTS[0]}, DREAL-BZH)" in handed
    number = handed.split("n° ")[1].split()[0]
    sent = (await bot.say(AMB, f"répondre {number} Aucune idée."))[0]
    # #23: the confirmation names nobody (the same whether the asker is still here).
    assert "transmise à la personne qui l'a posée" in sent and "Ambre" not in sent
    assert any("Aucune idée." in text for text in bot.inbox(AGENTS[0]))


async def test_display_names_are_cleaned_on_the_way_in_from_chat(bot: Bot) -> None:
    setup_service(bot)
    bot.platform.speaker = "@eve:console"
    incoming = replace(bot.platform.incoming("aide"), sender_name=EVIL_NAME + "x" * 500)
    await bot.app.handle(incoming)
    await bot.app.dispatcher.drain()
    with bot.store.transaction() as uow:
        eve = uow.people.by_platform_id("@eve:console")
    assert eve is not None and eve.display_name is not None
    assert eve.display_name.startswith("Eve [31mAdmin")
    assert len(eve.display_name) <= MAX_DISPLAY_NAME
    assert not any(ch in eve.display_name for ch in "\u202e\u0007\x1b\u200b")


def test_display_names_are_cleaned_on_the_way_in_from_csv(
    cli_env: Path, db_url: str, bot: Bot
) -> None:
    path = cli_env / "agents.csv"
    long_name = "N" * 300
    path.write_text(
        "id,display_name,service\n"
        f'@eve:console,"{EVIL_NAME}",DREAL-BZH\n'
        f"@long:console,{long_name},DREAL-BZH\n",
        encoding="utf-8",
    )
    result = runner.invoke(cli, ["agents", "import", str(path)])
    assert result.exit_code == 0, result.output
    with bot.store.transaction() as uow:
        eve = uow.people.by_platform_id("@eve:console")
        long = uow.people.by_platform_id("@long:console")
    assert eve is not None and eve.display_name == "Eve [31mAdmin"
    assert long is not None and long.display_name == "N" * MAX_DISPLAY_NAME


# -- erasure -------------------------------------------------------------------------------------


async def _erase(bot: Bot, who: str, room: str | None = None) -> None:
    prefix = "!pix " if room else ""
    await bot.say(who, f"{prefix}oublie-moi", room=room)
    await bot.say(who, f"{prefix}oui", room=room)


async def test_agents_import_says_how_many_rows_an_erasure_skipped(bot: Bot, cli_env: Path) -> None:
    setup_service(bot)
    with_emails(bot, {AGENTS[0]: "un@dreal.gouv.fr"})
    await _erase(bot, AGENTS[0])
    await _erase(bot, AGENTS[1])
    path = cli_env / "agents.csv"
    path.write_text(
        "id,display_name,service,email\n"
        f"{AGENTS[0]},Un,DREAL-BZH,\n"  # by id
        "@new-id:console,Un bis,DREAL-BZH,UN@dreal.gouv.fr\n"  # same person, another id
        f"{AGENTS[1]},Deux,DREAL-BZH,\n"
        "@fresh:console,Frais,DREAL-BZH,\n",
        encoding="utf-8",
    )
    result = runner.invoke(cli, ["agents", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "1 agent importé (1 nouveau, 0 mis à jour) ; 3 ignorés car effacés à leur demande" in (
        result.output
    )


async def test_forget_me_from_a_room_purges_the_console_journal(bot: Bot, tmp_path: Path) -> None:
    await launched(bot)
    target = AGENTS[0]
    bot.platform.journal.append({"type": "join", "room": "#salon:console", "member": target})
    await bot.say(target, "!pix mes données", room="#salon:console")
    journal = tmp_path / "console.jsonl"
    assert target in journal.read_text(encoding="utf-8")
    await _erase(bot, target, room="#salon:console")
    assert target not in journal.read_text(encoding="utf-8")
    assert target not in bot.platform.journal.rooms.get("#salon:console", set())


async def test_coming_back_after_erasure_lifts_the_tombstone(bot: Bot, cli_env: Path) -> None:
    setup_service(bot)
    back, gone = AGENTS[0], AGENTS[1]
    await _erase(bot, back)
    await _erase(bot, gone)
    await bot.say(back, "aide")  # of their own will
    with bot.store.transaction() as uow:
        assert not uow.privacy.is_erased(back)
        assert uow.privacy.is_erased(gone)
    path = cli_env / "agents.csv"
    path.write_text(
        f"id,display_name,service\n{back},Un,DREAL-BZH\n{gone},Deux,DREAL-BZH\n",
        encoding="utf-8",
    )
    result = runner.invoke(cli, ["agents", "import", str(path)])
    assert "1 agent importé (0 nouveau, 1 mis à jour) ; 1 ignoré car effacé à sa demande" in (
        result.output
    )
    await bot.say(AMB, CREATE)
    launch = (await bot.say(AMB, "campagne lancer ABCDEF234"))[0]
    assert "à 5 personnes" in launch  # AGENTS minus the one who stayed erased
    assert any("vous invite" in text for text in bot.inbox(back))
    assert not any("vous invite" in text for text in bot.inbox(gone))
