"""Figures an ambassador can use on launch day (issue #24): with the daily snapshot, an
ambassador who launched this morning reads that nobody was invited yet at midnight, when the
next figures come, how the sending goes and when the next reminder leaves; the next morning, a
group too small for a number says why, in ``campagne stats``, ``campagne voir`` and the digest."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

import pytest
from typer.testing import CliRunner

from bot.cli import app as cli
from storage.models import NoteOptOutRow
from storage.uow import Store
from tests.helpers.bot import Bot, point_cli_at
from tests.helpers.campaigns import count_rows, put_person
from tests.integration.first_week import (
    AMB,
    MONDAY_MORNING,
    PARIS,
    SERVICE,
    SUNDAY_EVENING,
    first_week_bot,
)


async def test_an_ambassador_who_launched_this_morning(week_store: Store, tmp_path: Path) -> None:
    bot = first_week_bot(week_store, tmp_path, MONDAY_MORNING)  # Monday 10:00 in Paris
    await bot.say(AMB, 'campagne créer ABCDEF234 "Cybersécurité" fin 15 janvier 2027')
    await bot.say(AMB, "campagne lancer ABCDEF234")
    await bot.app.dispatcher.drain()
    assert any("vous invite" in t for t in bot.inbox(PARIS[0]))

    [stats] = await bot.say(AMB, "campagne stats ABCDEF234")
    # Not "chiffres masqués" all day: the snapshot predates the invitations, and it says so.
    assert "chiffres masqués" not in stats
    assert "personne n'était encore invité au lundi 7 décembre 2026 à 00:00" in stats
    assert "prochains chiffres demain matin, état au mardi 8 décembre 2026 à 00:00" in stats
    # What can be shown without a count of declarations: the sending and the next reminder.
    assert "invitations : envoyées le lundi 7 décembre 2026 à 10:00" in stats
    assert "prochain rappel : vendredi 8 janvier 2027 à 09:30 (J-7)" in stats

    [shown] = await bot.say(AMB, "campagne voir ABCDEF234")
    assert "personne n'était encore invité" in shown and "prochains chiffres demain matin" in shown

    assert bot.app.runner.digest() == 1
    await bot.app.dispatcher.drain()
    [digest] = [t for t in bot.inbox(AMB) if "Point hebdomadaire" in t]
    assert "personne n'était encore invité" in digest
    assert "prochains chiffres demain matin" in digest
    assert "prochain rappel : vendredi 8 janvier 2027 à 09:30 (J-7)" in digest

    # Tuesday morning: 7 invited, a group too small for any number either way, and why.
    bot.clock.current = MONDAY_MORNING + timedelta(days=1)
    [stats] = [t for t in await bot.say(AMB, "campagne stats ABCDEF234") if "Statistiques" in t]
    assert "• ensemble : 7 invités" in stats
    assert "terminés, rappels arrêtés : non communiqués (il faut au moins 10 invités" in stats
    assert "état au mardi 8 décembre 2026 à 00:00" in stats
    assert "prochains chiffres demain matin, état au mercredi 9 décembre 2026 à 00:00" in stats


async def test_the_trend_since_last_week_between_disclosed_figures(
    week_store: Store, tmp_path: Path
) -> None:
    bot = first_week_bot(week_store, tmp_path, MONDAY_MORNING)
    others = [f"@more{i}:console" for i in range(13)]  # 20 agents with the first week's 7
    with week_store.transaction() as uow:
        for pid in others:
            put_person(uow, pid, MONDAY_MORNING, service=SERVICE)
    agents = [*PARIS, *others]
    await bot.say(AMB, 'campagne créer ABCDEF234 "Cybersécurité" fin 15 janvier 2027')
    await bot.say(AMB, "campagne lancer ABCDEF234")
    await bot.app.dispatcher.drain()
    for agent in agents[:5]:
        await bot.say(agent, "fait")

    async def stats() -> str:
        replies = await bot.say(AMB, "campagne stats ABCDEF234")
        return next(t for t in replies if "Statistiques" in t)

    bot.clock.current = MONDAY_MORNING + timedelta(days=1)
    first = await stats()
    assert "5 terminés (25" in first and "depuis l'état d'il y a une semaine" not in first
    for agent in agents[5:11]:
        await bot.say(agent, "fait")
    # A week later: 11 of 20, both totals exact, so their difference tells nothing new.
    bot.clock.current = MONDAY_MORNING + timedelta(days=8)
    later = await stats()
    assert "11 terminés (55" in later
    assert "depuis l'état d'il y a une semaine : 6 parcours terminés de plus" in later


def _notes(bot: Bot) -> list[str]:
    return [t for t in bot.inbox(AMB) if t.startswith("Bonjour, les chiffres de ce matin")]


async def _morning(bot: Bot, when: datetime) -> int:
    bot.clock.current = when
    sent = bot.app.runner.morning_notes(when)
    await bot.app.dispatcher.drain()
    return sent


async def test_the_morning_note_while_a_campaign_runs(week_store: Store, tmp_path: Path) -> None:
    """Anne launches on Sunday evening; the note comes each working morning once her window
    opens, never twice a day (even after a restart), not on a public holiday, and not after
    « note du matin arrêter » until « note du matin reprendre »."""
    bot = first_week_bot(week_store, tmp_path, SUNDAY_EVENING)
    await bot.say(AMB, 'campagne créer ABCDEF234 "Cybersécurité" fin 15 janvier 2027')
    await bot.say(AMB, "campagne lancer ABCDEF234")
    await bot.app.dispatcher.drain()
    assert await _morning(bot, SUNDAY_EVENING + timedelta(minutes=30)) == 0  # Sunday night

    # Monday 09:00 in Paris: before the sending window (09:30) nothing leaves.
    monday = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    assert await _morning(bot, monday) == 0
    assert await _morning(bot, monday + timedelta(minutes=35)) == 1  # 09:35
    [note] = _notes(bot)
    assert "(état au lundi 7 décembre 2026 à 00:00)" in note
    assert "ABCDEF234 « Cybersécurité » (DREAL-BZH), clôture le" in note
    # 7 invited: a group too small for any number, and it says why.
    assert "• 7 invités · en cours, terminés, rappels arrêtés : non communiqués" in note
    assert "• invitations : envoyées le lundi 7 décembre 2026 à 09:30" in note
    assert "« note du matin arrêter »" in note
    # Once a day, even from a new bot on the same database (a crash and a restart).
    assert await _morning(bot, monday + timedelta(hours=3)) == 0
    again = first_week_bot(week_store, tmp_path, monday + timedelta(hours=4))
    assert again.app.runner.morning_notes(monday + timedelta(hours=4)) == 0
    assert len(_notes(bot)) == 1

    # Anne switches it off; Tuesday brings nothing; she switches it back on for Wednesday.
    reply = (await bot.say(AMB, "note du matin arrêter"))[-1]
    assert "vous ne recevrez plus la note du matin" in reply
    reply = (await bot.say(AMB, "note du matin"))[-1]
    assert "Vous ne recevez pas la note du matin" in reply
    # What the bot stores about Anne says so too.
    mine = (await bot.say(AMB, "mes données"))[-1]
    assert "vous avez arrêté la note du matin le lundi 7 décembre 2026 à 12:00" in mine
    assert "• note du matin (chiffres de vos campagnes) : envoi le lundi 7 décembre 2026" in mine
    assert await _morning(bot, monday + timedelta(days=1, hours=2)) == 0
    reply = (await bot.say(AMB, "note du matin reprendre"))[-1]
    assert "vous recevrez de nouveau la note du matin" in reply
    assert await _morning(bot, monday + timedelta(days=2, hours=2)) == 1

    # Friday 25 December is Christmas: no note; Monday 28 brings one.
    assert await _morning(bot, datetime(2026, 12, 25, 9, 0, tzinfo=UTC)) == 0
    assert await _morning(bot, datetime(2026, 12, 26, 9, 0, tzinfo=UTC)) == 0  # Saturday
    assert await _morning(bot, datetime(2026, 12, 28, 9, 0, tzinfo=UTC)) == 1


async def test_no_morning_note_on_launch_day_nor_when_switched_off(
    week_store: Store, tmp_path: Path
) -> None:
    bot = first_week_bot(week_store, tmp_path, MONDAY_MORNING)  # Monday 10:00
    await bot.say(AMB, 'campagne créer ABCDEF234 "Cybersécurité" fin 15 janvier 2027')
    await bot.say(AMB, "campagne lancer ABCDEF234")
    await bot.app.dispatcher.drain()
    # Launched this morning: the snapshot at midnight predates the invitations.
    assert await _morning(bot, MONDAY_MORNING + timedelta(minutes=5)) == 0
    assert await _morning(bot, MONDAY_MORNING + timedelta(hours=5)) == 0
    assert await _morning(bot, MONDAY_MORNING + timedelta(days=1)) == 1
    [note] = _notes(bot)
    assert "(état au mardi 8 décembre 2026 à 00:00)" in note

    # The deployment's setting switches it off for everyone (and the command says so).
    bot = first_week_bot(week_store, tmp_path, MONDAY_MORNING, morning_note=False)
    assert await _morning(bot, MONDAY_MORNING + timedelta(days=2)) == 0
    reply = (await bot.say(AMB, "note du matin"))[-1]
    assert "désactivée pour tout ce déploiement" in reply
    reply = (await bot.say(AMB, "note du matin n'importe quoi"))[-1]
    assert "Je ne comprends pas « n'importe » " in reply and "Rien n'a été modifié" in reply


async def test_erasure_takes_the_opt_out_with_it(week_store: Store, tmp_path: Path) -> None:
    bot = first_week_bot(week_store, tmp_path, MONDAY_MORNING)
    await bot.say(AMB, "note du matin arrêter")
    assert count_rows(bot, NoteOptOutRow) == 1
    await bot.say(AMB, "oublie-moi")
    await bot.say(AMB, "oui")
    await bot.app.dispatcher.drain()
    assert count_rows(bot, NoteOptOutRow) == 0


async def test_the_cli_shows_the_plan_as_the_chat_does(
    week_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sunday 22:03: Anne launches and asks for a relance; both wait for Monday 09:30. The
    administrator's ``pixbot campaign stats`` says so like the chat, and ``campaign show
    --json`` lists the relance."""
    bot = first_week_bot(week_store, tmp_path, SUNDAY_EVENING)
    await bot.say(AMB, 'campagne créer ABCDEF234 "Cybersécurité" fin 15 janvier 2027')
    await bot.say(AMB, "campagne lancer ABCDEF234")
    await bot.say(AMB, "campagne relancer ABCDEF234")
    chat = next(t for t in await bot.say(AMB, "campagne stats ABCDEF234") if "Statistiques" in t)
    point_cli_at(monkeypatch, tmp_path, str(week_store.database.url))
    with mock.patch("bot.cli.campaigns.now", bot.clock.now):
        stats = CliRunner().invoke(cli, ["campaign", "stats", "ABCDEF234"])
        shown = CliRunner().invoke(cli, ["campaign", "show", "ABCDEF234", "--json"])
    assert stats.exit_code == 0 and shown.exit_code == 0, stats.output + shown.output
    for line in (
        "• invitations : programmées pour le lundi 7 décembre 2026 à 09:30",
        "• prochain rappel : vendredi 8 janvier 2027 à 09:30 (J-7)",
    ):
        assert line in chat and line in stats.stdout
    steps = json.loads(shown.stdout)["steps"]
    relances = [s for s in steps if s["kind"] == "relance"]
    assert relances == [
        {
            "kind": "relance",
            "label": "",
            "day": "2026-12-07",
            "at": "2026-12-07T09:30:00+01:00",
            "status": "done",
            "pending": True,
        }
    ]
    assert [s["kind"] for s in steps][:2] == ["launch", "relance"]


