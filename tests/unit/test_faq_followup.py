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
        ("d'accord mais il y a autre chose que la cybersécurité ?", "parcours.liste", True),
        ("d'accord mais il y a autre chose que ça ?", "parcours.liste", True),
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


def test_memory_keeps_the_last_topic_a_few_minutes_and_forgets_on_request() -> None:
    memory = FaqMemory()
    memory.remember(1, "parcours.liste", NOW)
    memory.remember(2, "parcours.duree", NOW)
    assert memory.recall(1, NOW + timedelta(minutes=1)) == "parcours.liste"
    assert memory.recall(1, NOW + FOLLOW_UP_WINDOW) is None
    memory.forget(2)
    assert memory.recall(2, NOW) is None
    assert memory.recall(3, NOW) is None
