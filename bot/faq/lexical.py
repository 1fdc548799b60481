"""The FAQ's lexical matcher: how much of a question each topic's words explain, and its verdict.

Built by :class:`bot.faq.base.FaqBase` from the knowledge base's phrasings and keywords (topics and
``off_topic`` classes, the latter as ``~name``) and the example corpus's questions (more
phrasings; the off-topic ones form the class ``~exemples``), all analysed by the base's analyser.

Scoring. Each token ``t`` weighs ``idf(t)`` (how few topics use it); an unknown word weighs by
its rarity in the language ("vraiment" little, "imprimante" much). For a topic ``T``:

* ``coverage(T)``: the IDF-weighted share of the question's tokens that ``T`` uses, each counted
  by its association with ``T`` in [0, 1]: full for a keyword or a word of two phrasings, half for
  one phrasing, and scaled down when another topic uses the word more (see ``_weigh``);
* ``phrasing(T)``: the best IDF-weighted share of the question's tokens found in one single
  phrasing of ``T`` (rewards words that appear *together*).

``score(T) = COVERAGE_SHARE * coverage(T) + (1 - COVERAGE_SHARE) * phrasing(T)``, in ``[0, 1]``.

Verdict (:meth:`LexicalMatcher.verdict`, a signal of the decision, ``bot/faq/decision.py``): its
best topic when it reaches ``DEFAULT_THRESHOLD``, shares an informative (non-weak) token with the
question (unless it explains nearly all of it, "c'est quoi Pix ?") and is anchored (see
:meth:`LexicalMatcher.anchored`), or a veto when an off-topic class scores as high (minus
``OFF_TOPIC_MARGIN``) or the question has an off-topic keyword no topic uses ("mon chef peut voir
mes *mails* ?").
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from bot.faq.analyzer import Analyzer
from bot.faq.data import Example
from bot.faq.decision import Lexical
from bot.faq.tuning import (
    COMMON_WEIGHT,
    COMMON_ZIPF,
    COVERAGE_SHARE,
    DEFAULT_THRESHOLD,
    DOMAIN_SHARE,
    EXAMPLES_CLASS,
    EXPLAINED_ASSOCIATION,
    FOREIGN_WEIGHT,
    FULL_ASSOCIATION,
    FULL_EXPLANATION,
    GENERIC_ZIPF,
    KEYWORD_COUNT,
    MIN_SUPPORT,
    OFF_TOPIC_MARGIN,
    OFF_TOPIC_PREFIX,
    RARE_ZIPF,
    SHARE_EXPONENT,
    SIGNATURE_SCORE,
    SUPPORT_ASSOCIATION,
    UNKNOWN_WEIGHT,
    WEAK_FACTOR,
)


def entries_of(
    data: Mapping[str, Any], examples: Iterable[Example]
) -> dict[str, Mapping[str, Any]]:
    """The knowledge base's topics and off-topic classes (``~name``), plus ``~exemples`` when the
    example corpus has off-topic questions."""
    entries: dict[str, Mapping[str, Any]] = dict(data["topics"])
    off_topic: Mapping[str, Any] = data.get("off_topic") or {}
    entries.update({OFF_TOPIC_PREFIX + name: entry for name, entry in off_topic.items()})
    if any(label is None for label, _ in examples):
        entries.setdefault(EXAMPLES_CLASS, {})
    return entries


class LexicalMatcher:
    """Lexical scores of a question's tokens against every topic and off-topic class."""

    def __init__(
        self,
        analyzer: Analyzer,
        data: Mapping[str, Any],
        examples: Iterable[Example],
        weak: frozenset[str],
    ) -> None:
        examples = list(examples)
        raw_topics: Mapping[str, Any] = data["topics"]
        self.weak = weak
        # The example corpus's questions are more phrasings (analysed, see faqbuild/corpus.py).
        extra: dict[str, list[frozenset[str]]] = defaultdict(list)
        for label, tokens in examples:
            if label is not None and label not in raw_topics:
                raise ValueError(f"unknown FAQ topic id {label!r} in the example corpus")
            extra[label or EXAMPLES_CLASS].append(frozenset(tokens))
        entries = entries_of(data, examples)
        self.topics = [topic_id for topic_id in entries if topic_id in raw_topics]
        self._phrasings: dict[str, tuple[frozenset[str], ...]] = {}
        self._keywords: dict[str, frozenset[str]] = {}
        # token -> topic -> [phrasings using it, 1 if it is a keyword of the topic]
        self._counts: dict[str, dict[str, list[int]]] = defaultdict(dict)
        for topic_id, entry in entries.items():
            phrasings = tuple(
                frozenset(analyzer.tokens(str(text), fuzzy=False))
                for text in entry.get("phrasings", ())
            ) + tuple(dict.fromkeys(extra.get(topic_id, ())))  # the same words count once
            keywords = frozenset(
                token
                for text in entry.get("keywords", ())
                for token in analyzer.tokens(str(text), fuzzy=False)
            )
            self._phrasings[topic_id] = phrasings
            self._keywords[topic_id] = keywords
            for phrasing in phrasings:
                for token in phrasing:
                    self._counts[token].setdefault(topic_id, [0, 0])[0] += 1
            for token in keywords:
                self._counts[token].setdefault(topic_id, [0, 0])[1] = 1
        # Anchors: words that tie a question to Pix (global) or to one topic ("anchors:").
        self._anchors = frozenset(
            token
            for text in data.get("anchors") or ()
            for token in analyzer.tokens(str(text), fuzzy=False)
        )
        self._topic_anchors = {
            topic_id: frozenset(
                token
                for text in entry.get("anchors") or ()
                for token in analyzer.tokens(str(text), fuzzy=False)
            )
            for topic_id, entry in raw_topics.items()
        }
        # Off-topic keywords that no topic uses veto any answer ("mon chef voit mes *mails* ?").
        self._veto = frozenset(
            token
            for name in data.get("off_topic") or {}
            for token in self._keywords[OFF_TOPIC_PREFIX + name]
            if not any(topic_id in self.topics for topic_id in self._counts[token])
        )
        self.idf: dict[str, float] = {}
        self.association: dict[str, dict[str, float]] = {}
        self._weigh()
        # For the single-phrasing score, every phrasing gets a number, each topic's in one run
        # (``_runs``: topic, first, end), and each token the numbers of the phrasings using it: a
        # question adds its tokens' weights into one list, whose maximum per run is each topic's
        # best phrasing (the common tokens have thousands of phrasings; a list is indexed in C).
        postings: dict[str, list[int]] = defaultdict(list)
        self._runs: list[tuple[str, int, int]] = []
        count = 0
        for topic_id, phrasings in self._phrasings.items():
            for position, phrasing in enumerate(phrasings, start=count):
                for token in phrasing:
                    postings[token].append(position)
            self._runs.append((topic_id, count, count + len(phrasings)))
            count += len(phrasings)
        self._phrasing_count = count
        self._postings = {token: tuple(numbers) for token, numbers in postings.items()}

    def _weigh(self) -> None:
        """Association (0–1) of each token with each topic, and its IDF over topics counted by
        their association (one stray use in the example corpus barely makes a word common)."""
        n_topics = len(self._phrasings)
        for token, per_topic in self._counts.items():
            counts = {
                topic_id: phrasings + KEYWORD_COUNT * keyword
                for topic_id, (phrasings, keyword) in per_topic.items()
            }
            top = max(counts.values())
            # Full with a keyword or FULL_ASSOCIATION phrasings, relative to the main topic.
            association = self.association[token] = {
                topic_id: min(1.0, count / FULL_ASSOCIATION) * (count / top) ** SHARE_EXPONENT
                for topic_id, count in counts.items()
            }
            df = sum(association.values())
            self.idf[token] = math.log(1.0 + (n_topics - df + 0.5) / (df + 0.5))

    def scores(self, tokens: Mapping[str, float]) -> dict[str, float]:
        """Score of every topic and off-topic class (``~name``) sharing a token of ``tokens``
        (the analyser's weighted tokens of a question)."""
        total = 0.0
        for token, rarity in tokens.items():
            idf = self.idf.get(token)
            weight = self.unknown_weight(rarity) if idf is None else idf
            total += weight * (WEAK_FACTOR if token in self.weak else 1.0)
        if total <= 0.0:
            return {}
        coverage: dict[str, float] = defaultdict(float)
        phrase_hits = [0.0] * self._phrasing_count
        for token in tokens:
            idf = self.idf.get(token)
            if idf is None:
                continue
            weight = idf * (WEAK_FACTOR if token in self.weak else 1.0)
            for topic_id, association in self.association[token].items():
                coverage[topic_id] += weight * association
            for position in self._postings.get(token, ()):
                phrase_hits[position] += weight
        best_phrase = {
            topic_id: max(phrase_hits[first:end], default=0.0)
            for topic_id, first, end in self._runs
            if topic_id in coverage
        }
        share = 1.0 - COVERAGE_SHARE
        return {
            topic_id: (COVERAGE_SHARE * value + share * best_phrase.get(topic_id, 0.0)) / total
            for topic_id, value in coverage.items()
        }

    @staticmethod
    def unknown_weight(zipf: float) -> float:
        """Weight of a token the knowledge base never saw, from its frequency in the language."""
        if zipf <= RARE_ZIPF:
            return UNKNOWN_WEIGHT
        share = min(1.0, (zipf - RARE_ZIPF) / (COMMON_ZIPF - RARE_ZIPF))
        return UNKNOWN_WEIGHT - share * (UNKNOWN_WEIGHT - COMMON_WEIGHT)

    def foreign_words(self, tokens: Mapping[str, float]) -> int:
        """How many words of the question the knowledge base never uses and the language rarely
        does ("l'ambassadeur de *France* en *Italie*"): signs of another subject."""
        return sum(
            token not in self.idf
            and token not in self.weak
            and self.unknown_weight(rarity) >= FOREIGN_WEIGHT
            for token, rarity in tokens.items()
        )

    def word_shares(self, tokens: Iterable[str], topic: str) -> tuple[float, float]:
        """Of the question's informative words the knowledge base knows (IDF-weighted): the share
        that off-topic classes use more than any topic ("*Teams*", "ma *fille*", "le *concours*":
        another subject's object), and the share ``topic`` does not explain (below
        ``EXPLAINED_ASSOCIATION``)."""
        total = owned = unexplained = 0.0
        for token in tokens:
            association = self.association.get(token)
            if association is None or token in self.weak:
                continue
            idf = self.idf[token]
            total += idf
            off_topic = topic_best = 0.0
            for name, value in association.items():
                if name.startswith(OFF_TOPIC_PREFIX):
                    off_topic = max(off_topic, value)
                else:
                    topic_best = max(topic_best, value)
            owned += idf * (off_topic > topic_best)
            unexplained += idf * (association.get(topic, 0.0) < EXPLAINED_ASSOCIATION)
        if total <= 0.0:
            return 0.0, 0.0
        return owned / total, unexplained / total

    def verdict(self, tokens: Mapping[str, float], scores: Mapping[str, float]) -> Lexical:
        """The lexical matcher's view: its best topic when it would answer it (score, a shared
        informative word, anchored), whether an off-topic keyword or class rules the question
        out, and the question's foreign words: signals of the decision, not vetoes."""
        foreign = self.foreign_words(tokens)
        ranked = sorted(
            ((t, s) for t, s in scores.items() if not t.startswith(OFF_TOPIC_PREFIX)),
            key=lambda item: item[1],
            reverse=True,
        )
        if not ranked:
            return Lexical(None, False, foreign)
        best, best_score = ranked[0]
        if not self._veto.isdisjoint(tokens) or self._off_topic_wins(tokens, scores, best):
            return Lexical(None, True, foreign)
        confident = (
            best_score >= DEFAULT_THRESHOLD
            and self._shares_informative_token(tokens, best, best_score)
            and self.anchored(tokens, best, best_score)
        )
        return Lexical(best if confident else None, False, foreign)

    def _off_topic_wins(
        self, tokens: Mapping[str, float], scores: Mapping[str, float], best: str
    ) -> bool:
        """An off-topic class scoring about as high as ``best`` vetoes it only with a word of
        its own: one the class uses more than the topic does. A shared generic word ("oublier"
        in "oublie-moi" and "j'ai oublié mon mot de passe") is no evidence either way."""
        floor = scores[best] - OFF_TOPIC_MARGIN
        for name, value in scores.items():
            if not name.startswith(OFF_TOPIC_PREFIX) or value < floor:
                continue
            for token in tokens:
                association = self.association.get(token, {})
                if token not in self.weak and association.get(name, 0.0) > association.get(
                    best, 0.0
                ):
                    return True
        return False

    def anchored(self, tokens: Mapping[str, float], topic: str, score: float) -> bool:
        """One intent word is not enough when the question also names something ``topic`` does
        not explain ("le code de la *porte*", "l'ambassadeur de *France*", "la formation
        *management* est obligatoire ?"): it then needs a second word of the topic or an object
        tying it to Pix (a global or topic anchor), unless the topic explains nearly all of it."""
        if score >= SIGNATURE_SCORE:
            return True
        anchors = self._anchors | self._topic_anchors.get(topic, frozenset())
        if not anchors.isdisjoint(tokens):
            return True
        support, foreign = 0, False
        for token, rarity in tokens.items():
            idf = self.idf.get(token)
            if idf is None:
                foreign |= token not in self.weak and self.unknown_weight(rarity) >= FOREIGN_WEIGHT
            elif self.association[token].get(topic, 0.0) >= SUPPORT_ASSOCIATION:
                support += token not in self.weak  # "qui" supports nothing on its own
            elif token not in self.weak and rarity < GENERIC_ZIPF:
                # Another topic's intent word ("il se passe quoi") is no other subject; a word
                # off-topic questions use ("management", "entretien") is. A generic verb the
                # knowledge base happens to use ("passer") is neither.
                # Only a word that off-topic questions use more than *every* topic does: one
                # the knowledge base mostly ties to other topics ("chef", "résultat",
                # "reprendre") is a word of the domain, not another subject.
                association = self.association[token]
                domain = max(
                    (v for name, v in association.items() if not name.startswith(OFF_TOPIC_PREFIX)),
                    default=0.0,
                )
                floor = max(association.get(topic, 0.0), DOMAIN_SHARE * domain)
                foreign |= any(
                    name.startswith(OFF_TOPIC_PREFIX) and value > floor
                    for name, value in association.items()
                )
        return support >= MIN_SUPPORT or not foreign

    def _shares_informative_token(self, tokens: Iterable[str], topic: str, score: float) -> bool:
        """At least one non-weak shared token, unless the topic explains the whole question
        ("c'est quoi Pix ?" is only weak words, and fully answered)."""
        if score >= FULL_EXPLANATION:
            return True
        return any(
            token not in self.weak and topic in self.association.get(token, {}) for token in tokens
        )
