"""The FAQ in every shipped language: a question is matched against the knowledge base of the
language it is written in.

Agents of a French ministry mostly write French, but some write English whatever their locale.
Matching an English question against the French base can only abstain or guess, so the language
is detected first: each word is looked up in the function words (stop words and weak words) of
each knowledge base, words common to both ("a", "on", "me") are ignored, and the language with
more hits wins. A tie (no function word, "RGPD ?", "Pix kesako") keeps the deployment's locale.
No model and no network: a set lookup per word.

The answer comes in the language of the question: someone who writes English reads English. The
surrounding messages (templates) stay in the agent's locale. The deployment's overrides (answers
that state the administration's commitments, per deployment or per service) apply to every
language: a commitment the deployment wrote wins over the default English wording.

Each base is built on first use, so a French-only workload never loads the English lexicon.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from bot.faq.analyzer import split_words
from bot.faq.base import FaqBase, FaqMatch, load_data
from bot.faq.lexicon import fold_word

LOCALES = ("fr", "en")
_NON_WORD = str.maketrans({char: " " for char in "'’?!.,;:()[]«»\"/-"})


def _vocabulary(data: Mapping[str, Any]) -> frozenset[str]:
    """Every word a knowledge base writes: function words, phrasings, keywords, synonyms."""
    texts: list[str] = []
    for key in ("stopwords", "weak_words"):
        texts += split_words(data.get(key))
    for canonical, variants in (data.get("synonyms") or {}).items():
        texts += [str(canonical), *map(str, variants)]
    for section in ("topics", "off_topic"):
        for entry in (data.get(section) or {}).values():
            texts += map(str, [*entry.get("phrasings", ()), *entry.get("keywords", ())])
    return frozenset(
        word for text in texts for word in fold_word(text).translate(_NON_WORD).split()
    )


@lru_cache(maxsize=4)
def function_words(locales: tuple[str, ...] = LOCALES) -> dict[str, frozenset[str]]:
    """Per locale, the words of its knowledge base that no other locale's base writes."""
    raw = {locale: _vocabulary(load_data(locale)) for locale in locales}
    return {
        locale: words.difference(*(other for name, other in raw.items() if name != locale))
        for locale, words in raw.items()
    }


def detect_language(question: str, markers: Mapping[str, frozenset[str]], default: str) -> str:
    """The locale whose function words the question uses most; ``default`` on a tie."""
    words = fold_word(question).translate(_NON_WORD).split()
    counts = {locale: sum(word in found for word in words) for locale, found in markers.items()}
    best = max(counts.values(), default=0)
    winners = [locale for locale, count in counts.items() if count == best]
    if best == 0 or len(winners) > 1:
        return default
    return winners[0]


class FaqLibrary:
    """The knowledge bases of all shipped locales, with one deployment's overrides."""

    def __init__(
        self,
        default_locale: str = "fr",
        overrides: Path | None = None,
        locales: Iterable[str] = LOCALES,
    ) -> None:
        self.default_locale = default_locale
        self.locales = tuple(dict.fromkeys([default_locale, *locales]))
        self._overrides = overrides
        self._bases: dict[str, FaqBase] = {}
        self._markers = function_words(self.locales)
        self.base(default_locale)  # fail early on an unknown locale or a bad overrides file

    def base(self, locale: str) -> FaqBase:
        base = self._bases.get(locale)
        if base is None:
            base = self._bases[locale] = FaqBase.load(locale, self._overrides)
        return base

    def locale_of(self, question: str) -> str:
        return detect_language(question, self._markers, self.default_locale)

    def for_question(self, question: str) -> FaqBase:
        """The knowledge base of the question's language."""
        return self.base(self.locale_of(question))

    def match(self, question: str, service: str | None = None) -> FaqMatch:
        return self.for_question(question).match(question, service)
