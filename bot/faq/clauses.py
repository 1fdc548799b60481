"""Questions in several parts: the topics of a multi-intent one ("combien de temps ça dure et
qui voit mes résultats ?"), and what a long message asks after its context ("Je suis attaché
principal et mon entretien annuel approche. Je voudrais savoir si le résultat…"), for
``bot/faq/base.py``.

Both work over a ``decide(clause, min_words)`` function: the base's decision on a piece of text,
None when the piece has fewer than ``min_words`` content words.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from bot.faq.decision import Decision
from bot.faq.tuning import (
    ACKNOWLEDGEMENT_END,
    CONJUNCTIONS,
    ENDING_WORDS,
    ENDINGS,
    MIN_CLAUSE_WORDS,
    SENTENCES,
)

Decide = Callable[[str, int], Decision | None]


def clause_topics(
    question: str, decide: Decide, needed: float, asked_only: bool = False
) -> list[str]:
    """Distinct topics of the question's clauses, when each is clearly (``needed``) about one
    topic and there are at least two. With ``asked_only`` (the whole message abstains) and a
    question mark in the message, only its sentences ending with one count: "J'ai fait le code
    de la route en ligne. Est-ce que mon chef verra mon score ?" tells, then asks, and what it
    tells is what makes it another subject, not a second question."""
    sentences = SENTENCES.split(question)
    if asked_only and "?" in question:
        sentences = asked_sentences(question)
    clauses = [
        (part, MIN_CLAUSE_WORDS if len(parts) > 1 else 1)
        for sentence in sentences
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


def asked_sentences(question: str) -> list[str]:
    """The question's sentences (``SENTENCES``) that end with a question mark."""
    sentences = SENTENCES.split(question)
    ends = [boundary.group() for boundary in SENTENCES.finditer(question)] + [""]
    return [sentence for sentence, end in zip(sentences, ends, strict=True) if "?" in end]


def asking_sentence(question: str) -> str | None:
    """The one sentence ending with a question mark of a message of several sentences ("Bonjour,
    j'ai fini le parcours avec l'accord de mon chef. Comment poser une demi-journée de RTT ?":
    what comes before is its context); None in a message of one sentence, or of several
    questions (each may ask about another topic: ``clause_topics``)."""
    if sum(1 for sentence in SENTENCES.split(question) if sentence.strip()) < 2:
        return None
    asked = [sentence.strip() for sentence in asked_sentences(question) if sentence.strip()]
    return asked[0] if len(asked) == 1 else None


def endings(question: str) -> list[str]:
    """What follows each sentence end or colon of the question, shortest first, when it has
    at least ``ENDING_WORDS`` words: where a long message asks, after its greeting, its
    self-introduction or its worries."""
    found: list[str] = []
    for boundary in reversed(list(ENDINGS.finditer(question))):
        ending = question[boundary.end() :].strip()
        if len(ending.split()) >= ENDING_WORDS and ending not in found:
            found.append(ending)
    return found


def ending_confirms(question: str, candidate: str, decide: Decide) -> bool:
    """Whether an ending of the question (:func:`endings`), judged alone, is answered with
    ``candidate``, the whole's: the context then diluted the evidence of what the message asks,
    not changed its subject (an ending about another topic confirms nothing)."""
    for ending in endings(question):
        decision = decide(ending, 1)
        if decision is not None and decision.topic == candidate:
            return True
    return False


def without_acknowledgement(
    message: str,
    words: Callable[[str], list[str]],
    acknowledgements: Collection[str],
    fillers: Collection[str],
) -> str:
    """The message without its leading acknowledgements ("ok merci. mais c'est obligatoire ?" ->
    "c'est obligatoire ?", "Bonjour, qui voit… ?" -> "qui voit… ?"): parts (``words``: their
    normalised words) with an acknowledgement and otherwise only ``fillers`` (stop words). A
    message that is nothing else ("ok merci !") is left whole."""
    rest = message
    while (end := ACKNOWLEDGEMENT_END.search(rest)) is not None:
        head = words(rest[: end.start()])
        if head and not any(word in acknowledgements for word in head):
            break
        if not all(word in acknowledgements or word in fillers for word in head):
            break
        rest = rest[end.end() :]
    return rest if words(rest) else message
