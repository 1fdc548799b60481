"""FAQ matcher: maps an agent's free-text question to one topic of the knowledge base, or abstains.

The knowledge base is data (``bot/messages/faq/{locale}.yaml``): per topic an answer, a short
title, example phrasings and keywords; per locale stop words, weak words and synonyms; and
``off_topic`` classes (IT support, HR, the event's logistics…) whose phrasings and keywords
describe what the FAQ must *not* answer. Everything is precomputed at load time;
:meth:`FaqBase.match` is a pure function of the question.

Analysis: see ``bot/faq/analyzer.py`` (normalised, typos corrected, lemmatised, synonyms
made canonical, stop words dropped, stemmed). Lexical scores and the lexical matcher's verdict:
``bot/faq/lexical.py``.

Decision. The candidate is the topic whose classifier probability (``bot/faq/model.py``)
blended with its lexical score is highest; it is answered when one calibrated model of both
matchers' signals finds it likely enough to be right (``bot/faq/decision.py``). The lexical
matcher's own verdict is one of those signals. A base without a classifier (the build's, to
analyse its corpus) scores but never answers.
A close runner-up topic is offered as "see also"; a multi-intent question gets both answers
(``bot/faq/clauses.py``).
"""

from __future__ import annotations

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
    SIGNALS,
    Calibration,
    Decision,
    FaqMatch,
    decision_features,
    is_trust,
    learned_decision,
    load_calibration,
    ranked_topics,
)
from bot.faq.features import features
from bot.faq.lexical import LexicalMatcher, entries_of
from bot.faq.lexicon import Lexicon
from bot.faq.model import FaqModel, load_model
from bot.faq.tuning import (
    ASKING_OFF_TOPIC,
    ASKING_WORDS,
    CLAUSE_CONFIDENCE,
    ENDING_FLOOR,
    ENDING_TRUST_OFF_TOPIC_WORDS,
    ENDING_TRUST_UNEXPLAINED_WORDS,
)

__all__ = ["FaqBase", "FaqMatch", "load_data"]

OFF_TOPIC = SIGNALS.index("off_topic")
OFF_TOPIC_WORDS = SIGNALS.index("off_topic_words")
UNEXPLAINED_WORDS = SIGNALS.index("unexplained_words")


