"""How the FAQ decides: which topic, and whether to answer at all. Also the result types.

The lexical scorer (``bot/faq/base.py``) dilutes over long, formal or context-first questions
("Je suis juriste et n'ai pas l'habitude de ces plateformes. Comment entre-t-on…") and abstains;
the classifier (``bot/faq/model.py``), trained on a few thousand agents' questions, does not, but
it answers some near-domain questions with confidence ("qui voit les résultats de l'enquête de
satisfaction ?"). So:

* a topic's confidence is ``LEARNED_SHARE * probability + (1 - LEARNED_SHARE) * lexical score``,
  and the most confident topic is the candidate;
* whether to answer it is one small model, and only that: the probability that the candidate is
  the right answer, a sum of small regression trees (gradient boosting) over signals of both
  matchers (:data:`SIGNALS`), fitted on *held-out* predictions (each training set's questions
  scored by a matcher that never saw that set) by ``python -m faqbuild``, which writes the trees
  to ``bot/messages/faq/decision.json`` with the threshold it chose (a wrong answer on a trust
  topic costs more than an abstention). Trees, not one weight per signal: a near-domain question
  is one whose *words* belong to another subject while its intent is a topic's ("arrêter les
  notifications de Teams"), and how much an off-topic signal should count depends on how sure
  the classifier is; the trees' output is constrained to grow with the candidate's evidence and
  to fall with the off-topic evidence (:data:`DIRECTIONS`), so no region of the signals learns
  the opposite from a few questions;
* a trust topic (results, participation, data) is answered only when that probability also
  reaches :data:`TRUST_THRESHOLD`: the threshold chosen for the weaker of top-1 and abstention may
  be lower than the cost-weighted model's even odds, and that lowering is for the other topics;
* runners-up within ``LEARNED_SEE_ALSO_RATIO`` of the best are offered as "see also" (another
  trust topic beside a trust answer within ``TRUST_SEE_ALSO_RATIO``).

The lexical matcher's own verdicts (its choice, an off-topic keyword or class outscoring the
topic, a word the topic does not explain and no anchor) are signals of that model, not vetoes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources

from bot.faq.model import OFF_TOPIC, FaqModel, is_near_domain, is_off_topic, near_domain_class
from bot.faq.tuning import (
    LEARNED_SEE_ALSO_FLOOR,
    LEARNED_SEE_ALSO_RATIO,
    LEARNED_SHARE,
    MAX_FOREIGN,
    MAX_TOKENS,
    OFF_TOPIC_PREFIX,
    TRUST_PREFIXES,
    TRUST_SEE_ALSO_RATIO,
    TRUST_THRESHOLD,
)

# Keeps the log-ratio of two probabilities finite.
EPSILON = 1e-4
# What the answer-or-abstain model weighs, in the order its trees index them.
SIGNALS = (
    "probability",  # the classifier's probability of the candidate
    "off_topic",  # … of the off-topic classes together
    "log_ratio",  # log of their ratio
    "lexical",  # the candidate's lexical score
    "lexical_off_topic",  # the best lexical off-topic class's score
    "lexical_agrees",  # the lexical matcher's own choice is the candidate
    "lexical_vetoed",  # the lexical matcher rules the question out (off-topic word or class)
    "runner_up",  # the classifier's probability of the second topic
    "foreign",  # words unknown to the knowledge base and rare in the language (up to MAX_FOREIGN)
    "unexplained",  # such a word, no anchor, and the lexical matcher disagrees
    "near_domain",  # the classifier's probability of the candidate area's off-topic class
    "trust",  # the candidate is a trust topic
    "trust_rival",  # … and the classifier's probability of the most likely other trust topic
    "near_domain_any",  # the classifier's highest probability of a near-domain class, any area
    "far_off_topic",  # … of the far off-topic class ("~": the weather, the canteen)
    "off_topic_words",  # share of the known informative words that off-topic classes own
    "unexplained_words",  # share of the known informative words the candidate does not explain
    "tokens",  # the analyser's tokens of the question (up to MAX_TOKENS)
    "named",  # … that are not weak words (up to MAX_TOKENS): "et pour ça, je fais comment ?"
)
# How the probability of answering may move with each signal: 1 grows with it, -1 falls, 0 free.
DIRECTIONS = {
    "probability": 1,
    "off_topic": -1,
    "log_ratio": 1,
    "lexical": 1,
    "lexical_off_topic": -1,
    "runner_up": -1,
    "near_domain": -1,
    "near_domain_any": -1,
    "far_off_topic": -1,
    "off_topic_words": -1,
}


def is_trust(topic: str | None) -> bool:
    """Topics whose wrong answer betrays a promise (results, participation, data): "can my boss
    read my e-mails?" must never get "only HR sees your results"."""
    return topic is not None and topic.startswith(TRUST_PREFIXES)


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


