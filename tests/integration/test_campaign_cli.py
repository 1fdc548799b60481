"""CLI views of campaigns (--json, --csv, --chart) and the Pix Orga export import."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from sqlalchemy import text
from typer.testing import CliRunner

from bot.cli import app as cli
from tests.helpers.bot import Bot
from tests.helpers.campaigns import AGENTS, AMB, CREATE, put_person, setup_service

runner = CliRunner()


async def running(bot: Bot) -> None:
    setup_service(bot)
    await bot.say(AMB, CREATE)
    await bot.say(AMB, "campagne lancer ABCDEF234")
    await bot.say(AGENTS[0], "fait")
    await bot.say(AGENTS[1], "commencé")


async def test_list_show_stats_json(bot: Bot, cli_env: Path) -> None:
    await running(bot)
    listed = json.loads(runner.invoke(cli, ["campaign", "list", "--json"]).stdout)
    assert [c["code"] for c in listed] == ["ABCDEF234"]
    assert listed[0]["status"] == "running"
    assert listed[0]["url"] == "https://app.pix.fr/campagnes/ABCDEF234"
    stats = json.loads(runner.invoke(cli, ["campaign", "stats", "ABCDEF234", "--json"]).stdout)
    assert stats["total"]["invited"] == 6
    # #9: 1 of 6 is never a figure (the audience is under twice the threshold).
    assert stats["total"]["completed"] == "hidden:5"
    assert stats["total"]["started"] == "hidden:5"
    assert stats["total"]["completed_rate"] is None
    text_view = runner.invoke(cli, ["campaign", "stats", "abcdef234"]).output
    assert "6 invités" in text_view
    unknown = runner.invoke(cli, ["campaign", "show", "NOPE00000"])
    assert unknown.exit_code == 1 and "Campagne inconnue" in unknown.output


async def test_small_groups_are_hidden_everywhere(bot: Bot, cli_env: Path) -> None:
    setup_service(bot, agents=AGENTS[:3])
    await bot.say(AMB, CREATE)
    await bot.say(AMB, "campagne lancer ABCDEF234")
    await bot.say(AGENTS[0], "fait")
    chat = (await bot.say(AMB, "campagne stats ABCDEF234"))[0]
    assert "moins de 5 personnes" in chat and "1 terminés" not in chat
    payload = json.loads(runner.invoke(cli, ["campaign", "stats", "ABCDEF234", "--json"]).stdout)
    assert payload["total"] == {"group": "total", "hidden": True, "below": 5}
    result = runner.invoke(
        cli, ["campaign", "stats", "ABCDEF234", "--csv", "s.csv", "--chart", "c.png"]
    )
    assert result.exit_code == 1 and "pas de graphique" in result.output
    rows = list(csv.reader((cli_env / "s.csv").open(encoding="utf-8")))
    assert rows[1][0] == "total" and set(rows[1][1:]) == {"< 5"}
    assert not (cli_env / "c.png").exists()


async def test_secondary_suppression_across_services(bot: Bot, cli_env: Path) -> None:
    setup_service(bot, service="DREAL-BZH", agents=[f"@b{i}:console" for i in range(8)])
    others = [("DDT-35", f"@d{i}:console") for i in range(6)]
    others += [("DDTM-29", "@t0:console"), ("DDTM-29", "@t1:console")]
    with bot.store.transaction() as uow:
        for service, pid in others:
            put_person(uow, pid, bot.clock.now(), service=service)
    # #9: a list keeps only the service's agents; a campaign spans several services when
    # agents move to another service after the launch.
    everyone = [f"@b{i}:console" for i in range(8)] + [pid for _, pid in others]
    with bot.store.transaction() as uow:
        for pid in everyone:
            put_person(uow, pid, bot.clock.now())
    await bot.say(
        "@admin:console", 'campagne créer MULTIS123 "M" fin 15/12/2026 pour service DREAL-BZH'
    )
    await bot.say(AMB, f'campagne créer MIXEDS123 "M" fin 15/12/2026 pour {",".join(everyone)}')
    await bot.say(AMB, "campagne lancer MIXEDS123")
    with bot.store.transaction() as uow:
        for service, pid in others:
            put_person(uow, pid, bot.clock.now(), service=service)
    payload = json.loads(runner.invoke(cli, ["campaign", "stats", "MIXEDS123", "--json"]).stdout)
    groups = {g["group"]: g["hidden"] for g in payload["services"]}
    # DDTM-29 (2) is hidden; DDT-35 (6) is hidden too, or 16 - 8 - 6 would give it away.
    assert groups == {"DDT-35": True, "DDTM-29": True, "DREAL-BZH": False}
    assert payload["total"]["invited"] == 16


async def test_csv_and_chart(bot: Bot, cli_env: Path) -> None:
    await running(bot)
    result = runner.invoke(
        cli, ["campaign", "stats", "ABCDEF234", "--csv", "s.csv", "--chart", "c.png"]
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((cli_env / "s.csv").open(encoding="utf-8")))
    assert list(rows[0])[:2] == ["group", "invited"]  # one language: the JSON keys
    assert rows[0]["group"] == "total" and rows[0]["completed"] == "masqué"
    for written in ("s.csv", "c.png"):  # docs/privacy.md: every file pixbot writes is 0600
        assert (cli_env / written).stat().st_mode & 0o777 == 0o600
    png = (cli_env / "c.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 5000


ORGA_HEADER = (
    "Nom du Participant;Prénom du Participant;Adresse e-mail professionnelle;"
    "Date de début;Partage (O/N);Date du partage;% maîtrise de l'ensemble des acquis\n"
)


async def test_import_orga_reads_participation_only(bot: Bot, cli_env: Path) -> None:
    setup_service(bot)
    with bot.store.transaction() as uow:
        for index, pid in enumerate(AGENTS):
            put_person(
                uow,
                pid,
                bot.clock.now(),
                display_name=f"Agent {index + 1}",
                email=f"agent{index + 1}@dreal.gouv.fr",
            )
    await bot.say(AMB, CREATE)
    await bot.say(AMB, "campagne lancer ABCDEF234")
    export = cli_env / "orga.csv"
    export.write_text(
        "\ufeff"
        + ORGA_HEADER
        + "Un;Agent;agent1@dreal.gouv.fr;2026-11-24;O;2026-11-25;87,5 %\n"
        + "Deux;Agent;AGENT2@dreal.gouv.fr;2026-11-24;N;;\n"
        + "Trois;Agent;agent3@dreal.gouv.fr;;N;;\n"
        + "Inconnu;X;personne@ailleurs.fr;2026-11-24;O;2026-11-25;12 %\n",
        encoding="utf-8",
    )
    result = runner.invoke(cli, ["campaign", "import-orga", "ABCDEF234", str(export)])
    assert result.exit_code == 0, result.output
    assert "4 lignes : 1 terminé, 1 commencé, 1 sans changement, 1 sans correspondance" in (
        result.output
    )
    assert "ligne 5 : aucun agent (personne@ailleurs.fr)" in result.output
    with bot.store.transaction() as uow:
        campaign = uow.campaigns.by_code("ABCDEF234")
        assert campaign is not None
        states = {
            s.person.platform_id: s.status for s in uow.participation.states(campaign.id).values()
        }
        # No score ever reaches the database, whatever the export holds.
        dump = " ".join(
            str(row)
            for table in ("participation_events", "people", "audit_log", "deliveries")
            for row in uow.session.execute(text(f"SELECT * FROM {table}")).all()
        )
    assert states[AGENTS[0]] == "completed" and states[AGENTS[1]] == "started"
    assert states[AGENTS[2]] == "invited"
    assert "87,5" not in dump and "12 %" not in dump and "maîtrise" not in dump
    # Reminders now skip the agent marked completed.
    await bot.say(AMB, "campagne relancer ABCDEF234")
    assert not any(t.startswith("Rappel") for t in bot.inbox(AGENTS[0]))


def test_import_orga_without_participation_columns_changes_nothing(
    cli_env: Path,
) -> None:
    export = cli_env / "orga.csv"
    export.write_text("Adresse e-mail;Score\na@x.fr;50\n", encoding="utf-8")
    runner.invoke(cli, ["db", "upgrade"])
    result = runner.invoke(cli, ["campaign", "import-orga", "ABCDEF234", str(export)])
    assert result.exit_code == 1
    assert "Rien n'a été modifié" in result.output
