"""The FAQ's example corpus: questions written by agents' stand-ins, learned as more phrasings.

The knowledge base's phrasings were written by the people who wrote the answers, so the matcher
knew our words and missed the agents' ("c afiché quelque part ?", "obligé de creer un compte ?").
Question sets written blind from ``FAQ-FACTS.md`` by other writers (``faqdata/``, listed in
:data:`CORPUS`) become per-topic example phrasings; their off-topic questions (other IT tools,
HR, the event's logistics…) become the off-topic class ``~exemples``, which pushes questions
like them towards abstention. Each question goes to the base of its language (the English ones
to the English base).

The questions are analysed once, here, with the knowledge base's own analyser (typos corrected
towards its vocabulary, lemmas, synonyms), and shipped as ``bot/messages/faq/examples_{locale}
.tsv`` (topic id or ``-``, tokens, question): loading them costs a file read, not an analysis.
Rebuild after changing a knowledge base, its synonyms or the corpus::

    python -m faqbuild

(a unit test fails while the shipped file is stale). The blind evaluation sets are never part of
the corpus.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import yaml

from bot.faq.analyzer import Analyzer
from bot.faq.base import FaqBase
from bot.faq.data import Example, load_data, load_examples
from bot.faq.decision import Calibration
from bot.faq.language import LOCALES, detect_language, function_words

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "faqdata"
# The corpus: training sets written from FAQ-FACTS.md only (never the blind sets, never the dev
# set nor faq_unseen, which stay measures of our own). The ``faq_contrast_*`` sets are minimal
# pairs, a topical question and its twin about another object ("combien de temps dure le
# parcours ?" / "… la formation incendie ?"), and unusual wordings of both: written to teach
# what is not this FAQ, half of them adversarial by design, they are learnt in every fold and
# never held out (faqbuild/calibrate.py: folds_of), not to skew the folds' measure of traffic.
CORPUS: tuple[str, ...] = (
    "faq_train_r4_t1.yaml",
    "faq_train_r4_t2.yaml",
    "faq_train_r4_t3.yaml",
    "faq_train_r4_t4.yaml",
    "faq_train_r4_t5.yaml",
    "faq_train_r4_t6.yaml",
    "faq_train_r5_t7.yaml",
    "faq_train_r5_t8.yaml",
    "faq_train_r6_t9.yaml",
    "faq_train_r6_t10.yaml",
    "faq_train_r6_t11.yaml",
    "faq_train_r6_t12.yaml",
    "faq_train_r6_t13.yaml",
    "faq_train_r6_t14.yaml",
    "faq_train_r7_t15.yaml",
    "faq_train_r7_t16.yaml",
    "faq_train_r7_t17.yaml",
    "faq_train_r8_t18.yaml",
    "faq_train_r8_t19.yaml",
    "faq_train_r9_t20.yaml",
    "faq_train_r9_t21.yaml",
    "faq_train_r10_t22.yaml",
    "faq_train_r10_t23.yaml",
    "faq_train_r11_t24.yaml",
    "faq_train_r11_t25.yaml",
    "faq_train_r11_t26.yaml",
    "faq_train_r13_t31.yaml",
    "faq_train_r14_t33.yaml",
    "faq_train_r14_t34.yaml",
    "faq_contrast_r12_t27.yaml",
    "faq_contrast_r12_t28.yaml",
    "faq_contrast_r12_t29.yaml",
    "faq_contrast_r12_t30.yaml",
    "faq_contrast_r13_t32.yaml",
    "faq_contrast_r14_t35.yaml",
    "faq_contrast_r15_t36.yaml",
    "faq_train_r15_t37.yaml",
    "faq_contrast_r16_t38.yaml",
    "faq_contrast_r16_t39.yaml",
    "faq_contrast_r16_t40.yaml",
    "faq_train_paraphrases.yaml",
    "faq_train_heldout.yaml",
    "faq_r3_train.yaml",
    "faq_r3_heldout.yaml",
)
# Signals need a calibration object; its trees play no part in them.
NEUTRAL = Calibration(trees=(), bias=0.0, threshold=0.5)
HEADER = (
    "# Example corpus of the FAQ (locale {locale}), built by `python -m faqbuild` from\n"
    "# faqdata/{{{sets}}}.\n# topic id (- = off-topic) <TAB> analysed tokens <TAB> question\n"
)


def read_questions(path: Path) -> list[tuple[str, str | None]]:
    """A question set: YAML list of ``{q: question, topic: topic id or null}``."""
    rows = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    return [(str(row["q"]), row.get("topic")) for row in rows]


def by_locale(
    questions: Iterable[tuple[str, str | None]], default: str = "fr"
) -> dict[str, list[tuple[str, str | None]]]:
    """Questions split by the language they are written in, as the bot would route them."""
    markers = function_words(LOCALES)
    split: dict[str, list[tuple[str, str | None]]] = {locale: [] for locale in LOCALES}
    for question, topic in questions:
        split[detect_language(question, markers, default)].append((question, topic))
    return split


def analyse(
    questions: Iterable[tuple[str, str | None]], base: FaqBase
) -> list[tuple[str | None, tuple[str, ...], str]]:
    """Each question as ``(topic, tokens, question)``, analysed by ``base`` (typos corrected)."""
    return [
        (topic, tuple(base._analyzer.tokens(question)), question) for question, topic in questions
    ]


def bare_base(locale: str) -> FaqBase:
    """The knowledge base alone (no examples, no classifier): it analyses, never answers."""
    return FaqBase(load_data(locale), calibration=NEUTRAL)


def analyzer(locale: str) -> Analyzer:
    """The analyser of ``locale``'s knowledge base, as the bot's base has it."""
    return bare_base(locale)._analyzer


def compile_corpus(
    questions: Iterable[tuple[str, str | None]],
) -> dict[str, list[tuple[str | None, tuple[str, ...], str]]]:
    """The analysed corpus per locale (the calibration builds one per fold with this)."""
    return {
        locale: analyse(rows, bare_base(locale)) for locale, rows in by_locale(questions).items()
    }


def examples(rows: Iterable[tuple[str | None, tuple[str, ...], str]]) -> list[Example]:
    return [(topic, tokens) for topic, tokens, _ in rows]


def examples_of(locale: str) -> list[Example]:
    """The shipped corpus of ``locale``, as :class:`FaqBase` loads it."""
    return load_examples(locale)


def render(locale: str, rows: Iterable[tuple[str | None, tuple[str, ...], str]]) -> str:
    lines = [HEADER.format(locale=locale, sets=",".join(name[:-5] for name in CORPUS))]
    for topic, tokens, question in rows:
        text = " ".join(question.split())
        lines.append(f"{topic or '-'}\t{' '.join(tokens)}\t{text}\n")
    return "".join(lines)


def build(data: Path = DATA) -> Mapping[str, str]:
    """The text of ``examples_{locale}.tsv`` for each locale, from the corpus in ``data``."""
    questions = [row for name in CORPUS for row in read_questions(data / name)]
    return {locale: render(locale, rows) for locale, rows in compile_corpus(questions).items()}


def target(locale: str) -> Path:
    return REPO / "bot" / "messages" / "faq" / f"examples_{locale}.tsv"
