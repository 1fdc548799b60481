"""A conversation that never loops (issue #24), lived on the console on a Sunday evening:
``!pix`` everywhere, numbered choices, "oui" only where the bot asked, nothing that is not a
question passed on, forgetting from a room, closing asks, French that reads right."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from bot.cli import app as cli
from storage.uow import Store
from tests.integration.first_week import (
    AMB,
    CAYENNE,
    PARIS,
    SUNDAY_EVENING,
    first_week_bot,
    unanswered,
)

AGENT = PARIS[0]


async def test_an_agent_and_an_ambassador_on_a_sunday_evening(
    week_store: Store, tmp_path: Path
) -> None:
    bot = first_week_bot(week_store, tmp_path, SUNDAY_EVENING)
    # !pix and a mention are stripped in a direct conversation too: commands, not questions.
    [help_text] = await bot.say(AGENT, "!pix aide")
    assert help_text.startswith("Bonjour Agent 1 !") and "« mes données »" in help_text
    [listing] = await bot.say(AMB, "!pix campagne liste")
    assert "Pix est le service public" not in listing
    await bot.say(AGENT, "@pixbot:console mes données")
    assert any(t.startswith("Voici tout ce que je conserve") for t in bot.inbox(AGENT))

    # Two running campaigns: "fait" asks which one, with numbers; "2" answers it.
    await bot.say(AMB, 'campagne créer ABCDEF234 "Cybersécurité" fin 15/01/2027')
    await bot.say(AMB, 'campagne créer GHIJKL567 "Bureautique" fin 29/01/2027')
    await bot.say(AMB, "campagne lancer ABCDEF234")
    await bot.say(AMB, "campagne lancer GHIJKL567")
    [which] = await bot.say(AGENT, "fait")
    assert "1. ABCDEF234 « Cybersécurité »" in which
    assert "2. GHIJKL567 « Bureautique »" in which and "numéro" in which
    [done] = await bot.say(AGENT, "2")
    assert "Bureautique" in done and "terminé" in done and "GHIJKL567" in done

    # "oui" when nothing was asked: said so, never a question, never passed on.
    [odd] = await bot.say(AGENT, "oui")
    assert "je n'attendais pas de réponse" in odd.lower()
    [odd] = await bot.say(AMB, "oui")
    assert "je n'attendais pas de réponse" in odd.lower() and "ambassadeur" not in odd
    [code] = await bot.say(AGENT, "ABCDEF234")
    assert "fait ABCDEF234" in code
    [lost] = await bot.say(AGENT, "3")
    assert "je n'attendais pas de réponse" in lost.lower()
    assert unanswered(bot) == []
    assert not any("Question n°" in t for t in bot.inbox(AMB))

    # Closing asks first, like cancelling; "non" keeps the campaign open.
    [ask] = await bot.say(AMB, "campagne clore ABCDEF234")
    assert "oui" in ask and "Clore" in ask
    [kept] = await bot.say(AMB, "non")
    assert "reste ouverte" in kept
    [shown] = await bot.say(AMB, "campagne voir ABCDEF234")
    assert "en cours" in shown

    # A reminder plan that keeps nothing says so.
    [plan] = await bot.say(AMB, "campagne rappels ABCDEF234 J-200")
    assert "aucun rappel ne partira" in plan and "J-200" in plan

    # An answer from Anne reads "Réponse d'Anne".
    [unknown] = await bot.say(CAYENNE, "Le restaurant administratif ouvre à quelle heure ?")
    assert "transmette" in unknown  # the FAQ abstains: the question may go to Anne
    await bot.say(CAYENNE, "oui")
    [handoff] = [t for t in bot.inbox(AMB) if "répondre" in t]
    assert "Question n° 1 de Léa (@lea:console, DREAL-BZH)" in handoff
    number = handoff.rsplit("répondre ", 1)[1].split()[0]
    await bot.say(AMB, f"répondre {number} À 11:30.")
    assert any(t.startswith("Réponse d'Anne, ambassadeur") for t in bot.inbox(CAYENNE))


async def test_forgetting_from_a_room_is_confirmed_in_the_direct_conversation(
    week_store: Store, tmp_path: Path
) -> None:
    bot = first_week_bot(week_store, tmp_path, SUNDAY_EVENING)
    [room_reply] = await bot.say(AGENT, "!pix oublie-moi", room="#equipe:console")
    assert "message direct" in room_reply
    confirm = [t for t in bot.inbox(AGENT) if "effacer" in t or "efface" in t]
    assert confirm and "« oui »" in confirm[-1]
    [gone] = await bot.say(AGENT, "oui")
    assert "effac" in gone
    with bot.store.transaction() as uow:
        assert uow.people.by_platform_ids([AGENT]) == {}


async def test_a_newcomer_on_the_console_is_told_how_to_become_an_ambassador(
    week_store: Store, tmp_path: Path
) -> None:
    bot = first_week_bot(week_store, tmp_path, SUNDAY_EVENING)
    [greeting] = await bot.say("@vous:console", "aide")
    assert greeting.startswith("Bonjour !") and "@vous:console !" not in greeting
    assert "pixbot ambassador add @vous:console --service" in greeting
    [refused] = await bot.say("@vous:console", 'campagne créer ABCDEF234 "X" fin 15/01/2027')
    assert "réservée aux ambassadeurs" in refused
    assert "pixbot ambassador add @vous:console --service NOM" in refused


def test_one_agent_imported_reads_in_the_singular(env: str, tmp_path: Path) -> None:
    """Plurals come from the template layer (babel's French rule: 0 and 1 are singular)."""
    csv_file = tmp_path / "agents.csv"
    csv_file.write_text(
        "id,display_name,service,timezone\n@lea:console,Léa,DREAL-BZH,America/Cayenne\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["agents", "import", str(csv_file)])
    assert result.exit_code == 0, result.output
    assert "1 agent importé (1 nouveau, 0 mis à jour)." in result.output


async def test_a_question_asked_in_a_room_is_answered_in_that_room(
    week_store: Store, tmp_path: Path
) -> None:
    bot = first_week_bot(week_store, tmp_path, SUNDAY_EVENING)
    await bot.say(AMB, 'campagne créer ABCDEF234 "Cybersécurité" fin 15/01/2027')
    room = "#ambassadeurs:console"
    [ask] = await bot.say(AMB, "!pix campagne clore ABCDEF234", room=room)
    assert "Répondez « oui »" in ask
    [here] = await bot.say(AMB, "oui")  # in the direct conversation: not the question's
    assert "dans la conversation où je l'ai posée" in here
    [closed] = await bot.say(AMB, "!pix oui", room=room)
    assert "close" in closed
