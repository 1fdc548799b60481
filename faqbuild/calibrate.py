"""The answer-or-abstain model (``bot/faq/decision.py``), fitted on held-out predictions only.

Each training set of the corpus (a *fold*: one writer's questions) is scored by matchers learnt
without it (:func:`fold_bases`: corpus and classifier refitted on the other sets), so the signals
are those of questions the matcher never saw. A model of "the candidate is the right answer" is
fitted on them (gradient-boosted trees, scikit-learn's ``HistGradientBoostingClassifier``, with
the monotonic constraints of ``DIRECTIONS``; its trees are exported to plain lists for the bot),
with a wrong answer weighing ``WRONG_COST`` and ``TRUST_WRONG_COST`` when a trust topic is
involved, against an abstention on a topical question weighing one: the bot would rather say "je
ne sais pas" than tell someone asking "can my boss read my e-mails?" that "only HR sees your
results".

The threshold is chosen on the development sets (:data:`DEVELOPMENT`: blind sets after their
first run, never learnt) matched by the shipped matcher (a trust topic also needing
``TRUST_THRESHOLD``, the cost-weighted model's even odds, as in the bot): the threshold whose
weaker mean (top-1 or abstention) is highest while the share of trust-topic questions answered
with another trust topic stays under ``TRUST_CONFUSION_CAP`` (of the thresholds within
``THRESHOLD_TIE`` of it, the most cautious). The figures are those of the whole matcher as the bot
runs it (the decision on the message, then its clauses, its ending and its asking sentence).
The writers' folds are reported beside them (:func:`matcher_figures`: each fold judged by a model
fitted on the *other* folds), and chose the threshold until round 16: their topical questions,
written to teach, are harder than agents' (top-1 94 % where the blind sets give 98 %), so they
chose thresholds (0.25, 0.30) at which fresh blind sets abstained on 92–93 % of off-topic
questions only.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.faq.base import FaqBase
from bot.faq.data import load_data, load_examples
from bot.faq.decision import DIRECTIONS, SIGNALS, Calibration, FaqMatch, Tree, is_trust
from bot.faq.language import LOCALES
from bot.faq.model import load_model, training_digest
from bot.faq.tuning import (
    CALIBRATION_L2,
    CALIBRATION_LEARNING_RATE,
    CALIBRATION_LEAVES,
    CALIBRATION_MIN_LEAF,
    CALIBRATION_TREES,
    FOLD_GROUPS,
    THRESHOLD_TIE,
    THRESHOLDS,
    TRUST_CONFUSION_CAP,
    TRUST_WRONG_COST,
    WRONG_COST,
)
from faqbuild import corpus
from faqbuild import model as model_build
from faqbuild.corpus import NEUTRAL

# Blind sets after their first run (written from FAQ-FACTS.md alone, never learnt): the questions
# the goals are measured on, so the threshold is chosen on them. A fresh blind set stays in
# tests/data until its first run, then moves here.
DEVELOPMENT = corpus.DATA / "dev"


@dataclass(frozen=True, slots=True)
class Row:
    """One held-out question: the expected topic, the candidate and its signals."""

    expected: str | None
    candidate: str | None
    signals: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Counts:
    """What a matcher did on one set of questions (see :func:`counts`)."""

    topical: int
    correct: int
    off_topic: int
    abstained: int
    trust: int = 0  # trust-topic questions
    trust_confused: int = 0  # … answered with another trust topic
    trust_answered: int = 0  # off-topic questions answered with a trust topic

    @property
    def top1(self) -> float:
        return self.correct / self.topical if self.topical else 1.0

    @property
    def abstention(self) -> float:
        return self.abstained / self.off_topic if self.off_topic else 1.0

    @property
    def trust_confusion(self) -> float:
        return self.trust_confused / self.trust if self.trust else 0.0


@dataclass(frozen=True, slots=True)
class Figures:
    top1: float
    abstention: float
    trust_confusion: float  # trust-topic questions answered with another trust topic
    trust_answered: int  # off-topic questions answered with a trust topic


_FOLD_BASES: dict[tuple[tuple[str, ...], str], dict[str, FaqBase]] = {}
_ANALYSED: dict[str, dict[str, list[tuple[str | None, tuple[str, ...], str]]]] = {}


def analysed(name: str) -> dict[str, list[tuple[str | None, tuple[str, ...], str]]]:
    """A corpus file's questions routed and analysed (once: an analysis depends on the
    knowledge base only, not on the other questions)."""
    if name not in _ANALYSED:
        _ANALYSED[name] = corpus.compile_corpus(corpus.read_questions(corpus.DATA / name))
    return _ANALYSED[name]


def fold_bases(held_out: Sequence[str], mode: str = "learned") -> dict[str, FaqBase]:
    """Per locale, a base learnt without the corpus files ``held_out``: ``kb`` (knowledge base
    and classifier on its phrasings only), ``corpus`` (+ the other sets as examples, classifier
    on the knowledge base only) or ``learned`` (as shipped: examples and classifier)."""
    key = (tuple(held_out), mode)
    if key in _FOLD_BASES:
        return _FOLD_BASES[key]
    names = [name for name in corpus.CORPUS if name not in held_out and mode != "kb"]
    compiled = {
        locale: [row for name in names for row in analysed(name)[locale]] for locale in LOCALES
    }
    bases: dict[str, FaqBase] = {}
    for locale in LOCALES:
        data = load_data(locale)
        routed = [(question, topic) for topic, _, question in compiled[locale]]
        known = model_build.knowledge_base_questions(data)
        fitted = model_build.fit(
            corpus.bare_base(locale), known + (routed if mode == "learned" else [])
        )
        bases[locale] = FaqBase(
            data,
            examples=corpus.examples(compiled[locale]),
            model=fitted,
            calibration=NEUTRAL,
        )
    _FOLD_BASES[key] = bases
    return bases


def held_out_rows(groups: Sequence[Sequence[str]]) -> list[list[Row]]:
    """Each group's questions with the candidate and signals of a matcher learnt without it."""
    rows: list[list[Row]] = []
    for group in groups:
        bases = fold_bases(group)
        rows.append(
            [
                Row(topic, *bases[locale].decision_signals(question))
                for name in group
                for locale, routed in corpus.by_locale(
                    corpus.read_questions(corpus.DATA / name)
                ).items()
                for question, topic in routed
            ]
        )
    return rows


