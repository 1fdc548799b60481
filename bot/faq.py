"""FAQ matcher: maps an agent's free-text question to one topic of the knowledge base, or abstains.

The knowledge base is data (``bot/messages/faq/{locale}.yaml``): per topic an answer, example
phrasings and keywords, plus per-locale stop words, weak words and synonyms. Everything is
precomputed at load time; :meth:`FaqBase.match` is a pure function of the question.

Scoring. A question is normalised (lower case, accents and elisions removed), typos are corrected
towards the knowledge base's vocabulary, synonyms become canonical tokens, stop words are dropped
and the rest is stemmed. Each token ``t`` weighs ``idf(t)`` (how few topics use it; a word the
knowledge base has never seen weighs :data:`UNKNOWN_WEIGHT`). For a topic ``T``:

* ``coverage(T)``: the IDF-weighted share of the question's tokens that ``T`` uses, each counted
  by its association with ``T`` in [0, 1]: full for a keyword or a word of two phrasings, half for
  one phrasing, and scaled down when another topic uses the word more (see ``_weigh``);
* ``phrasing(T)``: the best IDF-weighted share of the question's tokens found in one single
  phrasing of ``T`` (rewards words that appear *together*).

``score(T) = COVERAGE_SHARE * coverage(T) + (1 - COVERAGE_SHARE) * phrasing(T)``, in ``[0, 1]``:
the share of the question's meaningful words that the topic explains. The best topic is answered
when its score reaches :attr:`FaqBase.threshold`, it leads the runner-up by :data:`MARGIN`, and the
question shares at least one informative (non-weak) token with it, unless the topic explains
nearly all of it (:data:`FULL_EXPLANATION`, for "c'est quoi Pix ?"); otherwise the bot abstains.
Off-topic questions abstain mostly because their words are unknown to the knowledge base.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import snowballstemmer
import yaml
from rapidfuzz import process
from rapidfuzz.distance import OSA

# Tuned on the development set and on leave-one-out over the phrasings (see bench/faq.py).
DEFAULT_THRESHOLD = 0.45
MARGIN = 0.02
COVERAGE_SHARE = 0.7
KEYWORD_COUNT = 2  # a keyword counts as this many phrasings using the word
FULL_ASSOCIATION = 2  # phrasings (or keyword) needed for a word to fully belong to a topic
SHARE_EXPONENT = 0.5  # association also scales with (count in topic / count in its main topic)
UNKNOWN_WEIGHT = 3.0  # weight of a word the knowledge base has never seen (> idf of any known word)
WEAK_FACTOR = 0.5  # weak words (interrogatives, "pix"…) count half
MAX_PHRASE_WORDS = 6
FULL_EXPLANATION = 0.7  # a question of weak words only is answered above this score
FUZZY_CACHE_SIZE = 4096

_CANONICAL_PREFIX = "#"
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'", "´": "'"})
_NON_WORD = re.compile(r"[^a-z0-9]+")

try:  # libyaml is ~10x faster; fall back to the pure-Python loader.
    _YamlLoader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _YamlLoader = yaml.SafeLoader


@dataclass(frozen=True, slots=True)
class FaqMatch:
    """Result of :meth:`FaqBase.match`.

    ``score`` is the share (0–1) of the question's meaningful words explained by the best topic,
    even when the matcher abstains (then ``topic`` is None and ``answer`` is the abstain text).
    """

    topic: str | None
    score: float
    answer: str


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


@dataclass(slots=True)
class _Analyzer:
    """Turns text into tokens: stems, or ``#canonical`` tokens for synonyms."""

    language: str
    elisions: frozenset[str]
    stopwords: frozenset[str]
    phrase_synonyms: dict[tuple[str, ...], str]
    known_words: set[str] = field(default_factory=set)
    _known_list: list[str] = field(default_factory=list)
    _fuzzy_cache: dict[str, str] = field(default_factory=dict)
    _stemmer: Any = None
    _elision: re.Pattern[str] | None = None

    def __post_init__(self) -> None:
        self._stemmer = snowballstemmer.stemmer(self.language)
        if self.elisions:
            alternatives = "|".join(sorted(map(re.escape, self.elisions), key=len, reverse=True))
            self._elision = re.compile(rf"\b(?:{alternatives})'")

    def words(self, text: str) -> list[str]:
        """Lower case, no accents, no elision ("l'", "qu'"…), no punctuation."""
        text = _strip_accents(text.lower().translate(_APOSTROPHES))
        if self._elision is not None:
            text = self._elision.sub(" ", text)
        return _NON_WORD.sub(" ", text).split()

    def freeze_vocabulary(self, words: Iterable[str]) -> None:
        self.known_words = set(words) | self.stopwords
        for phrase in self.phrase_synonyms:
            self.known_words.update(phrase)
        # Typos are corrected towards content words only: turning an unknown word into a stop
        # word would silently drop it ("frais" -> "fais").
        self._known_list = sorted(
            word for word in self.known_words if word not in self.stopwords and len(word) >= 4
        )
        self._fuzzy_cache.clear()

    def correct(self, word: str) -> str:
        """Map an unknown word to a known one: SMS ``j`` prefix, else one typo (two if long).

        Short words are only corrected for a swap of two letters ("lein" -> "lien"): one edit
        away from a short word there are too many unrelated words.
        """
        if word in self.known_words or word.isdigit() or len(word) < 4:
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
        return [word for word in words if word not in self.stopwords]

    def tokens(self, text: str, *, fuzzy: bool = True) -> list[str]:
        """Stems, and ``#canonical`` tokens for synonyms (longest phrase first)."""
        words = self.content_words(text, fuzzy=fuzzy)
        tokens: list[str] = []
        index = 0
        while index < len(words):
            for size in range(min(MAX_PHRASE_WORDS, len(words) - index), 0, -1):
                canonical = self.phrase_synonyms.get(tuple(words[index : index + size]))
                if canonical is not None:
                    tokens.append(_CANONICAL_PREFIX + canonical)
                    index += size
                    break
            else:
                tokens.append(self._stemmer.stemWord(words[index]))
                index += 1
        return tokens