@dataclass(frozen=True, slots=True)
class _Topic:
    answer: str
    title: str
    ministere: bool


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
        # … and stop words that make a message of acknowledgements ask ("ou pas", "est-ce que").
        self._breakers = frozenset(
            word
            for text in split_words(data.get("acknowledgement_breakers"))
            for word in self._analyzer.words(text)
        )
        # The vocabulary is fixed first (without typo correction) so that the knowledge base's
        # own words are never "corrected".
        vocabulary: set[str] = set()
        for entry in entries_of(data, ()).values():
            for text in [*entry.get("phrasings", ()), *entry.get("keywords", ())]:
                vocabulary.update(self._analyzer.words(str(text)))
        self._analyzer.set_synonyms(data.get("synonyms") or {})
        self._analyzer.freeze_vocabulary(vocabulary)
        weak = frozenset(
            token
            for word in split_words(data.get("weak_words"))
            for token in self._analyzer.tokens(word, fuzzy=False)
        )
        self.lexical = LexicalMatcher(self._analyzer, data, examples, weak)
        self._real = self.lexical.topics
        self._topics = {
            topic_id: _Topic(
                answer=str(entry.get("answer", "")).strip(),
                title=str(entry.get("title", topic_id)).strip(),
                ministere=bool(entry.get("ministere", False)),
            )
            for topic_id, entry in data["topics"].items()
        }
        self._answers, self._service_answers = checked_overrides(
            answers or {}, services or {}, self._real
        )

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
        return self.lexical.scores(self._analyzer.weighted_tokens(question))

    def asked(self, message: str) -> str:
        """What ``message`` asks, without its leading acknowledgements ("ok merci. mais c'est
        obligatoire ?" -> "c'est obligatoire ?"): "merci" must not read as small talk."""
        return faq_clauses.without_acknowledgement(
            message, self._analyzer.words, self._acknowledgements, self._analyzer.stopwords
        )

    def acknowledges(self, message: str) -> bool:
        """Whether ``message`` only acknowledges ("ok merci c'est noté", "bien noté", "noted,
        thanks"): an acknowledgement, otherwise stop words, and nothing that asks (no question
        mark, none of the knowledge base's ``acknowledgement_breakers``: "ou pas", "est-ce
        que"). It asks nothing, and "noté" there is no grade."""
        if "?" in message:
            return False
        words = self._analyzer.words(message)
        if not any(word in self._acknowledgements for word in words):
            return False
        return all(
            word in self._acknowledgements
            or (word in self._analyzer.stopwords and word not in self._breakers)
            for word in words
        )

    def match(self, question: str, service: str | None = None) -> FaqMatch:
        """The best topic for ``question`` (and any other it asks about), or an abstention."""
        if self.acknowledges(question):
            return FaqMatch(topic=None, score=0.0, answer=self.abstain_text)
        question = self.asked(question)
        tokens = self._analyzer.weighted_tokens(question)
        ranked, signals = self._candidate(tokens, question)
        decision = self._judged(ranked, signals)
        best, score, see_also = decision.topic, decision.score, decision.see_also
        # Clauses about two topics make a multi-intent question, even when the whole abstains
        # (two questions in one message split the classifier's confidence): each clause is
        # judged by the same decision as a question of its own (only the asking ones when the
        # whole abstains).
        topics = faq_clauses.clause_topics(
            question, self._decide_clause, CLAUSE_CONFIDENCE, asked_only=best is None
        )
        if best in topics:
            topics.remove(best)
            topics.insert(0, best)
        elif best is not None and not topics:
            topics = [best]
        if not topics and self._ending_confirms(question, ranked, signals):
            topics = [ranked[0][0]]
        if topics and self._asks_elsewhere(question):
            topics = []
        if not topics:
            return FaqMatch(topic=None, score=score, answer=self.abstain_text)
        first = topics[0]
        if first != best:
            score = self.lexical.scores(tokens).get(first, score)
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
        return self._judged(*self._candidate(tokens, text))

    def _judged(self, ranked: list[tuple[str, float]], signals: tuple[float, ...]) -> Decision:
        """The decision on ranked topics and their best one's signals (:meth:`_candidate`)."""
        if not signals:
            return Decision(None, ranked[0][1] if ranked else 0.0)
        return learned_decision(ranked, signals, self.calibration)

    def _ending_confirms(
        self, question: str, ranked: list[tuple[str, float]], signals: tuple[float, ...]
    ) -> bool:
        """Whether a question that abstains, though leaning to its candidate (at least
        ``ENDING_FLOOR``), ends with what is clearly a question about that candidate: a long
        message's context (greeting, self-introduction, worries) dilutes the evidence."""
        if not signals or self.calibration.probability(signals) < ENDING_FLOOR:
            return False
        candidate = ranked[0][0]
        # A trust answer to a near-domain question betrays a promise ("J'ai passé un test
        # d'anglais pour ma mobilité. Est-ce que mon chef verra mon score ?"): when most of the
        # message's informative words belong to other subjects, or the candidate does not explain
        # most of them, the context is not noise.
        if is_trust(candidate) and (
            signals[OFF_TOPIC_WORDS] > ENDING_TRUST_OFF_TOPIC_WORDS
            or signals[UNEXPLAINED_WORDS] > ENDING_TRUST_UNEXPLAINED_WORDS
        ):
            return False
        return faq_clauses.ending_confirms(question, candidate, self._decide_clause)

    def _asks_elsewhere(self, question: str) -> bool:
        """Whether a message that tells before it asks asks about something else: its asking
        sentence (``bot/faq/clauses.py``), long enough to stand alone (``ASKING_WORDS`` content
        words), abstains when judged alone and its classifier's probability goes mostly
        (``ASKING_OFF_TOPIC``) to off-topic classes. "Bonjour, j'ai fini le parcours pendant mon
        temps de travail, avec l'accord de mon chef. Comment poser une demi-journée de RTT dans
        l'application de gestion des temps ?" must not get the working-time answer its context
        reads as. An asking sentence that merely lacks evidence ("Pouvez-vous me décrire la
        procédure d'accès, étape par étape ?") does not overrule its context."""
        sentence = faq_clauses.asking_sentence(question)
        if sentence is None or len(self._analyzer.content_words(sentence)) < ASKING_WORDS:
            return False
        ranked, signals = self._candidate(self._analyzer.weighted_tokens(sentence), sentence)
        if not signals or signals[OFF_TOPIC] < ASKING_OFF_TOPIC:
            return False
        return self._judged(ranked, signals).topic is None

    def _candidate(
        self, tokens: Mapping[str, float], text: str
    ) -> tuple[list[tuple[str, float]], tuple[float, ...]]:
        """Topics ranked by confidence, and the answer-or-abstain signals of the best one (none
        without a classifier or a topic)."""
        if self._model is None:
            return [], ()
        scores = self.lexical.scores(tokens)
        vector = features(self._analyzer, text, tokens)
        probabilities = self._model.probabilities(vector) if vector else {}
        ranked = ranked_topics(probabilities, scores)
        if not ranked:
            return ranked, ()
        lexical = self.lexical.verdict(tokens, scores)
        best = ranked[0][0]
        anchored = self.lexical.anchored(tokens, best, scores.get(best, 0.0))
        shares = self.lexical.word_shares(tokens, best)
        named = sum(token not in self.lexical.weak for token in tokens)
        return ranked, decision_features(
            probabilities, scores, lexical, ranked, anchored, shares, len(tokens), named
        )

    def decision_signals(self, question: str) -> tuple[str | None, tuple[float, ...]]:
        """The candidate topic and what the answer-or-abstain model weighs (``faqbuild``
        fits that model on held-out questions)."""
        question = self.asked(question)
        ranked, signals = self._candidate(self._analyzer.weighted_tokens(question), question)
        return (ranked[0][0] if ranked else None), signals

    def _decide_clause(self, clause: str, min_words: int = 1) -> Decision | None:
        """The decision on a part of a question, None when it has fewer content words."""
        if len(self._analyzer.content_words(clause)) < min_words:
            return None
        return self._decide(self._analyzer.weighted_tokens(clause), clause)