def weight(row: Row) -> float:
    """The cost of the model's mistake on ``row``: abstaining on a right candidate costs one,
    answering a wrong one ``WRONG_COST``, or ``TRUST_WRONG_COST`` with a trust topic."""
    if row.expected is not None and row.candidate == row.expected:
        return 1.0
    return TRUST_WRONG_COST if is_trust(row.candidate) or is_trust(row.expected) else WRONG_COST


def fit(rows: Sequence[Row]) -> Calibration:
    """The decision fitted on ``rows`` (threshold 0.5 until :func:`calibrate` chooses one)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    train = [row for row in rows if row.signals]
    model = HistGradientBoostingClassifier(
        max_iter=CALIBRATION_TREES,
        learning_rate=CALIBRATION_LEARNING_RATE,
        max_leaf_nodes=CALIBRATION_LEAVES,
        min_samples_leaf=CALIBRATION_MIN_LEAF,
        l2_regularization=CALIBRATION_L2,
        monotonic_cst=[DIRECTIONS.get(name, 0) for name in SIGNALS],
        early_stopping=False,
        random_state=0,
    )
    signals = [row.signals for row in train]
    model.fit(
        signals,
        [int(row.expected is not None and row.candidate == row.expected) for row in train],
        sample_weight=[weight(row) for row in train],
    )
    calibration = Calibration(
        trees=tuple(exported(predictors[0]) for predictors in model._predictors),
        bias=float(model._baseline_prediction.ravel()[0]),
        threshold=0.5,
    )
    # The exported trees must decide as scikit-learn does (private attributes of a pinned version).
    expected = model.predict_proba(signals)[:, 1]
    for row_signals, probability in zip(signals, expected, strict=True):
        if abs(calibration.probability(row_signals) - probability) > 1e-4:
            raise RuntimeError("FAQ decision trees exported wrongly: check scikit-learn's version")
    return calibration


def exported(predictor: Any) -> Tree:
    """A fitted scikit-learn tree (``TreePredictor``) as a :class:`Tree` of plain lists."""
    nodes = predictor.nodes
    leaves = [bool(leaf) for leaf in nodes["is_leaf"]]
    return Tree(
        feature=tuple(
            -1 if leaf else int(index)
            for index, leaf in zip(nodes["feature_idx"], leaves, strict=True)
        ),
        threshold=tuple(float(value) for value in nodes["num_threshold"]),
        left=tuple(int(value) for value in nodes["left"]),
        right=tuple(int(value) for value in nodes["right"]),
        value=tuple(
            float(value) if leaf else 0.0
            for value, leaf in zip(nodes["value"], leaves, strict=True)
        ),
    )


def judge(rows: Sequence[Row], answers: Callable[[Row], bool]) -> Figures:
    """Figures of held-out rows, each answered (its candidate) when ``answers`` says so."""
    return figures_of(
        (row.expected, row.candidate if row.signals and answers(row) else None) for row in rows
    )


def figures_of(answered: Iterable[tuple[str | None, str | None]]) -> Figures:
    """Figures of (expected topic, topic answered or None for an abstention) pairs."""
    found = counts(answered)
    return Figures(found.top1, found.abstention, found.trust_confusion, found.trust_answered)


def counts(answered: Iterable[tuple[str | None, str | None]]) -> Counts:
    """Counts of (expected topic or None when off-topic, topic answered or None) pairs."""
    topical = correct = off_topic = abstained = trust = confused = trust_answered = 0
    for expected, got in answered:
        if expected is None:
            off_topic += 1
            abstained += got is None
            trust_answered += is_trust(got)
            continue
        topical += 1
        correct += got == expected
        if is_trust(expected):
            trust += 1
            confused += got != expected and is_trust(got)
    return Counts(topical, correct, off_topic, abstained, trust, confused, trust_answered)


def calibrate(
    groups: Sequence[Sequence[str]], report: Callable[[str], None] = print
) -> Calibration:
    """The shipped calibration: trees fitted on every group's held-out rows; threshold chosen on
    the development sets, matched by the shipped matcher (the writers' folds, each group judged by
    trees fitted on the others, are reported beside them)."""
    rows = held_out_rows(groups)
    held_out = [
        fit([row for other, part in enumerate(rows) if other != index for row in part])
        for index in range(len(rows))
    ]
    shipped = fit([row for part in rows for row in part])
    development = development_bases(), development_questions()
    report(
        "answer-or-abstain model: the writers' folds, each group of sets judged by a model "
        "fitted on the others (the decision on the message alone | the whole matcher, mean of "
        "the sets) || the development sets, shipped matcher (mean of the sets):"
    )
    weakest: dict[float, float] = {}
    for threshold in THRESHOLDS:
        alone = mean_figures(
            [judge(part, answering(held_out[index], threshold)) for index, part in enumerate(rows)]
        )
        whole = mean_figures(
            [
                figures
                for index, group in enumerate(groups)
                for figures in matcher_figures(group, held_out[index], threshold)
            ]
        )
        dev = mean_figures(development_figures(*development, shipped, threshold))
        report(
            f"  {threshold:.2f}: top-1 {alone.top1:6.1%} | {whole.top1:6.1%} || {dev.top1:6.1%}, "
            f"abstention {alone.abstention:6.1%} | {whole.abstention:6.1%} || "
            f"{dev.abstention:6.1%}, trust confusion {alone.trust_confusion:5.1%} | "
            f"{whole.trust_confusion:5.1%} || {dev.trust_confusion:5.1%}, off-topic answered "
            f"with a trust topic {alone.trust_answered} | {whole.trust_answered} || "
            f"{dev.trust_answered}"
        )
        weakest[threshold] = min(dev.top1, dev.abstention) - (
            dev.trust_confusion > TRUST_CONFUSION_CAP
        )
    chosen = cautious_best(weakest)
    report(f"threshold {chosen:.2f}")
    return Calibration(shipped.trees, shipped.bias, chosen)


def cautious_best(weakest: dict[float, float]) -> float:
    """The highest threshold whose weaker mean is within ``THRESHOLD_TIE`` of the best."""
    best = max(weakest.values())
    return max(threshold for threshold, value in weakest.items() if value >= best - THRESHOLD_TIE)


def matcher_figures(
    group: Sequence[str], calibration: Calibration, threshold: float
) -> list[Figures]:
    """Each set of ``group`` matched by the whole matcher learnt without the group, deciding
    with ``calibration`` at ``threshold``: the figures the bot would have on that writer."""
    judged = Calibration(calibration.trees, calibration.bias, threshold)
    return [
        figures_of((expected, match.topic) for _, expected, match in matches)
        for matches in fold_matches(group, judged).values()
    ]


def fold_matches(
    group: Sequence[str], calibration: Calibration
) -> dict[str, list[tuple[str, str | None, FaqMatch]]]:
    """Per set of ``group``, its questions, their expected topics and the answers of the whole
    matcher (clauses, ending and asking sentence included) learnt without the group and deciding
    with ``calibration``: what the bot would have answered that writer."""
    bases = fold_bases(group)
    for base in bases.values():
        base.calibration = calibration
    try:
        return {
            name: [
                (question, topic, bases[locale].match(question))
                for locale, routed in analysed(name).items()
                for topic, _, question in routed
            ]
            for name in group
        }
    finally:
        for base in bases.values():  # the cached fold bases give signals, never answers
            base.calibration = NEUTRAL


def development_sets() -> list[Path]:
    """The blind sets that had their first run (:data:`DEVELOPMENT`)."""
    return sorted(DEVELOPMENT.glob("*.yaml"))


def development_bases() -> dict[str, FaqBase]:
    """Per locale, the shipped matcher without its decision: the classifiers and example corpus
    on disk (the build's earlier steps)."""
    return {
        locale: FaqBase(
            load_data(locale),
            examples=load_examples(locale),
            model=load_model(locale),
            calibration=NEUTRAL,
        )
        for locale in LOCALES
    }


def development_questions() -> list[list[tuple[str, str, str | None]]]:
    """Each development set's questions: (locale, question, expected topic or None)."""
    return [
        [
            (locale, question, topic)
            for locale, routed in corpus.by_locale(corpus.read_questions(path)).items()
            for question, topic in routed
        ]
        for path in development_sets()
    ]


def development_figures(
    bases: Mapping[str, FaqBase],
    sets: Sequence[Sequence[tuple[str, str, str | None]]],
    calibration: Calibration,
    threshold: float,
) -> list[Figures]:
    """Each development set matched by ``bases`` deciding with ``calibration`` at
    ``threshold``."""
    judged = Calibration(calibration.trees, calibration.bias, threshold)
    for base in bases.values():
        base.calibration = judged
    return [
        figures_of((topic, bases[locale].match(question).topic) for locale, question, topic in rows)
        for rows in sets
    ]


def answering(calibration: Calibration, threshold: float) -> Callable[[Row], bool]:
    """Whether ``calibration`` with ``threshold`` answers a row (a trust topic needs
    ``TRUST_THRESHOLD`` as well, as in the bot)."""
    judged = Calibration(calibration.trees, calibration.bias, threshold)
    return lambda row: judged.answers(row.candidate, row.signals)


def mean_figures(figures: Sequence[Figures]) -> Figures:
    return Figures(
        statistics.mean(f.top1 for f in figures),
        statistics.mean(f.abstention for f in figures),
        statistics.mean(f.trust_confusion for f in figures),
        sum(f.trust_answered for f in figures),
    )


def folds_of(names: Sequence[str] = corpus.CORPUS) -> list[str]:
    """The training sets written blind by one writer each, as agents would ask (not our own
    sets, nor the contrast sets of minimal pairs, learnt in every fold: see corpus.CORPUS)."""
    return [name for name in names if name.startswith("faq_train_r")]


def fold_groups(names: Sequence[str] | None = None) -> list[tuple[str, ...]]:
    """The writers' sets dealt into :data:`FOLD_GROUPS` groups (round robin, in the corpus's
    order): each group is held out in turn. Fewer refits than one per set, and each question is
    still judged by a matcher that never saw its writer."""
    sets = folds_of() if names is None else list(names)
    return [tuple(sets[start::FOLD_GROUPS]) for start in range(FOLD_GROUPS)]


def digest() -> str:
    """Digest of everything the calibration depends on: both locales' training files and the
    development sets."""
    files = [path for locale in LOCALES for path in model_build.training_files(locale)]
    return training_digest([*files, *development_sets()])