@dataclass(frozen=True, slots=True)
class Lexical:
    """The lexical matcher's view of a question: its best topic (None when it has none or rules
    the question out), whether it rules it out, and how many foreign words the question has."""

    topic: str | None
    vetoed: bool
    foreign: int


@dataclass(frozen=True, slots=True)
class Tree:
    """One regression tree of the decision: node ``i`` sends the signals left when signal
    ``feature[i]`` is at most ``threshold[i]``, right otherwise; a leaf (``feature[i]`` = -1) is
    worth ``value[i]`` (a term of the log-odds)."""

    feature: tuple[int, ...]
    threshold: tuple[float, ...]
    left: tuple[int, ...]
    right: tuple[int, ...]
    value: tuple[float, ...]

    def __call__(self, signals: tuple[float, ...]) -> float:
        node = 0
        while (index := self.feature[node]) >= 0:
            node = self.left[node] if signals[index] <= self.threshold[node] else self.right[node]
        return self.value[node]

    def to_list(self) -> list[list[float]]:
        return [
            list(self.feature),
            list(self.threshold),  # exact: a signal may sit next to a split
            list(self.left),
            list(self.right),
            [round(value, 6) for value in self.value],
        ]

    @classmethod
    def from_list(cls, data: list[list[float]]) -> Tree:
        feature, threshold, left, right, value = data
        return cls(
            tuple(int(x) for x in feature),
            tuple(float(x) for x in threshold),
            tuple(int(x) for x in left),
            tuple(int(x) for x in right),
            tuple(float(x) for x in value),
        )


@dataclass(frozen=True, slots=True)
class Calibration:
    """The answer-or-abstain model: trees over :data:`SIGNALS` summed with a bias into log-odds,
    and the threshold (a trust topic needs at least :data:`TRUST_THRESHOLD` as well, see
    :meth:`needed`)."""

    trees: tuple[Tree, ...]
    bias: float
    threshold: float
    digest: str = ""

    def needed(self, candidate: str | None) -> float:
        """The probability the candidate needs to be answered."""
        return max(self.threshold, TRUST_THRESHOLD) if is_trust(candidate) else self.threshold

    def answers(self, candidate: str | None, signals: tuple[float, ...]) -> bool:
        return self.probability(signals) >= self.needed(candidate)

    def probability(self, signals: tuple[float, ...]) -> float:
        """The calibrated probability that the candidate is the right answer."""
        if len(signals) != len(SIGNALS):
            raise ValueError(f"expected {len(SIGNALS)} FAQ decision signals, got {len(signals)}")
        logit = self.bias
        for tree in self.trees:
            feature, threshold, left, right = tree.feature, tree.threshold, tree.left, tree.right
            node = 0
            while (index := feature[node]) >= 0:
                node = left[node] if signals[index] <= threshold[node] else right[node]
            logit += tree.value[node]
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, logit))))

    def to_json(self) -> str:
        data = {
            "signals": list(SIGNALS),
            "bias": round(self.bias, 6),
            "threshold": self.threshold,
            "digest": self.digest,
            "trees": [tree.to_list() for tree in self.trees],
        }
        return json.dumps(data, separators=(",", ":")) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Calibration:
        data = json.loads(text)
        if tuple(data["signals"]) != SIGNALS:
            raise ValueError("FAQ calibration for other signals: run python -m faqbuild")
        return cls(
            trees=tuple(Tree.from_list(tree) for tree in data["trees"]),
            bias=float(data["bias"]),
            threshold=float(data["threshold"]),
            digest=str(data.get("digest", "")),
        )