@dataclass(frozen=True, slots=True)
class _Topic:
    answer: str
    ministere: bool
    phrasings: tuple[frozenset[str], ...]


class FaqBase:
    """The FAQ of one locale, ready to match questions. Build it with :meth:`load`."""

    def __init__(
        self,
        data: Mapping[str, Any],
        *,
        answers: Mapping[str, str] | None = None,
        services: Mapping[str, Mapping[str, str]] | None = None,
        threshold: float = DEFAULT_THRESHOLD,
    ) -> None:
        self.threshold = threshold
        self.abstain_text: str = str(data["abstain"]).strip()
        self._analyzer = _Analyzer(
            language=str(data.get("language", "french")),
            elisions=frozenset(data.get("elisions") or ()),
            stopwords=frozenset(_split_words(data.get("stopwords"))),
            phrase_synonyms={},
        )
        # Synonyms are matched on content words: "temps de travail" also matches "temps du travail".
        self._analyzer.phrase_synonyms = self._build_synonyms(data.get("synonyms") or {})
        self._weak: frozenset[str] = frozenset()

        raw_topics: Mapping[str, Any] = data["topics"]
        # The vocabulary is fixed first (without typo correction) so that the knowledge base's
        # own words are never "corrected".
        vocabulary: set[str] = set()
        for entry in raw_topics.values():
            for text in [*entry.get("phrasings", ()), *entry.get("keywords", ())]:
                vocabulary.update(self._analyzer.words(str(text)))
        self._analyzer.freeze_vocabulary(vocabulary)
        self._weak = frozenset(
            token
            for word in _split_words(data.get("weak_words"))
            for token in self._analyzer.tokens(word, fuzzy=False)
        )

        self._topics: dict[str, _Topic] = {}
        # token -> topic -> [phrasings using it, 1 if it is a keyword of the topic]
        self._counts: dict[str, dict[str, list[int]]] = defaultdict(dict)
        for topic_id, entry in raw_topics.items():
            phrasings = tuple(
                frozenset(self._analyzer.tokens(str(text), fuzzy=False))
                for text in entry.get("phrasings", ())
            )
            keywords = {
                token
                for text in entry.get("keywords", ())
                for token in self._analyzer.tokens(str(text), fuzzy=False)
            }
            self._topics[topic_id] = _Topic(
                answer=str(entry["answer"]).strip(),
                ministere=bool(entry.get("ministere", False)),
                phrasings=phrasings,
            )
            for phrasing in phrasings:
                for token in phrasing:
                    self._counts[token].setdefault(topic_id, [0, 0])[0] += 1
            for token in keywords:
                self._counts[token].setdefault(topic_id, [0, 0])[1] = 1
        self._idf: dict[str, float] = {}
        self._association: dict[str, dict[str, float]] = {}
        self._weigh()
        # token -> list of (topic, phrasing index) using it, for the single-phrasing score.
        self._postings: dict[str, list[tuple[str, int]]] = defaultdict(list)
        for topic_id, topic in self._topics.items():
            for position, phrasing in enumerate(topic.phrasings):
                for token in phrasing:
                    self._postings[token].append((topic_id, position))

        self._answers: dict[str, str] = {}
        self._service_answers: dict[str, dict[str, str]] = {}
        self._set_overrides(answers or {}, services or {})

    def _weigh(self) -> None:
        """IDF of each token over topics, and its association (0–1) with each topic using it."""
        n_topics = len(self._topics)
        for token, per_topic in self._counts.items():
            df = len(per_topic)
            self._idf[token] = math.log(1.0 + (n_topics - df + 0.5) / (df + 0.5))
            counts = {
                topic_id: phrasings + KEYWORD_COUNT * keyword
                for topic_id, (phrasings, keyword) in per_topic.items()
            }
            top = max(counts.values())
            # Full association needs a keyword or FULL_ASSOCIATION phrasings, and is shared out
            # relative to the topic that uses the token most.
            self._association[token] = {
                topic_id: min(1.0, count / FULL_ASSOCIATION) * (count / top) ** SHARE_EXPONENT
                for topic_id, count in counts.items()
            }

    # -- loading -------------------------------------------------------------------------------

    @classmethod
    def load(cls, locale: str = "fr", overrides: Path | None = None) -> FaqBase:
        """Load ``bot/messages/faq/{locale}.yaml``, then the deployment's ``overrides`` file.

        The overrides file holds ``answers: {topic_id: text}`` and
        ``services: {SERVICE: {topic_id: text}}``; an unknown topic id raises ``ValueError``.
        """
        source = resources.files("bot") / "messages" / "faq" / f"{locale}.yaml"
        data = yaml.load(source.read_text(encoding="utf-8"), Loader=_YamlLoader)
        answers: Mapping[str, str] = {}
        services: Mapping[str, Mapping[str, str]] = {}
        if overrides is not None:
            extra = yaml.load(overrides.read_text(encoding="utf-8"), Loader=_YamlLoader) or {}
            answers = extra.get("answers") or {}
            services = extra.get("services") or {}
        return cls(data, answers=answers, services=services)

    def _build_synonyms(self, raw: Mapping[str, Iterable[str]]) -> dict[tuple[str, ...], str]:
        phrases: dict[tuple[str, ...], str] = {}
        for canonical, variants in raw.items():
            for variant in [canonical, *variants]:
                words = tuple(self._analyzer.content_words(str(variant), fuzzy=False))
                if not words:
                    continue
                previous = phrases.get(words)
                if previous is not None and previous != canonical:
                    raise ValueError(
                        f"FAQ synonym {' '.join(words)!r} belongs to both {previous!r} "
                        f"and {canonical!r}"
                    )
                phrases[words] = str(canonical)
        return phrases

    def _set_overrides(
        self, answers: Mapping[str, str], services: Mapping[str, Mapping[str, str]]
    ) -> None:
        for topic_id in answers:
            self._check_topic(topic_id, "answers")
        for service, per_topic in services.items():
            for topic_id in per_topic:
                self._check_topic(topic_id, f"services.{service}")
        self._answers = {topic_id: str(text).strip() for topic_id, text in answers.items()}
        self._service_answers = {
            str(service): {topic_id: str(text).strip() for topic_id, text in per_topic.items()}
            for service, per_topic in services.items()
        }

    def _check_topic(self, topic_id: str, where: str) -> None:
        if topic_id not in self._topics:
            raise ValueError(f"unknown FAQ topic id {topic_id!r} in overrides ({where})")

    # -- queries -------------------------------------------------------------------------------

    @property
    def topics(self) -> list[str]:
        return list(self._topics)

    def is_ministere(self, topic: str) -> bool:
        """True when the answer states a commitment of the administration (overridable)."""
        return self._topics[topic].ministere

    def answer(self, topic: str, service: str | None = None) -> str:
        """The answer to ``topic``: the service's override, else the deployment's, else default."""
        if topic not in self._topics:
            raise KeyError(f"unknown FAQ topic id {topic!r}")
        if service is not None:
            text = self._service_answers.get(service, {}).get(topic)
            if text is not None:
                return text
        return self._answers.get(topic, self._topics[topic].answer)

    def scores(self, question: str) -> dict[str, float]:
        """Score of every topic sharing a token with the question (for debugging and the bench)."""
        tokens = list(dict.fromkeys(self._analyzer.tokens(question)))
        total = 0.0
        for token in tokens:
            idf = self._idf.get(token)
            weight = UNKNOWN_WEIGHT if idf is None else idf
            total += weight * (WEAK_FACTOR if token in self._weak else 1.0)
        if total <= 0.0:
            return {}
        coverage: dict[str, float] = defaultdict(float)
        phrase_hits: dict[tuple[str, int], float] = defaultdict(float)
        for token in tokens:
            idf = self._idf.get(token)
            if idf is None:
                continue
            weight = idf * (WEAK_FACTOR if token in self._weak else 1.0)
            for topic_id, association in self._association[token].items():
                coverage[topic_id] += weight * association
            for key in self._postings.get(token, ()):
                phrase_hits[key] += weight
        best_phrase: dict[str, float] = defaultdict(float)
        for (topic_id, _), hit in phrase_hits.items():
            best_phrase[topic_id] = max(best_phrase[topic_id], hit)
        return {
            topic_id: (COVERAGE_SHARE * value + (1.0 - COVERAGE_SHARE) * best_phrase[topic_id])
            / total
            for topic_id, value in coverage.items()
        }

    def match(self, question: str, service: str | None = None) -> FaqMatch:
        """The best topic for ``question``, or an abstention (``topic=None``)."""
        scores = self.scores(question)
        if not scores:
            return FaqMatch(topic=None, score=0.0, answer=self.abstain_text)
        ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
        best_topic, best_score = ranked[0]
        runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
        confident = (
            best_score >= self.threshold
            and best_score - runner_up >= MARGIN
            and self._shares_informative_token(question, best_topic, best_score)
        )
        if not confident:
            return FaqMatch(topic=None, score=best_score, answer=self.abstain_text)
        return FaqMatch(topic=best_topic, score=best_score, answer=self.answer(best_topic, service))

    def _shares_informative_token(self, question: str, topic: str, score: float) -> bool:
        """At least one non-weak shared token, unless the topic explains the whole question
        ("c'est quoi Pix ?" is only weak words, and fully answered)."""
        if score >= FULL_EXPLANATION:
            return True
        return any(
            token not in self._weak and topic in self._association.get(token, {})
            for token in self._analyzer.tokens(question)
        )


def _split_words(value: object) -> list[str]:
    """Stop/weak word lists may be written as one string or as a YAML list."""
    if value is None:
        return []
    if isinstance(value, str):
        return value.split()
    if isinstance(value, Iterable):
        return [str(item) for item in value]
    raise TypeError(f"expected a string or a list of words, got {value!r}")
