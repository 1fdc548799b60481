"""FAQ matcher: maps an agent's free-text question to one topic of the knowledge base, or abstains.

The knowledge base is data (``bot/messages/faq/{locale}.yaml``): per topic an answer, a short
title, example phrasings and keywords; per locale stop words, weak words and synonyms; and
``off_topic`` classes (IT support, HR, the event's logistics…) whose phrasings and keywords
describe what the FAQ must *not* answer. Everything is precomputed at load time;
:meth:`FaqBase.match` is a pure function of the question.

Analysis: see ``bot/faq/analyzer.py`` (normalised, typos corrected, lemmatised, synonyms
made canonical, stop words dropped, stemmed).

Scoring. Each token ``t`` weighs ``idf(t)`` (how few topics use it); an unknown word weighs by
its rarity in the language ("vraiment" little, "imprimante" much). For a topic ``T``:

* ``coverage(T)``: the IDF-weighted share of the question's tokens that ``T`` uses, each counted
  by its association with ``T`` in [0, 1]: full for a keyword or a word of two phrasings, half for
  one phrasing, and scaled down when another topic uses the word more (see ``_weigh``);
* ``phrasing(T)``: the best IDF-weighted share of the question's tokens found in one single
  phrasing of ``T`` (rewards words that appear *together*).

``score(T) = COVERAGE_SHARE * coverage(T) + (1 - COVERAGE_SHARE) * phrasing(T)``, in ``[0, 1]``.

Decision. The candidate is the topic whose classifier probability (``bot/faq/model.py``)
blended with its lexical score is highest; it is answered when one calibrated model of both
matchers' signals finds it likely enough to be right (``bot/faq/decision.py``). The lexical
matcher's own verdict is one of those signals: its best topic when it reaches
``DEFAULT_THRESHOLD``, shares an informative (non-weak) token with the question (unless it
explains nearly all of it, "c'est quoi Pix ?") and is anchored (see ``_anchored``), or a veto
when an off-topic class scores as high (minus :data:`OFF_TOPIC_MARGIN`) or the question has an
off-topic keyword no topic uses ("mon chef peut voir mes *mails* ?"). A base without a classifier
(the build's, to analyse its corpus) scores but never answers.
A close runner-up topic is offered as "see also"; a multi-intent question gets both answers
(``bot/faq/clauses.py``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.faq import clauses as faq_clauses
from bot.faq.analyzer import Analyzer, split_words
from bot.faq.data import (
    Example,
    checked_overrides,
    load_data,
    load_examples,
    load_overrides,
    shared_lexicon,
)
from bot.faq.decision import (
    Calibration,
    Decision,
    FaqMatch,
    Lexical,
    decision_features,
    learned_decision,
    load_calibration,
    ranked_topics,
)
from bot.faq.features import features
from bot.faq.lexicon import Lexicon
from bot.faq.model import FaqModel, load_model
from bot.faq.tuning import (
    CLAUSE_CONFIDENCE,
    COMMON_WEIGHT,
    COMMON_ZIPF,
    COVERAGE_SHARE,
    DEFAULT_THRESHOLD,
    DOMAIN_SHARE,
    EXAMPLES_CLASS,
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


@dataclass(frozen=True, slots=True)
class _Topic:
    answer: str
    title: str
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
        lexicon: Lexicon | None = None,
        examples: Iterable[Example] = (),
        model: FaqModel | None = None,
        calibration: Calibration | None = None,
    ) -> None:
        # Without a model (the build analyses its corpus with a bare base) the base scores
        # lexically but never answers.
        self._model = model
        self.calibration = calibration if calibration is not None else load_calibration()
        self.abstain_text: str = str(data["abstain"]).strip()
        language = str(data.get("language", "french"))
        self._analyzer = Analyzer(
            language=language,
            elisions=frozenset(data.get("elisions") or ()),
            stopwords=frozenset(split_words(data.get("stopwords"))),
            lexicon=lexicon if lexicon is not None else shared_lexicon(language),
        )
        # Words that only acknowledge ("ok", "merci", "d'accord"): a leading part made of them is
        # no part of the question (see asked()).
        self._acknowledgements = frozenset(
            word
            for text in split_words(data.get("acknowledgements"))
            for word in self._analyzer.words(text)
        )
        raw_topics: Mapping[str, Any] = data["topics"]
        off_topic: Mapping[str, Any] = data.get("off_topic") or {}
        entries: dict[str, Mapping[str, Any]] = dict(raw_topics)
        entries.update({OFF_TOPIC_PREFIX + name: entry for name, entry in off_topic.items()})
        # The example corpus's questions are more phrasings (analysed, see faq_examples.py).
        extra: dict[str, list[frozenset[str]]] = defaultdict(list)
        for label, tokens in examples:
            if label is not None and label not in raw_topics:
                raise ValueError(f"unknown FAQ topic id {label!r} in the example corpus")
            extra[label or EXAMPLES_CLASS].append(frozenset(tokens))
        if extra.get(EXAMPLES_CLASS):  # off-topic ones form one more off-topic class
            entries.setdefault(EXAMPLES_CLASS, {})
        # The vocabulary is fixed first (without typo correction) so that the knowledge base's
        # own words are never "corrected".
        vocabulary: set[str] = set()
        for entry in entries.values():
            for text in [*entry.get("phrasings", ()), *entry.get("keywords", ())]:
                vocabulary.update(self._analyzer.words(str(text)))
        self._analyzer.set_synonyms(data.get("synonyms") or {})
        self._analyzer.freeze_vocabulary(vocabulary)
        self._weak = frozenset(
            token
            for word in split_words(data.get("weak_words"))
            for token in self._analyzer.tokens(word, fuzzy=False)
        )

        self._topics: dict[str, _Topic] = {}
        self._keywords: dict[str, frozenset[str]] = {}
        # token -> topic -> [phrasings using it, 1 if it is a keyword of the topic]
        self._counts: dict[str, dict[str, list[int]]] = defaultdict(dict)
        for topic_id, entry in entries.items():
            phrasings = tuple(
                frozenset(self._analyzer.tokens(str(text), fuzzy=False))
                for text in entry.get("phrasings", ())
            ) + tuple(dict.fromkeys(extra.get(topic_id, ())))  # the same words count once
            keywords = frozenset(
                token
                for text in entry.get("keywords", ())
                for token in self._analyzer.tokens(str(text), fuzzy=False)
            )
            self._topics[topic_id] = _Topic(
                answer=str(entry.get("answer", "")).strip(),
                title=str(entry.get("title", topic_id)).strip(),
                ministere=bool(entry.get("ministere", False)),
                phrasings=phrasings,
            )
            self._keywords[topic_id] = keywords
            for phrasing in phrasings:
                for token in phrasing:
                    self._counts[token].setdefault(topic_id, [0, 0])[0] += 1
            for token in keywords:
                self._counts[token].setdefault(topic_id, [0, 0])[1] = 1
        self._real = [topic_id for topic_id in self._topics if topic_id in raw_topics]
        # Anchors: words that tie a question to Pix (global) or to one topic ("anchors:").
        self._anchors = frozenset(
            token
            for text in data.get("anchors") or ()
            for token in self._analyzer.tokens(str(text), fuzzy=False)
        )
        self._topic_anchors = {
            topic_id: frozenset(
                token
                for text in entry.get("anchors") or ()
                for token in self._analyzer.tokens(str(text), fuzzy=False)
            )
            for topic_id, entry in raw_topics.items()
        }
        # Off-topic keywords that no topic uses veto any answer ("mon chef voit mes *mails* ?").
        self._veto = frozenset(
            token
            for name in off_topic
            for token in self._keywords[OFF_TOPIC_PREFIX + name]
            if not any(topic_id in self._real for topic_id in self._counts[token])
        )
        self._idf: dict[str, float] = {}
        self._association: dict[str, dict[str, float]] = {}
        self._weigh()
        # token -> list of (topic, phrasing index) using it, for the single-phrasing score.
        self._postings: dict[str, list[tuple[str, int]]] = defaultdict(list)
        for topic_id, topic in self._topics.items():
            for position, phrasing in enumerate(topic.phrasings):
                for token in phrasing:
                    self._postings[token].append((topic_id, position))

        self._answers, self._service_answers = checked_overrides(
            answers or {}, services or {}, self._real
        )

    def _weigh(self) -> None:
        """Association (0–1) of each token with each topic, and its IDF over topics counted by
        their association (one stray use in the example corpus barely makes a word common)."""
        n_topics = len(self._topics)
        for token, per_topic in self._counts.items():
            counts = {
                topic_id: phrasings + KEYWORD_COUNT * keyword
                for topic_id, (phrasings, keyword) in per_topic.items()
            }
            top = max(counts.values())
            # Full with a keyword or FULL_ASSOCIATION phrasings, relative to the main topic.
            association = self._association[token] = {
                topic_id: min(1.0, count / FULL_ASSOCIATION) * (count / top) ** SHARE_EXPONENT
                for topic_id, count in counts.items()
            }
            df = sum(association.values())
            self._idf[token] = math.log(1.0 + (n_topics - df + 0.5) / (df + 0.5))

    # -- loading -------------------------------------------------------------------------------

    @classmethod
    def load(cls, locale: str = "fr", overrides: Path | None = None) -> FaqBase:
        """Load ``bot/messages/faq/{locale}.yaml``, then the deployment's ``overrides`` file.

        The overrides file holds ``answers: {topic_id: text}`` and
        ``services: {SERVICE: {topic_id: text}}``; an unknown topic id raises ``ValueError``.
        """
        answers, services = load_overrides(overrides)
        return cls(
            load_data(locale),
            answers=answers,
            services=services,
            examples=load_examples(locale),
            model=load_model(locale),
        )

    # -- queries -------------------------------------------------------------------------------

    @property
    def topics(self) -> list[str]:
        return list(self._real)

    def is_ministere(self, topic: str) -> bool:
        """True when the answer states a commitment of the administration (overridable)."""
        return self._topics[topic].ministere

    def title(self, topic: str) -> str:
        """A short label of ``topic``, for "see also" offers."""
        if topic not in self._real:
            raise KeyError(f"unknown FAQ topic id {topic!r}")
        return self._topics[topic].title

    def answer(self, topic: str, service: str | None = None) -> str:
        """The answer to ``topic``: the service's override, else the deployment's, else default."""
        if topic not in self._real:
            raise KeyError(f"unknown FAQ topic id {topic!r}")
        if service is not None:
            text = self._service_answers.get(service, {}).get(topic)
            if text is not None:
                return text
        return self._answers.get(topic, self._topics[topic].answer)

    def scores(self, question: str) -> dict[str, float]:
        """Score of every topic and off-topic class (``~name``) sharing a question token."""
        return self._scores(self._analyzer.weighted_tokens(question))

    def _scores(self, tokens: Mapping[str, float]) -> dict[str, float]:
        total = 0.0
        for token, rarity in tokens.items():
            idf = self._idf.get(token)
            weight = self._unknown_weight(rarity) if idf is None else idf
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
        best_phrase: dict[str, float] = {}
        for (topic_id, _), hit in phrase_hits.items():
            if hit > best_phrase.get(topic_id, 0.0):
                best_phrase[topic_id] = hit
        share = 1.0 - COVERAGE_SHARE
        return {
            topic_id: (COVERAGE_SHARE * value + share * best_phrase.get(topic_id, 0.0)) / total
            for topic_id, value in coverage.items()
        }

    @staticmethod
    def _unknown_weight(zipf: float) -> float:
        """Weight of a token the knowledge base never saw, from its frequency in the language."""
        if zipf <= RARE_ZIPF:
            return UNKNOWN_WEIGHT
        share = min(1.0, (zipf - RARE_ZIPF) / (COMMON_ZIPF - RARE_ZIPF))
        return UNKNOWN_WEIGHT - share * (UNKNOWN_WEIGHT - COMMON_WEIGHT)

    def asked(self, message: str) -> str:
        """What ``message`` asks, without its leading acknowledgements ("ok merci. mais c'est
        obligatoire ?" -> "c'est obligatoire ?"): "merci" must not read as small talk."""
        return faq_clauses.without_acknowledgement(
            message, self._analyzer.words, self._acknowledgements, self._analyzer.stopwords
        )

    def match(self, question: str, service: str | None = None) -> FaqMatch:
        """The best topic for ``question`` (and any other it asks about), or an abstention."""
        question = self.asked(question)
        tokens = self._analyzer.weighted_tokens(question)
        decision = self._decide(tokens, question)
        best, score, see_also = decision.topic, decision.score, decision.see_also
        # Clauses about two topics make a multi-intent question, unless the whole question was
        # ruled out.
        topics = (
            []
            if decision.vetoed
            else faq_clauses.clause_topics(question, self._decide_clause, CLAUSE_CONFIDENCE)
        )
        if best in topics:
            topics.remove(best)
            topics.insert(0, best)
        elif best is not None and not topics:
            topics = [best]
        if not topics:
            return FaqMatch(topic=None, score=score, answer=self.abstain_text)
        first = topics[0]
        if first != best:
            score = self._scores(tokens).get(first, score)
        return FaqMatch(
            topic=first,
            score=min(1.0, score),
            answer=self.answer(first, service),
            also=tuple(topics[1:]),
            see_also=tuple(topic for topic in see_also if topic not in topics),
        )

    def _decide(self, tokens: Mapping[str, float], text: str) -> Decision:
        """Best topic (None to abstain), its score, and close runners-up to offer
        (``bot/faq/decision.py``)."""
        ranked, signals = self._candidate(tokens, text)
        if not signals:
            return Decision(None, ranked[0][1] if ranked else 0.0)
        return learned_decision(ranked, signals, self.calibration)

    def _candidate(
        self, tokens: Mapping[str, float], text: str
    ) -> tuple[list[tuple[str, float]], tuple[float, ...]]:
        """Topics ranked by confidence, and the answer-or-abstain signals of the best one (none
        without a classifier or a topic)."""
        scores = self._scores(tokens)
        if self._model is None:
            return [], ()
        vector = features(self._analyzer, text, tokens)
        probabilities = self._model.probabilities(vector) if vector else {}
        ranked = ranked_topics(probabilities, scores)
        if not ranked:
            return ranked, ()
        lexical = self._lexical(tokens, scores)
        best = ranked[0][0]
        anchored = self._anchored(tokens, best, scores.get(best, 0.0))
        return ranked, decision_features(probabilities, scores, lexical, ranked, anchored)

    def decision_signals(self, question: str) -> tuple[str | None, tuple[float, ...]]:
        """The candidate topic and what the answer-or-abstain model weighs (``faqbuild``
        fits that model on held-out questions)."""
        question = self.asked(question)
        ranked, signals = self._candidate(self._analyzer.weighted_tokens(question), question)
        return (ranked[0][0] if ranked else None), signals

    def _foreign_words(self, tokens: Mapping[str, float]) -> int:
        """How many words of the question the knowledge base never uses and the language rarely
        does ("l'ambassadeur de *France* en *Italie*"): signs of another subject."""
        return sum(
            token not in self._idf
            and token not in self._weak
            and self._unknown_weight(rarity) >= FOREIGN_WEIGHT
            for token, rarity in tokens.items()
        )

    def _lexical(self, tokens: Mapping[str, float], scores: Mapping[str, float]) -> Lexical:
        """The lexical matcher's view: its best topic when it would answer it (score, a shared
        informative word, anchored), whether an off-topic keyword or class rules the question
        out, and the question's foreign words: signals of the decision, not vetoes."""
        foreign = self._foreign_words(tokens)
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
            and self._anchored(tokens, best, best_score)
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
                association = self._association.get(token, {})
                if token not in self._weak and association.get(name, 0.0) > association.get(
                    best, 0.0
                ):
                    return True
        return False

    def _anchored(self, tokens: Mapping[str, float], topic: str, score: float) -> bool:
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
            idf = self._idf.get(token)
            if idf is None:
                foreign |= (
                    token not in self._weak and self._unknown_weight(rarity) >= FOREIGN_WEIGHT
                )
            elif self._association[token].get(topic, 0.0) >= SUPPORT_ASSOCIATION:
                support += token not in self._weak  # "qui" supports nothing on its own
            elif token not in self._weak and rarity < GENERIC_ZIPF:
                # Another topic's intent word ("il se passe quoi") is no other subject; a word
                # off-topic questions use ("management", "entretien") is. A generic verb the
                # knowledge base happens to use ("passer") is neither.
                # Only a word that off-topic questions use more than *every* topic does: one
                # the knowledge base mostly ties to other topics ("chef", "résultat",
                # "reprendre") is a word of the domain, not another subject.
                association = self._association[token]
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

    def _decide_clause(self, clause: str, min_words: int = 1) -> Decision | None:
        """The decision on a part of a question, None when it has fewer content words."""
        if len(self._analyzer.content_words(clause)) < min_words:
            return None
        return self._decide(self._analyzer.weighted_tokens(clause), clause)

    def _shares_informative_token(self, tokens: Iterable[str], topic: str, score: float) -> bool:
        """At least one non-weak shared token, unless the topic explains the whole question
        ("c'est quoi Pix ?" is only weak words, and fully answered)."""
        if score >= FULL_EXPLANATION:
            return True
        return any(
            token not in self._weak and topic in self._association.get(token, {})
            for token in tokens
        )
