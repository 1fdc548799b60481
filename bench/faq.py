"""Benchmark of the FAQ matcher: accuracy, abstention, trust-topic confusions, load time, latency.

Usage: python bench/faq.py [--set NAME=PATH ...] [--only] [--skip-blind] [--no-cv] [--folds]
                           [--verbose] [--locale fr] [--repeat N]

Question sets are YAML lists of ``{q: question, topic: topic_id or null}``. By default: the dev
set, ``faq_unseen``, the training sets (``faqdata/``) and the blind sets (``faqdata/dev``, written
by someone who never saw the knowledge base: never learnt, the build chooses its threshold on
them once they had their first run; ``--skip-blind`` to leave them out). ``--only --set
NAME=PATH`` scores one set and nothing else (how a new blind set, kept in ``tests/data`` until
then, is first run). Targets:
top-1 ≥ 95 % on topical questions, abstention ≥ 95 % on off-topic ones, at most 1 % of
trust-topic questions (resultats.*, participation.*, donnees.*) answered with another trust
topic, p95 latency < 5 ms, load < 300 ms.

The shipped matcher learns from the training sets, so its score on them is no measure (marked "in
the corpus"). The measures of generalisation (they refit, so they need the ``[faq-build]`` extra):

* ``--folds``: leave one training set (one writer) out, learn from the others plus our own sets,
  test on it: the knowledge base alone, + the example corpus, + the classifier refitted (as
  shipped), and the mean; the calibration of ``python -m faqbuild`` is chosen on these folds;
* 10-fold cross-validation over the knowledge base's phrasings (each tenth removed from the base
  and from the classifier's training) and over the corpus (each tenth held out), unless --no-cv.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.faq import features as faq_features  # noqa: E402
from bot.faq.base import FaqBase, load_data  # noqa: E402
from bot.faq.decision import FaqMatch, load_calibration  # noqa: E402
from bot.faq.language import FaqLibrary  # noqa: E402
from faqbuild import corpus as faq_examples  # noqa: E402
from faqbuild import model as faq_model_build  # noqa: E402
from faqbuild.calibrate import Counts, counts, fold_groups, fold_matches, folds_of, held_out_rows  # noqa: E402  # noqa: E402
from faqbuild.calibrate import fit as fit_decision  # noqa: E402
from faqbuild.corpus import NEUTRAL  # noqa: E402

DATA = REPO / "tests" / "data"  # measures: faq_unseen, and a fresh blind set until its first run
CORPUS = REPO / "faqdata"  # the training corpus
DEV = CORPUS / "dev"  # blind sets after their first run: the build chooses its threshold on them
SETS = {
    "dev": REPO.parent / "shared" / "faq" / "dev-questions.yaml",
    "unseen": DATA / "faq_unseen.yaml",
    "train": CORPUS / "faq_train_paraphrases.yaml",
    "heldout": CORPUS / "faq_train_heldout.yaml",
    "r3-train": CORPUS / "faq_r3_train.yaml",
    "r3-heldout": CORPUS / "faq_r3_heldout.yaml",
    "t1": CORPUS / "faq_train_r4_t1.yaml",
    "t2": CORPUS / "faq_train_r4_t2.yaml",
    "t3": CORPUS / "faq_train_r4_t3.yaml",
    "t4": CORPUS / "faq_train_r4_t4.yaml",
    "t5": CORPUS / "faq_train_r4_t5.yaml",
    "t6": CORPUS / "faq_train_r4_t6.yaml",
    "t7": CORPUS / "faq_train_r5_t7.yaml",
    "t8": CORPUS / "faq_train_r5_t8.yaml",
    "t9": CORPUS / "faq_train_r6_t9.yaml",
    "t10": CORPUS / "faq_train_r6_t10.yaml",
    "t11": CORPUS / "faq_train_r6_t11.yaml",
    "t12": CORPUS / "faq_train_r6_t12.yaml",
    "t13": CORPUS / "faq_train_r6_t13.yaml",
    "t14": CORPUS / "faq_train_r6_t14.yaml",
    "t15": CORPUS / "faq_train_r7_t15.yaml",
    "t16": CORPUS / "faq_train_r7_t16.yaml",
    "t17": CORPUS / "faq_train_r7_t17.yaml",
    "t18": CORPUS / "faq_train_r8_t18.yaml",
    "t19": CORPUS / "faq_train_r8_t19.yaml",
    "t20": CORPUS / "faq_train_r9_t20.yaml",
    "t21": CORPUS / "faq_train_r9_t21.yaml",
    "t22": CORPUS / "faq_train_r10_t22.yaml",
    "t23": CORPUS / "faq_train_r10_t23.yaml",
    "t24": CORPUS / "faq_train_r11_t24.yaml",
    "t25": CORPUS / "faq_train_r11_t25.yaml",
    "t26": CORPUS / "faq_train_r11_t26.yaml",
    "t27": CORPUS / "faq_contrast_r12_t27.yaml",
    "t28": CORPUS / "faq_contrast_r12_t28.yaml",
    "t29": CORPUS / "faq_contrast_r12_t29.yaml",
    "t30": CORPUS / "faq_contrast_r12_t30.yaml",
    "t31": CORPUS / "faq_train_r13_t31.yaml",
    "t32": CORPUS / "faq_contrast_r13_t32.yaml",
    "t33": CORPUS / "faq_train_r14_t33.yaml",
    "t34": CORPUS / "faq_train_r14_t34.yaml",
    "t35": CORPUS / "faq_contrast_r14_t35.yaml",
    "t36": CORPUS / "faq_contrast_r15_t36.yaml",
    "t37": CORPUS / "faq_train_r15_t37.yaml",
    "t38": CORPUS / "faq_contrast_r16_t38.yaml",
    "t39": CORPUS / "faq_contrast_r16_t39.yaml",
    "t40": CORPUS / "faq_contrast_r16_t40.yaml",
    # Blind sets, written from FAQ-FACTS.md only by writers who never saw the knowledge base or
    # the matcher; each was first run after a change (from tests/data), then became a development
    # set: never learnt, but the build chooses its threshold on them (faqbuild/calibrate.py).
    "blind": DEV / "faq_blind_2026-12-01.yaml",
    "blind-check": DEV / "faq_blind_check_2026-12-01.yaml",
    "blind-c": DEV / "faq_blind_2026-12-01c.yaml",
    "blind-d": DEV / "faq_blind_2026-12-01d.yaml",
    "blind-e": DEV / "faq_blind_2026-12-01e.yaml",
    "blind-f": DEV / "faq_blind_2026-12-01f.yaml",
    "blind-g": DEV / "faq_blind_2026-12-01g.yaml",
    "blind-h": DEV / "faq_blind_2026-12-01h.yaml",
    "blind-i": DEV / "faq_blind_2026-12-01i.yaml",
    "blind-j": DEV / "faq_blind_2026-12-06j.yaml",
    "blind-k": DEV / "faq_blind_2026-12-07k.yaml",
    "blind-l": DEV / "faq_blind_2026-12-07l.yaml",
    "blind-m": DEV / "faq_blind_2026-12-07m.yaml",
    "blind-n": DEV / "faq_blind_2026-12-07n.yaml",
    "blind-o": DEV / "faq_blind_2026-12-07o.yaml",
    "blind-p": DEV / "faq_blind_2026-12-07p.yaml",
    "blind-q": DEV / "faq_blind_2026-12-07q.yaml",
    "blind-r": DEV / "faq_blind_2026-12-07r.yaml",
    "blind-s": DEV / "faq_blind_2026-12-07s.yaml",
    "blind-t": DEV / "faq_blind_2026-12-07t.yaml",
    "blind-u": DEV / "faq_blind_2026-12-07u.yaml",
    "blind-v": DEV / "faq_blind_2026-12-08v.yaml",
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
    "blind-j",
)
IN_CORPUS = frozenset(path.name for path in SETS.values()) & frozenset(faq_examples.CORPUS)


@dataclass(frozen=True, slots=True)
class Case:
    question: str
    expected: str | None


@dataclass(frozen=True, slots=True)
class Report(Counts):
    """Counts of a set (faqbuild.calibrate), and its misses: (question, expected, got, score)."""

    confusions: list[tuple[str, str | None, str | None, float]] = field(default_factory=list)


def load_cases(path: Path) -> list[Case]:
    rows = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    return [Case(question=str(row["q"]), expected=row.get("topic")) for row in rows]


def evaluate(base: FaqBase | FaqLibrary, cases: list[Case]) -> Report:
    return report_of([(case.question, case.expected, base.match(case.question)) for case in cases])


def report_of(matches: list[tuple[str, str | None, FaqMatch]]) -> Report:
    """The report of (question, expected topic or None, the matcher's answer) triples."""
    found = counts((expected, match.topic) for _, expected, match in matches)
    confusions = [
        (question, expected, match.topic, match.score)
        for question, expected, match in matches
        if match.topic != expected
    ]
    return Report(**dataclasses.asdict(found), confusions=confusions)


def print_report(name: str, report: Report) -> None:
    print(f"\n== {name}")
    print(f"top-1 on topical questions : {report.top1:6.1%}  ({report.correct}/{report.topical})")
    if report.off_topic:
        print(
            f"abstention on off-topic    : {report.abstention:6.1%}  "
            f"({report.abstained}/{report.off_topic})"
        )
    if report.trust or report.trust_answered:
        print(
            f"trust topic -> another one : {report.trust_confusion:6.1%}  "
            f"({report.trust_confused}/{report.trust}); off-topic answered with a trust topic: "
            f"{report.trust_answered}"
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
from bot.faq.base import FaqBase
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
    matches: list[tuple[str, str | None, FaqMatch]] = []
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
            FaqBase(reduced, calibration=NEUTRAL),
            faq_model_build.knowledge_base_questions(reduced) + corpus,
        )
        base = FaqBase(reduced, examples=examples, model=model)
        matches += [
            (text, topic_id, base.match(text)) for topic_id, _, text in phrasings[part::parts]
        ]
    return report_of(matches)  # trust confusions counted too


def corpus_cross_validation(locale: str, parts: int = 10, learned: bool = True) -> Report:
    """The example corpus of ``locale`` cut in ``parts``: each part matched by a base learnt from
    the others, with a classifier fitted on them when ``learned`` (else on the knowledge base's
    phrasings only): the leave-one-out of the corpus, by tenths to keep it fast."""
    rows = [row for name in faq_examples.CORPUS for row in load_rows(CORPUS / name)]
    analysed = faq_examples.compile_corpus(rows)[locale]
    data = load_data(locale)
    matches: list[tuple[str, str | None, FaqMatch]] = []
    for part in range(parts):
        train = [row for index, row in enumerate(analysed) if index % parts != part]
        questions = [(question, topic) for topic, _, question in train]
        model = faq_model_build.fit(
            faq_examples.bare_base(locale),
            faq_model_build.knowledge_base_questions(data) + (questions if learned else []),
        )
        base = FaqBase(data, examples=faq_examples.examples(train), model=model)
        matches += [
            (question, topic, base.match(question)) for topic, _, question in analysed[part::parts]
        ]
    return report_of(matches)


def load_rows(path: Path) -> list[tuple[str, str | None]]:
    return [(case.question, case.expected) for case in load_cases(path)]


def folds(verbose: bool, shipped_calibration: bool = False) -> None:
    """Cross-validation by writer: each group of training sets (``faqbuild.calibrate.
    fold_groups``) held out in turn, the matcher learnt without it (examples and classifier
    refitted, as shipped) tests on each of its sets, judged by a decision fitted on the other
    groups' held-out questions (the shipped one has seen this group's: with ``--shipped-
    calibration``, as before round 10, an optimistic figure for a decision of many trees)."""
    print("\n== folds: learn without Tk's group, test on Tk (top-1 / abstention / trust confusion)")
    by_file = {path.name: name for name, path in SETS.items()}
    reports: list[Report] = []
    shipped = load_calibration()
    groups = fold_groups(folds_of(faq_examples.CORPUS))
    judges = [shipped] * len(groups)
    if not shipped_calibration:
        rows = held_out_rows(groups)
        for index in range(len(groups)):
            fitted = fit_decision(
                [row for other, part in enumerate(rows) if other != index for row in part]
            )
            judges[index] = dataclasses.replace(fitted, threshold=shipped.threshold)
    for group, judge in zip(groups, judges, strict=True):
        for file, matches in fold_matches(group, judge).items():
            name = by_file[file]
            report = report_of(matches)
            reports.append(report)
            print(
                f"  {name}:  {report.top1:6.1%} / {report.abstention:6.1%} / "
                f"{report.trust_confusion:5.1%}  (off-topic answered with a trust topic: "
                f"{report.trust_answered})"
            )
            if verbose:
                print_report(f"fold {name}", report)
    print(
        f"  mean: {statistics.mean(r.top1 for r in reports):6.1%} / "
        f"{statistics.mean(r.abstention for r in reports):6.1%} / "
        f"{statistics.mean(r.trust_confusion for r in reports):5.1%}"
    )
    pooled = Report(
        topical=sum(r.topical for r in reports),
        correct=sum(r.correct for r in reports),
        off_topic=sum(r.off_topic for r in reports),
        abstained=sum(r.abstained for r in reports),
        confusions=[],
        trust=sum(r.trust for r in reports),
        trust_confused=sum(r.trust_confused for r in reports),
        trust_answered=sum(r.trust_answered for r in reports),
    )
    print(
        f"  pooled: {pooled.top1:6.1%} / {pooled.abstention:6.1%} / {pooled.trust_confusion:5.1%}"
        f" ({pooled.correct}/{pooled.topical}, {pooled.abstained}/{pooled.off_topic}, "
        f"{pooled.trust_confused}/{pooled.trust}; off-topic answered with a trust topic: "
        f"{pooled.trust_answered})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--set", action="append", default=[], help="NAME=PATH, repeatable")
    parser.add_argument("--only", action="store_true", help="only the --set sets, no measure")
    parser.add_argument("--skip-blind", action="store_true", help="do not run the blind sets")
    parser.add_argument("--no-cv", action="store_true", help="skip the 10-fold cross-validations")
    parser.add_argument("--folds", action="store_true", help="hold each writer's set out")
    parser.add_argument("--verbose", action="store_true", help="misses of each fold")
    parser.add_argument(
        "--shipped-calibration", action="store_true", help="--folds judged by the shipped decision"
    )
    parser.add_argument(
        "--without", action="append", default=[], help="--folds without this corpus file"
    )
    parser.add_argument("--locale", default="fr")
    parser.add_argument("--repeat", type=int, default=50, help="latency repetitions")
    args = parser.parse_args(argv)

    given = dict(item.split("=", 1) for item in args.set)
    sets = given if args.only else {**SETS, **given}
    if args.skip_blind:
        for name in BLIND:
            sets.pop(name, None)
    if args.without:  # e.g. the CV before a round's sets joined the corpus
        faq_examples.CORPUS = tuple(n for n in faq_examples.CORPUS if n not in args.without)
    if args.folds:
        folds(args.verbose, args.shipped_calibration)

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
    if not args.no_cv and not args.only:
        for locale in base.locales:
            print_report(
                f"10-fold cross-validation over the knowledge base's phrasings ({locale}), "
                "shipped matcher (corpus + classifier)",
                knowledge_base_cross_validation(locale),
            )
            print_report(
                f"10-fold cross-validation over the example corpus ({locale}), classifier "
                "trained on the knowledge base only",
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
