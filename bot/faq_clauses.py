"""Questions in several parts: the clearest part of a long question, and the topics of a
multi-intent one ("combien de temps ça dure et qui voit mes résultats ?"), for ``bot/faq.py``.

Both work over a ``decide(clause, min_words)`` function: the base's decision on a piece of text,
None when the piece has fewer than ``min_words`` content words.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.faq_learned import Decision
from bot.faq_tuning import CONJUNCTIONS, MIN_CLAUSE_WORDS, PARTS, SENTENCES

Decide = Callable[[str, int], Decision | None]


def best_part(question: str, decide: Decide, floor: float) -> Decision | None:
    """The most confident answerable part of a question split at commas, "car", "mais"…, when
    it scores at least ``floor``."""
    parts = PARTS.split(question)
    if len(parts) < 2:
        return None
    best: Decision | None = None
    for part in parts:
        decision = decide(part, 1)
        if decision is None or decision.topic is None or decision.score < floor:
            continue
        if best is None or decision.score > best.score:
            best = decision
    return best


def clause_topics(question: str, decide: Decide, needed: float) -> list[str]:
    """Distinct topics of the question's clauses, when each is clearly (``needed``) about one
    topic and there are at least two."""
    clauses = [
        (part, MIN_CLAUSE_WORDS if len(parts) > 1 else 1)
        for sentence in SENTENCES.split(question)
        for parts in [CONJUNCTIONS.split(sentence)]
        for part in parts
    ]
    if len(clauses) < 2:
        return []
    found: list[str] = []
    for clause, min_words in clauses:
        # "… et …" splits need two words a side: "m'arrêter et reprendre" is one question.
        decision = decide(clause, min_words)
        if decision is None or decision.topic is None or decision.score < needed:
            continue
        if decision.topic not in found:
            found.append(decision.topic)
    return found if len(found) >= 2 else []
