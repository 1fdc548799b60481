"""Training the FAQ's classifier offline (scikit-learn): ``python -m faqbuild``.

Needs the ``[faq-build]`` extra (numpy, scikit-learn); the bot itself only reads the result
(``bot/faq/model.py``). Per locale, the training questions are the knowledge base's phrasings
(labelled with their topic), its off-topic phrasings and the example corpus
(``faqbuild/corpus.py``: questions written blind from FAQ-FACTS.md, routed to the base of their
language as the bot routes them; their off-topic questions labelled off-topic).

What is *not* this FAQ is modelled as well as what is. One off-topic class would have to hold the
weather, the canteen and "who sees my TOEIC score in my HR file?" on one side of a linear
boundary; so an off-topic question that reads like a topic of the knowledge base (its lexical
score for that topic reaches :data:`NEAR_DOMAIN_SCORE`) is labelled with that topic's *area*
(``~resultats``, ``~parcours``…: :func:`off_topic_label`), the others with ``~``. Each near-domain
class sits next to the area it mimics and takes its probability away; at run time the off-topic
classes are summed (``FaqModel.off_topic``). Topics with few examples (a new topic) are weighted
up towards the typical topic's total (:func:`class_weights`), so that the prior learnt from
unequal counts does not decide between two topics.

The model is a network of one hidden layer (scikit-learn's ``MLPClassifier``: ``HIDDEN``
rectified units, L2 penalty ``ALPHA``, a fixed seed, the constants of ``bot/faq/tuning.py``) on
the hashed features of ``bot/faq/features.py``, fitted on the buckets the training questions use
only, pruned of the buckets with negligible first-layer weights, then written with the digest of
everything it was trained on. It replaced a multinomial logistic regression in round 12: on
French writers held out, at 95 % of off-topic questions refused on the classifier's confidence
alone, it answers 91.4 % of topical questions right where the linear model answered 87.5 %.
``bench/faq.py --folds`` trains one per fold with :func:`fit` (each training set held out).
"""

from __future__ import annotations

import statistics
from array import array
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bot.faq.base import FaqBase
from bot.faq.data import load_data
from bot.faq.features import features
from bot.faq.model import OFF_TOPIC, FaqModel, is_off_topic, near_domain_class, training_digest
from bot.faq.tuning import (
    ALPHA,
    BATCH,
    BUCKETS,
    EPOCHS,
    HIDDEN,
    LEARNING_RATE,
    MAX_CLASS_WEIGHT,
    NEAR_DOMAIN_SCORE,
    PRUNE_SHARE,
    SEED,
)
from faqbuild import corpus as faq_examples

INT16 = 32767
REPO = Path(__file__).resolve().parents[1]
FAQ = REPO / "bot" / "messages" / "faq"

Question = tuple[str, str | None]


def knowledge_base_questions(data: Mapping[str, Any]) -> list[Question]:
    """The knowledge base's phrasings, labelled with their topic (off-topic ones with None)."""
    rows: list[Question] = [
        (str(text), topic_id)
        for topic_id, entry in data["topics"].items()
        for text in entry.get("phrasings", ())
    ]
    rows += [
        (str(text), None)
        for entry in (data.get("off_topic") or {}).values()
        for text in entry.get("phrasings", ())
    ]
    return rows


def training_files(locale: str, corpus: Sequence[str] = faq_examples.CORPUS) -> list[Path]:
    """Every file the model of ``locale`` depends on, for its digest."""
    return [
        FAQ / f"{locale}.yaml",
        FAQ / f"lexicon_{locale}.tsv",
        *(faq_examples.DATA / name for name in corpus),
    ]


def off_topic_label(base: FaqBase, question: str) -> str:
    """The class of an off-topic training question: ``~area`` when it reads like a topic of that
    area (lexically, on the knowledge base alone), else ``~``."""
    scores = base.scores(question)
    best = max(
        ((score, topic) for topic, score in scores.items() if topic in base.topics),
        default=None,
    )
    if best is None or best[0] < NEAR_DOMAIN_SCORE:
        return OFF_TOPIC
    return near_domain_class(best[1])


def class_weights(labels: Iterable[str]) -> dict[str, float]:
    """Per class, the weight of each of its questions: a topic with fewer questions than the
    median topic weighs up to its total (at most ``MAX_CLASS_WEIGHT`` each); off-topic classes
    and the other topics weigh one."""
    counts = Counter(labels)
    typical = statistics.median(count for name, count in counts.items() if not is_off_topic(name))
    return {
        name: 1.0 if is_off_topic(name) else min(MAX_CLASS_WEIGHT, max(1.0, typical / count))
        for name, count in counts.items()
    }


def fit(base: FaqBase, questions: Iterable[Question], digest: str = "") -> Any:
    """A :class:`FaqModel` trained on ``questions`` (topic id, or None for off-topic), with the
    analyser and lexical scores of ``base`` (the knowledge base alone, see ``corpus.bare_base``)."""
    import numpy as np
    from scipy import sparse
    from sklearn.neural_network import MLPClassifier

    analyzer = base._analyzer
    data: list[float] = []
    indices: list[int] = []
    pointers = [0]
    labels: list[str] = []
    for question, topic in questions:
        vector = features(analyzer, base.asked(question))
        indices += vector
        data += vector.values()
        pointers.append(len(indices))
        labels.append(topic or off_topic_label(base, question))
    matrix = sparse.csr_matrix((data, indices, pointers), shape=(len(labels), BUCKETS))
    used = np.unique(matrix.indices)
    per_class = class_weights(labels)
    model = MLPClassifier(
        hidden_layer_sizes=(HIDDEN,),
        activation="relu",
        solver="adam",
        alpha=ALPHA,
        batch_size=BATCH,
        learning_rate_init=LEARNING_RATE,
        max_iter=EPOCHS,
        early_stopping=False,
        random_state=SEED,
    )
    model.fit(matrix[:, used], labels, sample_weight=[per_class[label] for label in labels])
    first, second = model.coefs_  # buckets x hidden, hidden x classes
    largest = np.abs(first).max(axis=1)
    kept = largest >= PRUNE_SHARE * largest.max()
    first, used = first[kept], used[kept]
    scale = INT16 / float(largest.max())
    weights = array("h", np.rint(first * scale).astype("<i2").ravel().tolist())
    return FaqModel(
        classes=tuple(str(name) for name in model.classes_),
        rows={int(bucket): row for row, bucket in enumerate(used)},
        weights=weights,
        scale=scale,
        hidden_bias=tuple(float(value) for value in model.intercepts_[0]),
        output=tuple(tuple(float(value) for value in column) for column in second.T),
        bias=tuple(float(value) for value in model.intercepts_[1]),
        digest=digest,
    )


def corpus_questions(locale: str, corpus: Sequence[str] = faq_examples.CORPUS) -> list[Question]:
    """The corpus's questions in ``locale``'s language (routed as the bot routes them)."""
    questions = [
        row for name in corpus for row in faq_examples.read_questions(faq_examples.DATA / name)
    ]
    return faq_examples.by_locale(questions)[locale]


def build(locale: str, corpus: Sequence[str] = faq_examples.CORPUS) -> FaqModel:
    """The model of ``locale`` from the knowledge base and the corpus in ``faqdata/``."""
    data = load_data(locale)
    model: FaqModel = fit(
        faq_examples.bare_base(locale),
        knowledge_base_questions(data) + corpus_questions(locale, corpus),
        digest=training_digest(training_files(locale, corpus)),
    )
    return model
