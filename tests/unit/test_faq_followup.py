"""Follow-ups read with the last topic (bot/faq/followup.py) and the memory that keeps it
(bot/faq/memory.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.faq.followup import follow_up
from bot.faq.language import FaqLibrary
from bot.faq.memory import FaqMemory
from bot.faq.tuning import FOLLOW_UP_WINDOW

NOW = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def library() -> FaqLibrary:
    return FaqLibrary("fr")


@pytest.mark.parametrize(
    ("question", "context", "topic"),
    [
        ("ok et sinon il y a quoi d'autre ?", "parcours.liste", True),
        ("et pour ça, je fais comment ?", "parcours.acces", True),
        ("ok merci, et il fera beau demain ?", "parcours.duree", False),
        ("merci et sinon la cantine est ouverte ?", "parcours.liste", False),
        # Long: a message of its own, not a follow-up.
        (
            "d'accord mais il y a autre chose que ça, parce que mon collègue de bureau en a "
            "déjà fait un l'an dernier à Rennes",
            "parcours.liste",
            False,
        ),
    ],
)
def test_follow_ups_with_their_context(
    library: FaqLibrary, question: str, context: str, topic: bool
) -> None:
    base = library.for_question(question)
    assert base.match(question).topic is None  # each abstains on its own
    assert follow_up(base, question, None).topic is None
    assert follow_up(base, question, context).topic == (context if topic else None)


def test_an_acknowledgement_does_not_hide_the_question(library: FaqLibrary) -> None:
    question = "ok merci. mais c'est obligatoire du coup ?"
    base = library.for_question(question)
    assert follow_up(base, question, "parcours.duree").topic == "parcours.obligatoire"


@pytest.mark.parametrize(
    ("message", "asked"),
    [
        ("ok merci. mais c'est obligatoire du coup ?", "mais c'est obligatoire du coup ?"),
        ("d'accord mais il y a autre chose que ça ?", "il y a autre chose que ça ?"),
        ("Bonjour, qui voit mes résultats ?", " qui voit mes résultats ?"),
        ("ah bon ? et ça dure combien ?", " et ça dure combien ?"),
        ("ok thanks. but is it mandatory?", "but is it mandatory?"),
        # Nothing but an acknowledgement, or a part that says more: left whole.
        ("ok merci !", "ok merci !"),
        (
            "merci pour la réponse, et c'est obligatoire ?",
            "merci pour la réponse, et c'est obligatoire ?",
        ),
        ("c'est fait, mais qui le saura ?", "c'est fait, mais qui le saura ?"),
    ],
)
def test_leading_acknowledgements_are_no_part_of_the_question(
    library: FaqLibrary, message: str, asked: str
) -> None:
    assert library.for_question(message).asked(message) == asked


def test_an_acknowledged_question_is_answered_without_context(library: FaqLibrary) -> None:
    question = "ok merci. mais c'est obligatoire du coup ?"
    assert library.match(question).topic == "parcours.obligatoire"


def test_memory_keeps_the_last_topic_a_few_minutes_and_forgets_on_request() -> None:
    memory = FaqMemory()
    memory.remember(1, "parcours.liste", NOW)
    memory.remember(2, "parcours.duree", NOW)
    assert memory.recall(1, NOW + timedelta(minutes=1)) == "parcours.liste"
    assert memory.recall(1, NOW + FOLLOW_UP_WINDOW) is None
    memory.forget(2)
    assert memory.recall(2, NOW) is None
    assert memory.recall(3, NOW) is None
