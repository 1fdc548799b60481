"""How the FAQ decides with its learned classifier: which topic, and whether to answer at all.
Also the result types of a match.

The lexical scorer (``bot/faq.py``) dilutes over long, formal or context-first questions ("Je
suis juriste et n'ai pas l'habitude de ces plateformes. Comment entre-t-on…") and abstains; the
classifier (``bot/faq_model.py``), trained on a few thousand agents' questions, does not, but it
answers some near-domain questions with confidence ("qui voit les résultats de l'enquête de
satisfaction ?"). So:

* a topic's confidence is ``LEARNED_SHARE * probability + (1 - LEARNED_SHARE) * lexical score``,
  and the most confident topic is the candidate;
* whether to answer it is a second, small model: the probability that the candidate is the right
  answer, a logistic function of a few signals of both matchers (:func:`decision_features`) with
  weights fitted on *held-out* predictions (each training set's questions scored by a matcher
  that never saw that set: ``bench/faq.py --calibrate``) — abstaining is calibrated, not a
  stack of hand-set vetoes and thresholds;
* the candidate is answered when that probability reaches ``ANSWER_PROBABILITY``;
* runners-up within ``LEARNED_SEE_ALSO_RATIO`` of the best are offered as "see also".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from bot.faq_model import OFF_TOPIC
from bot.faq_tuning import (
    ANSWER_PROBABILITY,
    DECISION_BIAS,
    DECISION_WEIGHTS,
    LEARNED_SEE_ALSO_FLOOR,
    LEARNED_SEE_ALSO_RATIO,
    LEARNED_SHARE,
    OFF_TOPIC_PREFIX,
)

# Keeps the log-ratio of two probabilities finite.
EPSILON = 1e-4
MAX_FOREIGN = 3


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
    vetoed: bool = False  # ruled out as a whole (off-topic, or another subject)


def ranked_topics(
    probabilities: Mapping[str, float], lexical_scores: Mapping[str, float]
) -> list[tuple[str, float]]:
    """Topics by confidence (classifier and lexical evidence combined), best first."""
    confidence = {
        topic: LEARNED_SHARE * probability + (1.0 - LEARNED_SHARE) * lexical_scores.get(topic, 0.0)
        for topic, probability in probabilities.items()
        if topic != OFF_TOPIC
    }
    return sorted(confidence.items(), key=lambda item: item[1], reverse=True)


def decision_features(
    probabilities: Mapping[str, float],
    lexical_scores: Mapping[str, float],
    lexical: Decision,
    ranked: list[tuple[str, float]],
    foreign: int,
) -> tuple[float, ...]:
    """What the answer-or-abstain model weighs, for the best of ``ranked`` (in the order of
    ``DECISION_WEIGHTS``): the classifier's probability of the topic, of the off-topic class and
    their log-ratio, the topic's lexical score, the best lexical off-topic class's score, whether
    the lexical matcher chose the same topic, the runner-up's probability, and how many ``foreign``
    words (unknown to the knowledge base, rare in the language) the question has, up to
    :data:`MAX_FOREIGN`."""
    best = ranked[0][0]
    probability = probabilities[best]
    off_topic = probabilities.get(OFF_TOPIC, 0.0)
    lexical_off_topic = max(
        (score for name, score in lexical_scores.items() if name.startswith(OFF_TOPIC_PREFIX)),
        default=0.0,
    )
    return (
        probability,
        off_topic,
        math.log((probability + EPSILON) / (off_topic + EPSILON)),
        lexical_scores.get(best, 0.0),
        lexical_off_topic,
        float(lexical.topic == best),
        probabilities[ranked[1][0]] if len(ranked) > 1 else 0.0,
        float(min(foreign, MAX_FOREIGN)),
    )


def answer_probability(signals: tuple[float, ...]) -> float:
    """The calibrated probability that the candidate is the right answer."""
    logit = DECISION_BIAS + sum(w * x for w, x in zip(DECISION_WEIGHTS, signals, strict=True))
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, logit))))


def candidate(
    probabilities: Mapping[str, float],
    lexical_scores: Mapping[str, float],
    lexical: Decision,
    foreign: int,
) -> tuple[list[tuple[str, float]], tuple[float, ...]]:
    """Topics ranked by confidence and the answer-or-abstain signals of the best one (no
    signals when there is no topic): what :func:`learned_decision` decides on, and what
    ``bench/faq.py --calibrate`` fits the decision on."""
    ranked = ranked_topics(probabilities, lexical_scores)
    if not ranked:
        return ranked, ()
    return ranked, decision_features(probabilities, lexical_scores, lexical, ranked, foreign)


def learned_decision(
    probabilities: Mapping[str, float],
    lexical_scores: Mapping[str, float],
    lexical: Decision,
    foreign: int,
    anchored: Callable[[str, float], bool],
    threshold: float = ANSWER_PROBABILITY,
) -> Decision:
    """The decision from the classifier's ``probabilities`` and the lexical evidence
    (``lexical`` is the lexical matcher's own decision, ``foreign`` the number of words neither
    the knowledge base nor the language knows well, ``anchored(topic, lexical score)`` the
    lexical anchor check: see ``FaqBase._anchored``)."""
    ranked, signals = candidate(probabilities, lexical_scores, lexical, foreign)
    if not ranked:
        return Decision(None, 0.0)
    best, score = ranked[0]
    score = min(1.0, score)
    if answer_probability(signals) < threshold:
        # Ruled out as a whole: its clauses are not answered one by one either.
        return Decision(None, score, vetoed=True)
    # A question naming something no topic explains ("l'ambassadeur de *France* en *Italie*")
    # is about another subject unless the lexical matcher agrees or the topic is anchored: too
    # rare in the training sets for the model above to learn it.
    if foreign and lexical.topic != best and not anchored(best, lexical_scores.get(best, 0.0)):
        return Decision(None, score, vetoed=True)
    see_also = [
        topic
        for topic, value in ranked[1:3]
        if value >= LEARNED_SEE_ALSO_RATIO * score and value >= LEARNED_SEE_ALSO_FLOOR
    ]
    return Decision(best, score, see_also)