def load_calibration() -> Calibration:
    """The shipped calibration (``bot/messages/faq/decision.json``)."""
    source = resources.files("bot") / "messages" / "faq" / "decision.json"
    return Calibration.from_json(source.read_text(encoding="utf-8"))


def ranked_topics(
    probabilities: Mapping[str, float], lexical_scores: Mapping[str, float]
) -> list[tuple[str, float]]:
    """Topics by confidence (classifier and lexical evidence combined), best first."""
    confidence = {
        topic: LEARNED_SHARE * probability + (1.0 - LEARNED_SHARE) * lexical_scores.get(topic, 0.0)
        for topic, probability in probabilities.items()
        if not is_off_topic(topic)
    }
    return sorted(confidence.items(), key=lambda item: item[1], reverse=True)


def decision_features(
    probabilities: Mapping[str, float],
    lexical_scores: Mapping[str, float],
    lexical: Lexical,
    ranked: list[tuple[str, float]],
    anchored: bool,
    word_shares: tuple[float, float],
    tokens: int,
    named: int,
) -> tuple[float, ...]:
    """The :data:`SIGNALS` of the best of ``ranked`` (``anchored``: the lexical anchor check of
    that topic, ``word_shares``: its off-topic and unexplained words, see
    ``bot/faq/lexical.py``; ``tokens``: how many the analyser kept, ``named``: how many of them
    are not weak words)."""
    best = ranked[0][0]
    probability = probabilities[best]
    off_topic = FaqModel.off_topic(probabilities)
    lexical_off_topic = max(
        (score for name, score in lexical_scores.items() if name.startswith(OFF_TOPIC_PREFIX)),
        default=0.0,
    )
    agrees = lexical.topic == best
    trust = is_trust(best)
    rival = max(
        (value for topic, value in probabilities.items() if topic != best and is_trust(topic)),
        default=0.0,
    )
    return (
        probability,
        off_topic,
        math.log((probability + EPSILON) / (off_topic + EPSILON)),
        lexical_scores.get(best, 0.0),
        lexical_off_topic,
        float(agrees),
        float(lexical.vetoed),
        probabilities[ranked[1][0]] if len(ranked) > 1 else 0.0,
        float(min(lexical.foreign, MAX_FOREIGN)),
        float(bool(lexical.foreign) and not agrees and not anchored),
        probabilities.get(near_domain_class(best), 0.0),
        float(trust),
        rival if trust else 0.0,
        max(
            (value for name, value in probabilities.items() if is_near_domain(name)),
            default=0.0,
        ),
        probabilities.get(OFF_TOPIC, 0.0),
        *word_shares,
        float(min(tokens, MAX_TOKENS)),
        float(min(named, MAX_TOKENS)),
    )


def learned_decision(
    ranked: list[tuple[str, float]],
    signals: tuple[float, ...],
    calibration: Calibration,
) -> Decision:
    """Answer the best of ``ranked`` when the calibrated probability reaches the threshold."""
    if not ranked:
        return Decision(None, 0.0)
    best, score = ranked[0]
    score = min(1.0, score)
    if not calibration.answers(best, signals):
        return Decision(None, score)
    see_also = [
        topic
        for topic, value in ranked[1:3]
        if value >= LEARNED_SEE_ALSO_FLOOR and value >= see_also_ratio(best, topic) * score
    ]
    return Decision(best, score, see_also)


def see_also_ratio(answer: str, runner_up: str) -> float:
    """How close to the answer's confidence ``runner_up`` must come to be offered: sooner when
    both are trust topics (close promises a question may sit between)."""
    if is_trust(answer) and is_trust(runner_up):
        return TRUST_SEE_ALSO_RATIO
    return LEARNED_SEE_ALSO_RATIO