async def test_the_morning_note_follows_the_ambassadors_time_zone(
    week_store: Store, tmp_path: Path
) -> None:
    """An ambassador in Cayenne gets the note when her own sending window opens (09:30 in
    Cayenne is 13:30 in Paris), once that day."""
    bot = first_week_bot(week_store, tmp_path, MONDAY_MORNING)
    with week_store.transaction() as uow:
        put_person(
            uow, AMB, MONDAY_MORNING, display_name="Anne", service=None, timezone="America/Cayenne"
        )
    await bot.say(AMB, 'campagne créer ABCDEF234 "Cybersécurité" fin 15 janvier 2027')
    await bot.say(AMB, "campagne lancer ABCDEF234")
    await bot.app.dispatcher.drain()
    tuesday = datetime(2026, 12, 8, 8, 35, tzinfo=UTC)  # 09:35 in Paris, 05:35 in Cayenne
    assert await _morning(bot, tuesday) == 0
    assert await _morning(bot, tuesday + timedelta(hours=4)) == 1  # 09:35 in Cayenne
    assert await _morning(bot, tuesday + timedelta(hours=6)) == 0
    assert len(_notes(bot)) == 1


async def test_the_morning_note_in_english(week_store: Store, tmp_path: Path) -> None:
    bot = first_week_bot(week_store, tmp_path, SUNDAY_EVENING)
    with week_store.transaction() as uow:
        put_person(uow, AMB, SUNDAY_EVENING, display_name="Anne", service=None, locale="en")
    await bot.say(AMB, 'campaign create ABCDEF234 "Cyber" until 15/01/2027')
    await bot.say(AMB, "campaign launch ABCDEF234")
    assert await _morning(bot, datetime(2026, 12, 7, 8, 35, tzinfo=UTC)) == 1
    [note] = [t for t in bot.inbox(AMB) if t.startswith("Good morning")]
    assert 'ABCDEF234 "Cyber" (DREAL-BZH), closes' in note
    assert "7 invited · in progress, completed, opted out of reminders: not disclosed" in note
    assert 'To stop this note: "morning note off".' in note
    reply = (await bot.say(AMB, "morning note off"))[-1]
    assert reply.startswith("Noted: you will no longer receive the morning note.")
