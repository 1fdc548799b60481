"""FAQ in the conversation: answers, honest abstention, hand-off round trip, CLI."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from bot.cli import app as cli
from bot.faq.base import FaqBase, FaqMatch
from storage.models import QuestionRow
from tests.helpers.bot import Bot
from tests.helpers.campaigns import AGENTS, AMB, put_person, setup_service

OFF_TOPIC = "Quel temps fera-t-il demain à Brest ?"


async def test_topical_question_is_answered(bot: Bot) -> None:
    setup_service(bot)
    reply = await bot.say(AGENTS[0], "est ce que mon chef va voir mon score ??")
    assert "Pix Orga" in reply[0]
    assert "Je ne sais pas" not in reply[0]


async def test_ambassador_topic_names_the_ambassadors(bot: Bot) -> None:
    setup_service(bot)
    reply = await bot.say(AGENTS[0], "c'est qui mon ambassadeur pix ?")
    assert "Ambre" in reply[0]


async def test_abstention_and_handoff_round_trip(bot: Bot) -> None:
    setup_service(bot)
    unknown = await bot.say(AGENTS[0], OFF_TOPIC)
    assert unknown[0].startswith("Je ne sais pas répondre à cette question.")
    assert "Répondez « oui » ou « non »" in unknown[0]
    with bot.store.transaction() as uow:
        stored = uow.session.scalars(select(QuestionRow)).one()
        assert stored.asker_id is None  # kept without the asker until the agent agrees
        question_id = stored.id
    told = await bot.say(AGENTS[0], "oui")
    assert "C'est transmis à Ambre" in told[0]
    to_ambassador = bot.inbox(AMB)[-1]
    assert "Agent 1" in to_ambassador and OFF_TOPIC in to_ambassador
    assert f"répondre {question_id}" in to_ambassador

    sent = await bot.say(AMB, f"répondre {question_id} Regardez la météo locale.")
    # #23: the confirmation names nobody (the same whether the asker erased themselves since).
    assert "transmise à la personne qui l'a posée" in sent[0]
    answer = bot.inbox(AGENTS[0])[-1]
    assert "Ambre" in answer and "Regardez la météo locale." in answer
    with bot.store.transaction() as uow:
        row = uow.session.get(QuestionRow, question_id)
        assert row is not None and row.asker_id is None and row.answered_at is not None
    again = await bot.say(AMB, f"répondre {question_id} encore")
    assert "déjà reçu une réponse" in again[0]


async def test_declined_handoff_and_other_commands_clear_the_offer(bot: Bot) -> None:
    setup_service(bot)
    await bot.say(AGENTS[0], OFF_TOPIC)
    assert "je ne la transmets pas" in (await bot.say(AGENTS[0], "non"))[0]
    await bot.say(AGENTS[0], OFF_TOPIC)
    await bot.say(AGENTS[0], "aide")
    # "oui" now answers nothing pending: no hand-off happens.
    await bot.say(AGENTS[0], "oui")
    assert not any("Question n°" in t for t in bot.inbox(AMB))


async def test_reply_is_scoped(bot: Bot) -> None:
    setup_service(bot)
    await bot.say(AGENTS[0], OFF_TOPIC)
    await bot.say(AGENTS[0], "oui")
    with bot.store.transaction() as uow:
        question_id = uow.session.scalars(select(QuestionRow.id)).one()
        other = uow.people.ensure("@other:console", None, bot.clock.now())
        uow.roles.add(other.id, "ambassador", "DDT-35")
    refused = await bot.say("@other:console", f"répondre {question_id} hop")
    assert "Je ne trouve pas de question" in refused[0]
    agent = await bot.say(AGENTS[1], f"répondre {question_id} hop")
    assert "réservée aux ambassadeurs" in agent[0]
    usage = await bot.say(AMB, "répondre abc")
    assert "répondre NUMÉRO" in usage[0]
    assert not any("hop" in t for t in bot.inbox(AGENTS[0]))


async def test_small_talk_is_not_a_question(bot: Bot) -> None:
    reply = await bot.say(AGENTS[0], "merci !")
    assert "Avec plaisir" in reply[0]


@pytest.mark.parametrize(
    "closing", ["c'est noté merci", "bien noté", "entendu, merci beaucoup", "noted, thanks"]
)
async def test_an_acknowledgement_after_an_answer_closes_the_exchange(
    bot: Bot, closing: str
) -> None:
    """ "c'est noté" is no question about grades, nor one to pass on to an ambassador, nor a
    follow-up that answers the last topic again."""
    setup_service(bot)
    answered = await bot.say(AGENTS[0], "c'est pour me noter ce parcours ?")
    assert "Je ne sais pas" not in answered[0]
    reply = await bot.say(AGENTS[0], closing)
    assert len(reply) == 1
    assert "Avec plaisir" in reply[0] or "You're welcome" in reply[0]
    with bot.store.transaction() as uow:
        assert uow.session.scalars(select(QuestionRow)).all() == []


async def test_a_question_with_an_acknowledgement_word_is_still_a_question(bot: Bot) -> None:
    setup_service(bot)
    reply = await bot.say(AGENTS[0], "c'est noté ce parcours ?")
    assert "Avec plaisir" not in reply[0]


async def test_room_questions_only_when_addressed(bot: Bot) -> None:
    setup_service(bot)
    assert await bot.say(AGENTS[0], "qui voit mes résultats ?", room="#equipe:console") == []
    reply = await bot.say(AGENTS[0], "!pix qui voit mes résultats ?", room="#equipe:console")
    assert "Pix Orga" in reply[0]


async def test_unanswered_questions_are_purged_after_retention(bot: Bot) -> None:
    setup_service(bot)
    await bot.say(AGENTS[0], OFF_TOPIC)
    bot.app.runner.housekeeping(bot.clock.now() + timedelta(days=89))
    with bot.store.transaction() as uow:
        assert len(uow.questions.unanswered()) == 1
    bot.app.runner.housekeeping(bot.clock.now() + timedelta(days=91))
    with bot.store.transaction() as uow:
        assert uow.questions.unanswered() == []


async def test_cli_unanswered_never_shows_the_asker(
    bot: Bot, monkeypatch: pytest.MonkeyPatch, db_url: str
) -> None:
    setup_service(bot)
    await bot.say(AGENTS[0], OFF_TOPIC)
    await bot.say(AGENTS[0], "oui")
    monkeypatch.setenv("PIXBOT_BOT__DATABASE_URL", db_url)
    result = CliRunner().invoke(cli, ["faq", "unanswered", "--json"])
    payload = json.loads(result.stdout)
    assert [(q["text"], q["service"]) for q in payload] == [(OFF_TOPIC, "DREAL-BZH")]
    assert AGENTS[0] not in result.output and "Agent 1" not in result.output


def test_cli_faq_ask(tmp_path: Path) -> None:
    one = CliRunner().invoke(cli, ["faq", "ask", "Qui voit mes résultats ?", "--json"])
    payload = json.loads(one.stdout)
    assert payload["topic"] == "resultats.qui_voit"
    assert 0 <= payload["score"] <= 1 and payload["answer"]
    piped = subprocess.run(
        [sys.executable, "-m", "bot.cli", "faq", "ask", "--json", "-"],
        input="combien de temps dure le parcours\nle menu de la cantine ?\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=True,
    )
    lines = [json.loads(line) for line in piped.stdout.splitlines()]
    assert [line["topic"] for line in lines] == ["parcours.duree", None]
    assert lines[1]["answer"] == "Je ne sais pas répondre à cette question."


async def test_my_data_shows_pending_questions(bot: Bot) -> None:
    setup_service(bot)
    await bot.say(AGENTS[0], OFF_TOPIC)
    await bot.say(AGENTS[0], "oui")
    data = (await bot.say(AGENTS[0], "mes données"))[0]
    assert f"« {OFF_TOPIC} »" in data
    assert "aucun score" in data


async def test_ministry_wording_is_overridable_per_service(
    bot: Bot, tmp_path: Path, db_url: str
) -> None:
    from bot.app import App
    from tests.helpers.bot import make_settings

    overrides = tmp_path / "faq.yaml"
    overrides.write_text(
        "answers:\n  parcours.obligatoire: Dans notre ministère, le parcours est conseillé.\n"
        "services:\n  DREAL-BZH:\n    parcours.obligatoire: À la DREAL, il est proposé à tous.\n",
        encoding="utf-8",
    )
    settings = make_settings(db_url, faq_overrides=str(overrides))
    bot.app = App(settings, bot.store, bot.platform, clock=bot.clock)
    setup_service(bot)
    with bot.store.transaction() as uow:
        put_person(uow, "@ddt:console", bot.clock.now(), service="DDT-35")
    question = "je suis obligé de faire le parcours ?"
    assert (await bot.say(AGENTS[0], question))[0] == "À la DREAL, il est proposé à tous."
    assert (await bot.say("@ddt:console", question))[0] == (
        "Dans notre ministère, le parcours est conseillé."
    )


async def test_close_topic_is_offered_and_two_questions_get_two_answers(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The conversation renders the matcher's offers (which built question gets one changes with
    every build: the offer itself is tested on fixed rankings in test_faq_matcher.py)."""
    setup_service(bot)
    question = "le parcours prend combien de temps en tout ?"
    matched = FaqBase.match

    def offering(base: FaqBase, text: str, service: str | None = None) -> FaqMatch:
        found = matched(base, text, service)
        if text != question:
            return found
        assert found.topic == "parcours.duree"
        return dataclasses.replace(found, see_also=("parcours.plusieurs_fois",))

    monkeypatch.setattr(FaqBase, "match", offering)
    close = await bot.say(AGENTS[0], question)
    assert "dizaine de minutes" in close[0]
    assert "Voir aussi : faire le parcours en plusieurs fois" in close[0]
    both = await bot.say(AGENTS[0], "combien de temps ça dure et qui voit mes résultats ?")
    assert "Pix Orga" in both[0] and "dizaine de minutes" in both[0]
