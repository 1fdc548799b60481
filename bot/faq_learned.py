"""How the FAQ decides with its learned classifier: the classifier's probability, the lexical
evidence as a second opinion and a veto. Also the result types of a match.

The lexical scorer (``bot/faq.py``) dilutes over long, formal or context-first questions ("Je
suis juriste et n'ai pas l'habitude de ces plateformes. Comment entre-t-on…") and abstains; the
classifier (``bot/faq_model.py``), trained on a few thousand agents' questions, does not, but it
answers some near-domain questions with confidence ("qui voit les résultats de l'enquête de
satisfaction ?"). So, measured on the leave-one-training-set-out folds:

* a topic's confidence is ``LEARNED_SHARE * probability + (1 - LEARNED_SHARE) * lexical score``;
* the best topic is answered when its confidence reaches ``LEARNED_THRESHOLD`` (or
  ``UNCORROBORATED_THRESHOLD`` when the lexical matcher would have abstained) and the off-topic
  class is not ``OFF_TOPIC_RATIO`` times likelier;
* unless the lexical matcher chose the same topic, the topic must be *anchored* (the lexical
  check that a question naming something the topic does not explain — "l'enquête", "le concours"
  — also names Pix or a second word of the topic);
* runners-up within ``LEARNED_SEE_ALSO_RATIO`` of the best are offered as "see also".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from bot.faq_model import OFF_TOPIC
from bot.faq_tuning import (
    LEARNED_SEE_ALSO_RATIO,
    LEARNED_SHARE,
    LEARNED_THRESHOLD,
    OFF_TOPIC_RATIO,
    SURE_PROBABILITY,
    UNCORROBORATED_THRESHOLD,
)


@dataclass(frozen=True, slots=True)
class FaqMatch:
    """Result of :meth:`FaqBase.match`.

    ``score`` is the confidence (0–1) in the best topic, even when the matcher abstains (then
    ``topic`` is None and ``answer`` is the abstain text). ``also`` lists further topics the
    question asks about (multi-intent), answered too; ``see_also`` lists close topics worth
    offering ("Voir aussi : …").
    """

    topic: str | None
    score: float
    answer: str
    also: tuple[str, ...] = ()
    see_also: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Decision:
    topic: str | None
    score: float
    see_also: list[str] = field(default_factory=list)
    vetoed: bool = False  # an off-topic class or keyword ruled the question out


def learned_decision(
    probabilities: Mapping[str, float],
    lexical_scores: Mapping[str, float],
    lexical: Decision,
    anchored: Callable[[str, float], bool],
    threshold: float = LEARNED_THRESHOLD,
) -> Decision:
    """The decision from the classifier's ``probabilities`` and the lexical evidence.

    ``lexical`` is the lexical matcher's own decision; ``anchored(topic, lexical score)`` its
    anchor check (see ``FaqBase._anchored``)."""
    confidence = {
        topic: LEARNED_SHARE * probability + (1.0 - LEARNED_SHARE) * lexical_scores.get(topic, 0.0)
        for topic, probability in probabilities.items()
        if topic != OFF_TOPIC
    }
    ranked = sorted(confidence.items(), key=lambda item: item[1], reverse=True)
    if not ranked:
        return Decision(None, 0.0)
    best, score = ranked[0]
    score = min(1.0, score)
    if probabilities.get(OFF_TOPIC, 0.0) > OFF_TOPIC_RATIO * probabilities[best]:
        return Decision(None, score, vetoed=True)
    # The lexical matcher abstaining (nothing it knows explains the question) asks for more.
    needed = threshold if lexical.topic is not None else max(threshold, UNCORROBORATED_THRESHOLD)
    if score < needed:
        return Decision(None, score)
    if (
        lexical.topic != best
        and probabilities[best] < SURE_PROBABILITY
        and not anchored(best, lexical_scores.get(best, 0.0))
    ):
        return Decision(None, score, vetoed=True)
    see_also = [
        topic
        for topic, value in ranked[1:3]
        if value >= LEARNED_SEE_ALSO_RATIO * score and value >= threshold
    ]
    return Decision(best, score, see_also)
