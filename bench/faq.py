"""Benchmark of the FAQ matcher: accuracy, abstention, confusions, load time and latency.

Usage: python bench/faq.py [--set NAME=PATH ...] [--skip-blind] [--no-loo] [--calibrate]
                           [--folds] [--locale fr] [--repeat N]

Question sets are YAML lists of ``{q: question, topic: topic_id or null}``. By default: the dev
set, ``faq_unseen``, the training sets, and the blind sets (written by someone who never saw the
knowledge base; never tune on them: ``--skip-blind`` while working). Targets: top-1 ≥ 95 % on
topical questions, abstention ≥ 95 % on off-topic ones, p95 latency < 5 ms, load < 300 ms.

The shipped matcher learns from an example corpus (``bot/faq_examples.py``: the training sets
T1–T17 and our own ``faq_train_*``/``faq_r3_*``) and a classifier trained on it
(``bot/faq_model_build.py``), so its score on those sets is no measure (they are marked "in the
corpus"). The measures of generalisation (they need the ``[faq-build]`` extra to refit):

* ``--folds``: leave one of T1–T17 out, learn from the others plus our own sets, test on it, for
  the knowledge base alone, with the corpus (lexical), and with the classifier (as shipped);
* leave-one-out over the knowledge base's phrasings (each removed, then matched), lexical with and
  without the corpus; with the classifier by tenths (each tenth removed from the knowledge base
  and from the classifier's training); 10-fold cross-validation over the corpus, with and
  without the classifier;
* ``--calibrate``: the answer-or-abstain model fitted on held-out predictions only (each fold
  judged by a model fitted on the others, per threshold), printed for ``bot/faq_tuning.py``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot import faq_examples, faq_features, faq_model_build  # noqa: E402
from bot.faq import FaqBase, load_data  # noqa: E402
from bot.faq_data import Example  # noqa: E402
from bot.faq_language import FaqLibrary  # noqa: E402

DATA = REPO / "tests" / "data"
SETS = {
    "dev": REPO.parent / "shared" / "faq" / "dev-questions.yaml",
    "unseen": DATA / "faq_unseen.yaml",
    "train": DATA / "faq_train_paraphrases.yaml",
    "heldout": DATA / "faq_train_heldout.yaml",
    "r3-train": DATA / "faq_r3_train.yaml",
    "r3-heldout": DATA / "faq_r3_heldout.yaml",
    "t1": DATA / "faq_train_r4_t1.yaml",
    "t2": DATA / "faq_train_r4_t2.yaml",
    "t3": DATA / "faq_train_r4_t3.yaml",
    "t4": DATA / "faq_train_r4_t4.yaml",
    "t5": DATA / "faq_train_r4_t5.yaml",
    "t6": DATA / "faq_train_r4_t6.yaml",
    "t7": DATA / "faq_train_r5_t7.yaml",
    "t8": DATA / "faq_train_r5_t8.yaml",
    "t9": DATA / "faq_train_r6_t9.yaml",
    "t10": DATA / "faq_train_r6_t10.yaml",
    "t11": DATA / "faq_train_r6_t11.yaml",
    "t12": DATA / "faq_train_r6_t12.yaml",
    "t13": DATA / "faq_train_r6_t13.yaml",
    "t14": DATA / "faq_train_r6_t14.yaml",
    "t15": DATA / "faq_train_r7_t15.yaml",
    "t16": DATA / "faq_train_r7_t16.yaml",
    "t17": DATA / "faq_train_r7_t17.yaml",
    # Blind sets, written from FAQ-FACTS.md only by writers who never saw the knowledge base or
    # the matcher; each was first run after a change, and none is ever tuned on.
    "blind": DATA / "faq_blind_2026-12-01.yaml",
    "blind-check": DATA / "faq_blind_check_2026-12-01.yaml",
    "blind-c": DATA / "faq_blind_2026-12-01c.yaml",
    "blind-d": DATA / "faq_blind_2026-12-01d.yaml",
    "blind-e": DATA / "faq_blind_2026-12-01e.yaml",
    "blind-f": DATA / "faq_blind_2026-12-01f.yaml",
    "blind-g": DATA / "faq_blind_2026-12-01g.yaml",
    "blind-h": DATA / "faq_blind_2026-12-01h.yaml",
    "blind-i": DATA / "faq_blind_2026-12-01i.yaml",
}
BLIND = (
    "blind",
    "blind-check",
    "blind-c",
    "blind-d",
    "blind-e",
    "blind-f",
    "blind-g",
    "blind-h",
    "blind-i",
)
FOLDS = tuple(f"t{number}" for number in range(1, 18))  # the training sets T1-T17
IN_CORPUS = frozenset(path.name for path in SETS.values()) & frozenset(faq_examples.CORPUS)


@dataclass(frozen=True, slots=True)
class Case:
    question: str
    expected: str | None


@dataclass(frozen=True, slots=True)
class Report:
    topical: int
    correct: int
    off_topic: int
    abstained: int
    confusions: list[tuple[str, str | None, str | None, float]]

    @property
    def top1(self) -> float:
        return self.correct / self.topical if self.topical else 1.0

    @property
    def abstention(self) -> float:
        return self.abstained / self.off_topic if self.off_topic else 1.0


def load_cases(path: Path) -> list[Case]:
    rows = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    return [Case(question=str(row["q"]), expected=row.get("topic")) for row in rows]


class Router:
    """Questions to the base of their language, as :class:`FaqLibrary` does, over given bases."""

    def __init__(self, bases: dict[str, FaqBase], locale: str = "fr") -> None:
        self.bases = bases
        self.library = FaqLibrary(locale)

    def match(self, question: str) -> Any:
        return self.bases[self.library.locale_of(question)].match(question)


def evaluate(base: FaqBase | FaqLibrary | Router, cases: list[Case]) -> Report:
    topical = correct = off_topic = abstained = 0
    confusions: list[tuple[str, str | None, str | None, float]] = []
    for case in cases:
        match = base.match(case.question)
        if case.expected is None:
            off_topic += 1
            abstained += match.topic is None
        else:
            topical += 1
            correct += match.topic == case.expected
        if match.topic != case.expected:
            confusions.append((case.question, case.expected, match.topic, match.score))
    return Report(topical, correct, off_topic, abstained, confusions)


def print_report(name: str, report: Report) -> None:
    print(f"\n== {name}")
    print(f"top-1 on topical questions : {report.top1:6.1%}  ({report.correct}/{report.topical})")
    if report.off_topic:
        print(
            f"abstention on off-topic    : {report.abstention:6.1%}  "
            f"({report.abstained}/{report.off_topic})"
        )
    if not report.confusions:
        return
    pairs = Counter((expected, got) for _, expected, got, _ in report.confusions)
    print("confusion table (expected -> got: count):")
    for (expected, got), count in pairs.most_common():
        print(f"  {expected or '(abstain)'} -> {got or '(abstain)'}: {count}")
    print("misses (question | expected | got | score):")
    for question, expected, got, score in report.confusions:
        print(f"  {question!r} | {expected} | {got} | {score:.2f}")


_COLD_LOAD = """
import time
start = time.perf_counter()
from bot.faq import FaqBase
imported = time.perf_counter()
FaqBase.load({locale!r})
print(imported - start, time.perf_counter() - imported)
"""


def measure_load(locale: str, repeat: int = 3) -> tuple[float, float, float]:
    """Cold load in a new process: imports, then lexicon + knowledge base + example corpus (best
    of ``repeat`` processes); and the best warm load (lexicon already in memory), in seconds."""
    imports, cold = [], []
    for _ in range(repeat):
        output = subprocess.run(
            [sys.executable, "-c", _COLD_LOAD.format(locale=locale)],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        imports.append(float(output[0]))
        cold.append(float(output[1]))
    timings = []
    FaqBase.load(locale)
    for _ in range(repeat):
        start = time.perf_counter()
        FaqBase.load(locale)
        timings.append(time.perf_counter() - start)
    return min(imports), min(cold), min(timings)


def measure_latency(questions: list[str], locale: str, repeat: int) -> tuple[float, float]:
    """p50 and p95 (seconds) of one match, over fresh bases so typo and hash caches start cold."""
    timings: list[float] = []
    for _ in range(repeat):
        faq_features.clear_caches()
        base = FaqLibrary(locale)
        for other in base.locales:
            base.base(other)  # built on first use in the bot; not part of a match
        for question in questions:
            start = time.perf_counter()
            base.match(question)
            timings.append(time.perf_counter() - start)
    timings.sort()
    p50 = statistics.median(timings)
    p95 = timings[int(0.95 * (len(timings) - 1))]
    return p50, p95


def leave_one_out(locale: str, examples: list[Example]) -> Report:
    """Each phrasing of the knowledge base removed from it, then matched (with ``examples``)."""
    data: dict[str, Any] = load_data(locale)
    total = correct = 0
    confusions: list[tuple[str, str | None, str | None, float]] = []
    for topic_id, entry in data["topics"].items():
        phrasings = list(entry["phrasings"])
        for position, phrasing in enumerate(phrasings):
            reduced = dict(entry, phrasings=phrasings[:position] + phrasings[position + 1 :])
            topics = dict(data["topics"], **{topic_id: reduced})
            base = FaqBase(dict(data, topics=topics), examples=examples)
            match = base.match(phrasing)
            total += 1
            if match.topic == topic_id:
                correct += 1
            else:
                confusions.append((phrasing, topic_id, match.topic, match.score))
    return Report(total, correct, 0, 0, confusions)


def knowledge_base_cross_validation(locale: str, parts: int = 10) -> Report:
    """The shipped matcher (corpus and classifier) on the knowledge base's phrasings, each tenth
    removed from the knowledge base *and* from the classifier's training, then matched (a
    leave-one-out by tenths: refitting the classifier per phrasing would take an hour)."""
    data: dict[str, Any] = load_data(locale)
    phrasings = [
        (topic_id, position, text)
        for topic_id, entry in data["topics"].items()
        for position, text in enumerate(entry["phrasings"])
    ]
    corpus = faq_model_build.corpus_questions(locale)
    examples = faq_examples.examples_of(locale)
    total = correct = 0
    confusions: list[tuple[str, str | None, str | None, float]] = []
    for part in range(parts):
        held = {(topic_id, position) for topic_id, position, _ in phrasings[part::parts]}
        topics = {
            topic_id: dict(
                entry,
                phrasings=[
                    text
                    for position, text in enumerate(entry["phrasings"])
                    if (topic_id, position) not in held
                ],
            )
            for topic_id, entry in data["topics"].items()
        }
        reduced = dict(data, topics=topics)
        model = faq_model_build.fit(
            FaqBase(reduced)._analyzer, faq_model_build.knowledge_base_questions(reduced) + corpus
        )
        base = FaqBase(reduced, examples=examples, model=model)
        for topic_id, _, text in phrasings[part::parts]:
            match = base.match(text)
            total += 1
            correct += match.topic == topic_id
            if match.topic != topic_id:
                confusions.append((text, topic_id, match.topic, match.score))
    return Report(total, correct, 0, 0, confusions)


def corpus_cross_validation(locale: str, parts: int = 10, learned: bool = True) -> Report:
    """The example corpus of ``locale`` cut in ``parts``: each part matched by a base learnt from
    the others, with a classifier fitted on them when ``learned`` (the leave-one-out of the
    corpus, by tenths to keep it fast)."""
    rows = [row for name in faq_examples.CORPUS for row in load_rows(DATA / name)]
    analysed = faq_examples.compile_corpus(rows)[locale]
    data = load_data(locale)
    total = correct = off_topic = abstained = 0
    confusions: list[tuple[str, str | None, str | None, float]] = []
    for part in range(parts):
        train = [row for index, row in enumerate(analysed) if index % parts != part]
        model = None
        if learned:
            questions = [(question, topic) for topic, _, question in train]
            model = faq_model_build.fit(
                FaqBase(data)._analyzer,
                faq_model_build.knowledge_base_questions(data) + questions,
            )
        base = FaqBase(data, examples=faq_examples.examples(train), model=model)
        for topic, _, question in analysed[part::parts]:
            match = base.match(question)
            if topic is None:
                off_topic += 1
                abstained += match.topic is None
            else:
                total += 1
                correct += match.topic == topic
            if match.topic != topic:
                confusions.append((question, topic, match.topic, match.score))
    return Report(total, correct, off_topic, abstained, confusions)


def load_rows(path: Path) -> list[tuple[str, str | None]]:
    return [(case.question, case.expected) for case in load_cases(path)]


_FOLD_BASES: dict[tuple[str, str], dict[str, FaqBase]] = {}


def fold_bases(test: str, mode: str = "learned") -> dict[str, FaqBase]:
    """Bases learnt without the training set ``test``: ``kb`` (knowledge base alone), ``corpus``
    (lexical, with the example corpus) or ``learned`` (the corpus and a classifier fitted on it,
    as shipped)."""
    key = (test, mode)
    if key in _FOLD_BASES:
        return _FOLD_BASES[key]
    held_out = SETS[test].name
    corpus = [name for name in faq_examples.CORPUS if name != held_out and mode != "kb"]
    rows = [row for name in corpus for row in load_rows(DATA / name)]
    compiled = faq_examples.compile_corpus(rows)
    bases = {}
    for locale in compiled:
        model = None
        if mode == "learned":
            analyzer = FaqBase(load_data(locale))._analyzer
            routed = [(question, topic) for topic, _, question in compiled[locale]]
            known = faq_model_build.knowledge_base_questions(load_data(locale))
            model = faq_model_build.fit(analyzer, known + routed)
        bases[locale] = FaqBase(
            load_data(locale), examples=faq_examples.examples(compiled[locale]), model=model
        )
    _FOLD_BASES[key] = bases
    return bases


def folds(locale: str, verbose: bool) -> None:
    """Leave one training set out: learn from the others plus our own sets, test on it."""
    print("\n== folds: learn without Tk, test on Tk (top-1 / abstention)")
    print("        knowledge base      + example corpus    + classifier (shipped)")
    totals: dict[str, list[Report]] = {mode: [] for mode in ("kb", "corpus", "learned")}
    for name in FOLDS:
        cases = load_cases(SETS[name])
        cells = []
        for mode, reports in totals.items():
            report = evaluate(Router(fold_bases(name, mode), locale), cases)
            reports.append(report)
            cells.append(f"{report.top1:6.1%} / {report.abstention:6.1%}")
        print(f"  {name}:  " + "   ".join(cells))
        if verbose:
            print_report(f"fold {name}, shipped", totals["learned"][-1])
    means = [
        f"{statistics.mean(r.top1 for r in reports):6.1%} / "
        f"{statistics.mean(r.abstention for r in reports):6.1%}"
        for reports in totals.values()
    ]
    print("  mean: " + "   ".join(means))


def calibrate(locale: str) -> None:
    """Fit the answer-or-abstain model (``bot/faq_learned.py``) on held-out predictions only: each
    training set's questions are scored by a matcher learnt without it (:func:`fold_bases`). Each
    fold is first judged by a model fitted on the other folds (the figures printed per
    threshold), then the shipped model is fitted on all of them and printed for
    ``bot/faq_tuning.py``."""
    from sklearn.linear_model import LogisticRegression

    Row = tuple[str | None, str | None, tuple[float, ...]]
    rows: dict[str, list[Row]] = {}
    for name in FOLDS:
        router = Router(fold_bases(name), locale)
        rows[name] = [
            (
                case.expected,
                *router.bases[router.library.locale_of(case.question)].decision_signals(
                    case.question
                ),
            )
            for case in load_cases(SETS[name])
        ]

    def fitted(names: list[str]) -> Any:
        train = [
            (signals, expected is not None and candidate == expected)
            for name in names
            for expected, candidate, signals in rows[name]
            if signals
        ]
        return LogisticRegression(C=1.0, max_iter=5000).fit(
            [signals for signals, _ in train], [int(right) for _, right in train]
        )

    def judged(model: Any, name: str, threshold: float) -> tuple[float, float]:
        topical = correct = off_topic = abstained = 0
        for expected, candidate, signals in rows[name]:
            answers = bool(signals) and model.predict_proba([signals])[0][1] >= threshold
            if expected is None:
                off_topic += 1
                abstained += not answers
            else:
                topical += 1
                correct += answers and candidate == expected
        return correct / topical, abstained / off_topic if off_topic else 1.0

    steps = [step / 100 for step in range(30, 61, 5)]
    held_out = {name: fitted([other for other in FOLDS if other != name]) for name in FOLDS}
    print("\n== answer-or-abstain model, each fold judged by a model fitted on the others")
    weaker: dict[float, float] = {}
    for threshold in steps:
        figures = [judged(held_out[name], name, threshold) for name in FOLDS]
        top1 = statistics.mean(figure[0] for figure in figures)
        abstention = statistics.mean(figure[1] for figure in figures)
        weaker[threshold] = min(top1, abstention)
        worst = min(min(figure) for figure in figures)
        print(f"  {threshold:.2f}: mean {top1:6.1%} / {abstention:6.1%}, worst fold {worst:6.1%}")
    # Both targets matter: the threshold whose weaker mean (top-1 or abstention) is highest.
    chosen = max(steps, key=lambda threshold: weaker[threshold])
    model = fitted(list(FOLDS))
    weights = ", ".join(f"{weight:.4f}" for weight in model.coef_[0])
    print("for bot/faq_tuning.py (fitted on all folds, threshold by the weaker mean):")
    print(f"DECISION_WEIGHTS = ({weights})")
    print(f"DECISION_BIAS = {model.intercept_[0]:.4f}")
    print(f"ANSWER_PROBABILITY = {chosen:.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--set", action="append", default=[], help="NAME=PATH, repeatable")
    parser.add_argument("--skip-blind", action="store_true", help="do not run the blind sets")
    parser.add_argument("--no-loo", action="store_true", help="skip leave-one-out")
    parser.add_argument("--calibrate", action="store_true", help="fit the answer-or-abstain model")
    parser.add_argument("--folds", action="store_true", help="leave each of T1-T17 out in turn")
    parser.add_argument("--verbose", action="store_true", help="misses of each fold")
    parser.add_argument("--locale", default="fr")
    parser.add_argument("--repeat", type=int, default=50, help="latency repetitions")
    args = parser.parse_args(argv)

    sets = dict(SETS)
    sets.update(dict(item.split("=", 1) for item in args.set))  # type: ignore[arg-type]
    if args.skip_blind:
        for name in BLIND:
            sets.pop(name, None)
    if args.folds:
        folds(args.locale, args.verbose)
    if args.calibrate:
        calibrate(args.locale)

    # Every question goes to the knowledge base of its language, as in the bot.
    base = FaqLibrary(args.locale)
    all_questions: list[str] = []
    for name, path in sets.items():
        path = Path(path)
        if not path.exists():
            print(f"\n== {name}: {path} not found, skipped")
            continue
        cases = load_cases(path)
        all_questions += [case.question for case in cases]
        note = " — in the corpus: not a measure" if path.name in IN_CORPUS else ""
        print_report(f"{name} ({path.name}){note}", evaluate(base, cases))
    if not args.no_loo:
        for locale in base.locales:
            print_report(
                f"leave-one-out over the knowledge base's phrasings ({locale}), without the corpus",
                leave_one_out(locale, []),
            )
            print_report(
                f"leave-one-out over the knowledge base's phrasings ({locale}), with the corpus",
                leave_one_out(locale, faq_examples.examples_of(locale)),
            )
            print_report(
                f"10-fold cross-validation over the knowledge base's phrasings ({locale}), "
                "shipped matcher (corpus + classifier)",
                knowledge_base_cross_validation(locale),
            )
            print_report(
                f"10-fold cross-validation over the example corpus ({locale}), lexical",
                corpus_cross_validation(locale, learned=False),
            )
            print_report(
                f"10-fold cross-validation over the example corpus ({locale}), with the classifier",
                corpus_cross_validation(locale),
            )

    for locale in base.locales:
        imports, cold, warm = measure_load(locale)
        print(
            f"\nload time ({locale})             : {cold * 1000:6.1f} ms cold in a new process "
            f"(+ {imports * 1000:.0f} ms of imports), {warm * 1000:.1f} ms warm (target < 300 ms)"
        )
    if all_questions:
        p50, p95 = measure_latency(all_questions, args.locale, args.repeat)
        print(
            f"match latency              : p50 {p50 * 1000:.3f} ms, p95 {p95 * 1000:.3f} ms "
            f"over {args.repeat} x {len(all_questions)} questions (target p95 < 5 ms)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
