"""Benchmark of the FAQ matcher: accuracy, abstention, confusions, load time and latency.

Usage: python bench/faq.py [--dev PATH] [--unseen PATH] [--locale fr] [--repeat N] [--loo]

Question sets are YAML lists of ``{q: question, topic: topic_id or null}``. Targets: top-1 ≥ 95 %
on topical questions, abstention ≥ 95 % on off-topic ones, p95 latency < 5 ms, load < 300 ms.
``--loo`` also runs leave-one-out over the knowledge base's own phrasings (each phrasing is
removed from the base, then matched): a generalisation estimate that needs no extra data.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.faq import FaqBase  # noqa: E402

DEFAULT_DEV = REPO.parent / "shared" / "faq" / "dev-questions.yaml"
DEFAULT_UNSEEN = REPO / "tests" / "data" / "faq_unseen.yaml"


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


def evaluate(base: FaqBase, cases: list[Case]) -> Report:
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
    print(
        f"abstention on off-topic    : {report.abstention:6.1%}  "
        f"({report.abstained}/{report.off_topic})"
    )
    if report.confusions:
        print("confusions (question | expected | got | score):")
        for question, expected, got, score in report.confusions:
            print(f"  {question!r} | {expected} | {got} | {score:.2f}")


def measure_load(locale: str, repeat: int = 5) -> float:
    timings = []
    for _ in range(repeat):
        start = time.perf_counter()
        FaqBase.load(locale)
        timings.append(time.perf_counter() - start)
    return min(timings)


def measure_latency(questions: list[str], locale: str, repeat: int) -> tuple[float, float]:
    """p50 and p95 (seconds) of one match, over fresh bases so typo caches start cold."""
    timings: list[float] = []
    for _ in range(repeat):
        base = FaqBase.load(locale)
        for question in questions:
            start = time.perf_counter()
            base.match(question)
            timings.append(time.perf_counter() - start)
    timings.sort()
    p50 = statistics.median(timings)
    p95 = timings[int(0.95 * (len(timings) - 1))]
    return p50, p95


def leave_one_out(locale: str) -> Report:
    source = resources.files("bot") / "messages" / "faq" / f"{locale}.yaml"
    data: dict[str, Any] = yaml.safe_load(source.read_text(encoding="utf-8"))
    cases: list[Case] = []
    correct = 0
    confusions: list[tuple[str, str | None, str | None, float]] = []
    for topic_id, entry in data["topics"].items():
        phrasings = list(entry["phrasings"])
        for position, phrasing in enumerate(phrasings):
            reduced = dict(entry, phrasings=phrasings[:position] + phrasings[position + 1 :])
            base = FaqBase(dict(data, topics=dict(data["topics"], **{topic_id: reduced})))
            match = base.match(phrasing)
            cases.append(Case(phrasing, topic_id))
            if match.topic == topic_id:
                correct += 1
            else:
                confusions.append((phrasing, topic_id, match.topic, match.score))
    return Report(len(cases), correct, 0, 0, confusions)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dev", type=Path, default=DEFAULT_DEV)
    parser.add_argument("--unseen", type=Path, default=DEFAULT_UNSEEN)
    parser.add_argument("--locale", default="fr")
    parser.add_argument("--repeat", type=int, default=50, help="latency repetitions")
    parser.add_argument("--loo", action="store_true", help="leave-one-out over the phrasings")
    args = parser.parse_args(argv)

    base = FaqBase.load(args.locale)
    all_questions: list[str] = []
    for name, path in (("dev", args.dev), ("unseen", args.unseen)):
        if not path.exists():
            print(f"\n== {name}: {path} not found, skipped")
            continue
        cases = load_cases(path)
        all_questions += [case.question for case in cases]
        print_report(f"{name} ({path})", evaluate(base, cases))
    if args.loo:
        print_report(
            "leave-one-out over the knowledge base's phrasings", leave_one_out(args.locale)
        )

    load_time = measure_load(args.locale)
    print(f"\nload time (best of 5)      : {load_time * 1000:6.1f} ms  (target < 300 ms)")
    if all_questions:
        p50, p95 = measure_latency(all_questions, args.locale, args.repeat)
        print(
            f"match latency              : p50 {p50 * 1000:.3f} ms, p95 {p95 * 1000:.3f} ms "
            f"over {args.repeat} x {len(all_questions)} questions (target p95 < 5 ms)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
