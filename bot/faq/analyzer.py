"""Text analysis for the FAQ matcher: words, typo correction, lemmas, synonyms, stems."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import snowballstemmer
from rapidfuzz import process
from rapidfuzz.distance import OSA

from bot.faq.lexicon import Lexicon
from bot.faq.tuning import CANONICAL_ZIPF, MAX_PHRASE_WORDS, REAL_WORD_ZIPF

FUZZY_CACHE_SIZE = 4096
CANONICAL_PREFIX = "#"
IGNORED = "#_"  # the synonym "_" lists fillers to drop ("sans arrêt", "au juste")

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'", "´": "'", "ʼ": "'"})
_NON_WORD = re.compile(r"[^a-z0-9+]+")
_LONE_PLUS = re.compile(r"(?<![a-z0-9])\++|\++(?![a-z0-9])")


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def split_words(value: object) -> list[str]:
    """Stop/weak word lists may be written as one string or as a YAML list."""
    if value is None:
        return []
    if isinstance(value, str):
        return value.split()
    if isinstance(value, Iterable):
        return [str(item) for item in value]
    raise TypeError(f"expected a string or a list of words, got {value!r}")


@dataclass(slots=True)
class Analyzer:
    """Turns text into tokens: stems of lemmas, or ``#canonical`` tokens for synonyms."""

    language: str
    elisions: frozenset[str]
    stopwords: frozenset[str]
    lexicon: Lexicon
    phrase_synonyms: dict[tuple[str, ...], str] = field(default_factory=dict)
    # Variants that need their stop words ("quel temps fait il"), matched on all words first.
    raw_phrases: dict[tuple[str, ...], str] = field(default_factory=dict)
    known_words: set[str] = field(default_factory=set)
    _known_list: list[str] = field(default_factory=list)
    _fuzzy_cache: dict[str, str] = field(default_factory=dict)
    _stem_cache: dict[str, str] = field(default_factory=dict)
    _stemmer: Any = None
    _elision: re.Pattern[str] | None = None

    def __post_init__(self) -> None:
        self._stemmer = snowballstemmer.stemmer(self.language)
        if self.elisions:
            alternatives = "|".join(sorted(map(re.escape, self.elisions), key=len, reverse=True))
            self._elision = re.compile(rf"\b(?:{alternatives})'")

    def words(self, text: str) -> list[str]:
        """Lower case, no accents, no elision ("l'", "qu'"…), no punctuation ("n+1" stays)."""
        text = _strip_accents(text.lower().translate(_APOSTROPHES))
        if self._elision is not None:
            text = self._elision.sub(" ", text)
        return _NON_WORD.sub(" ", _LONE_PLUS.sub(" ", text)).split()

    def lemma(self, word: str) -> str:
        return self.lexicon.lemma(word)

    def is_stopword(self, word: str) -> bool:
        return word in self.stopwords or self.lexicon.lemma(word) in self.stopwords

    def set_synonyms(self, raw: Mapping[str, Iterable[str]]) -> None:
        """Synonyms match content words and their lemmas: "temps du travail", "verront"."""
        phrases: dict[tuple[str, ...], str] = {}
        self.raw_phrases = {}
        from_lemma: dict[tuple[str, ...], str] = {}
        for canonical, variants in raw.items():
            for variant in [canonical, *variants]:
                words = tuple(self.content_words(str(variant), fuzzy=False))
                every_word = tuple(self.words(str(variant)))
                if len(every_word) > 1 and len(every_word) > len(words):
                    self.raw_phrases[every_word] = str(canonical)
                    if len(words) <= 1:
                        continue  # "quel temps fait-il" must not turn every "temps" into weather
                if not words:
                    continue
                previous = phrases.get(words)
                if previous is not None and previous != canonical:
                    raise ValueError(
                        f"FAQ synonym {' '.join(words)!r} belongs to both {previous!r} "
                        f"and {canonical!r}"
                    )
                phrases[words] = str(canonical)
                from_lemma.setdefault(tuple(self.lemma(word) for word in words), str(canonical))
        # A variant written out keeps its meaning over another variant's lemma.
        for key, canonical in from_lemma.items():
            phrases.setdefault(key, canonical)
        self.phrase_synonyms = phrases

    def freeze_vocabulary(self, words: Iterable[str]) -> None:
        self.known_words = set(words) | self.stopwords
        for phrase in self.phrase_synonyms:
            self.known_words.update(phrase)
        self.known_words.update([self.lemma(word) for word in self.known_words])
        # Typos are corrected towards content words only: turning an unknown word into a stop
        # word would silently drop it ("frais" -> "fais").
        self._known_list = sorted(
            word for word in self.known_words if word not in self.stopwords and len(word) >= 4
        )
        self._fuzzy_cache.clear()

    def correct(self, word: str) -> str:
        """Map a misspelt word to a known one: SMS ``j`` prefix, else one typo (two if long).

        Common words of the language are left alone ("frais" is no typo of "fais"); short words
        are only corrected for a swap of two letters ("lein" -> "lien").
        """
        if (
            word in self.known_words
            or word.isdigit()
            or len(word) < 4
            or self.lexicon.zipf(word) >= REAL_WORD_ZIPF
        ):
            return word
        cached = self._fuzzy_cache.get(word)
        if cached is not None:
            return cached
        corrected = word
        if word.startswith("j") and word[1:] in self.known_words:
            corrected = word[1:]  # "jpeux", "jsuis": SMS elision without apostrophe
        else:
            max_edits = 2 if len(word) >= 9 else 1
            found = process.extractOne(
                word, self._known_list, scorer=OSA.distance, score_cutoff=max_edits
            )
            if found is not None:
                candidate: str = found[0]
                same_start = candidate[0] == word[0]
                if same_start and (len(word) >= 5 or sorted(candidate) == sorted(word)):
                    corrected = candidate
        if len(self._fuzzy_cache) >= FUZZY_CACHE_SIZE:
            self._fuzzy_cache.clear()
        self._fuzzy_cache[word] = corrected
        return corrected

    def content_words(self, text: str, *, fuzzy: bool = True) -> list[str]:
        """Normalised words without stop words, typos corrected when ``fuzzy``."""
        words = self.words(text)
        if fuzzy:
            words = [self.correct(word) for word in words]
        return [word for word in words if not self.is_stopword(word)]

    def weighted_tokens(self, text: str, *, fuzzy: bool = True) -> dict[str, float]:
        """Tokens (stems of lemmas, ``#canonical`` synonyms, longest phrase first), each with the
        Zipf frequency of its word in the language (0 for an unknown word)."""
        words = self._mark_raw_phrases(self.words(text), fuzzy=fuzzy)
        lemmas = [self.lemma(word) for word in words]
        tokens: dict[str, float] = {}
        index = 0
        while index < len(words):
            if words[index].startswith(CANONICAL_PREFIX):
                if words[index] != IGNORED:
                    tokens.setdefault(words[index], CANONICAL_ZIPF)
                index += 1
                continue
            for size in range(min(MAX_PHRASE_WORDS, len(words) - index), 0, -1):
                canonical = self.phrase_synonyms.get(
                    tuple(words[index : index + size])
                ) or self.phrase_synonyms.get(tuple(lemmas[index : index + size]))
                if canonical is not None:
                    if canonical != IGNORED[1:]:
                        tokens.setdefault(CANONICAL_PREFIX + canonical, CANONICAL_ZIPF)
                    index += size
                    break
            else:
                stem = self._stem(lemmas[index])
                tokens.setdefault(stem, self.lexicon.zipf(words[index]))
                index += 1
        return tokens

    def _stem(self, lemma: str) -> str:
        """Snowball's stemmer is pure Python and the slowest step of a match: stems are cached."""
        stem = self._stem_cache.get(lemma)
        if stem is None:
            if len(self._stem_cache) >= FUZZY_CACHE_SIZE * 4:
                self._stem_cache.clear()
            stem = self._stem_cache[lemma] = self._stemmer.stemWord(lemma)
        return stem

    def _mark_raw_phrases(self, words: list[str], *, fuzzy: bool) -> list[str]:
        """Content words, with raw-phrase synonyms already turned into ``#canonical`` words."""
        if fuzzy:
            words = [self.correct(word) for word in words]
        marked: list[str] = []
        index = 0
        while index < len(words):
            for size in range(min(MAX_PHRASE_WORDS, len(words) - index), 1, -1):
                canonical = self.raw_phrases.get(tuple(words[index : index + size]))
                if canonical is not None:
                    marked.append(CANONICAL_PREFIX + canonical)
                    index += size
                    break
            else:
                if not self.is_stopword(words[index]):
                    marked.append(words[index])
                index += 1
        return marked

    def tokens(self, text: str, *, fuzzy: bool = True) -> list[str]:
        return list(self.weighted_tokens(text, fuzzy=fuzzy))
