"""Training the FAQ's classifier offline (scikit-learn): ``python -m faqbuild``.

Needs the ``[faq-build]`` extra (numpy, scikit-learn); the bot itself only reads the result
(``bot/faq/model.py``). Per locale, the training questions are the knowledge base's phrasings
(labelled with their topic), its off-topic phrasings and the example corpus
(``faqbuild/corpus.py``: questions written blind from FAQ-FACTS.md, routed to the base of their
language as the bot routes them; their off-topic questions labelled :data:`OFF_TOPIC`).

The model is a multinomial logistic regression (L2, ``C`` = :data:`C`) on the hashed features of
``bot/faq/features.py``, fitted on the buckets the training questions use only, pruned of the
buckets with negligible weights, then written with the digest of everything it was trained on.
``bench/faq.py --folds`` trains one per fold with :func:`fit` (each training set held out).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bot.faq.analyzer import Analyzer
from bot.faq.data import load_data
from bot.faq.features import BUCKETS, features
from bot.faq.model import OFF_TOPIC, FaqModel, training_digest
from bot.faq.tuning import MAX_ITER, PRUNE_SHARE, C
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


def fit(analyzer: Analyzer, questions: Iterable[Question], digest: str = "", c: float = C) -> Any:
    """A :class:`FaqModel` trained on ``questions`` (topic id, or None for off-topic)."""
    import numpy as np
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

    data: list[float] = []
    indices: list[int] = []
    pointers = [0]
    labels: list[str] = []
    for question, topic in questions:
        vector = features(analyzer, question)
        indices += vector
        data += vector.values()
        pointers.append(len(indices))
        labels.append(topic or OFF_TOPIC)
    matrix = sparse.csr_matrix((data, indices, pointers), shape=(len(labels), BUCKETS))
    used = np.unique(matrix.indices)
    model = LogisticRegression(C=c, max_iter=MAX_ITER)
    model.fit(matrix[:, used], labels)
    coefficients = model.coef_.T  # buckets x classes
    largest = np.abs(coefficients).max(axis=1)
    kept = largest >= PRUNE_SHARE * largest.max()
    coefficients, used = coefficients[kept], used[kept]
    scale = INT16 / float(largest.max())
    weights = array("h", np.rint(coefficients * scale).astype("<i2").ravel().tolist())
    return FaqModel(
        classes=tuple(str(name) for name in model.classes_),
        rows={int(bucket): row for row, bucket in enumerate(used)},
        weights=weights,
        scale=scale,
        bias=tuple(float(value) for value in model.intercept_),
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
        faq_examples.analyzer(locale),
        knowledge_base_questions(data) + corpus_questions(locale, corpus),
        digest=training_digest(training_files(locale, corpus)),
    )
    return model
