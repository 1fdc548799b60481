"""The shipped FAQ artefacts match their sources (CI): whoever changes a knowledge base, a
lexicon, a training set or the features must run ``python -m faqbuild``, which rebuilds them all.

The example corpus is rebuilt here and compared byte for byte (pure Python); the classifiers and
the calibration need scikit-learn, so they carry the digest of everything they were built from,
compared with the repository's files (``python -m faqbuild --check`` rebuilds them too)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.faq.decision import load_calibration
from bot.faq.language import LOCALES
from bot.faq.model import load_model, training_digest
from faqbuild import calibrate, corpus
from faqbuild.model import training_files

REPO = Path(__file__).resolve().parents[2]


def test_shipped_example_corpus_is_rebuilt_identically() -> None:
    for locale, text in corpus.build().items():
        assert corpus.target(locale).read_text(encoding="utf-8") == text, locale


@pytest.mark.parametrize("locale", LOCALES)
def test_shipped_classifier_was_trained_on_the_repository_s_data(locale: str) -> None:
    model = load_model(locale)
    assert model is not None
    assert model.digest == training_digest(training_files(locale)), locale


def test_shipped_calibration_was_fitted_on_the_repository_s_data() -> None:
    assert load_calibration().digest == calibrate.digest()


def test_training_corpus_lives_outside_the_tests_and_every_file_is_used() -> None:
    assert corpus.DATA == REPO / "faqdata"
    assert {path.name for path in corpus.DATA.glob("*.yaml")} == set(corpus.CORPUS)
    # Each fold of the calibration is one writer's set.
    assert set(calibrate.folds_of()) <= set(corpus.CORPUS)
    assert len(calibrate.folds_of()) >= 19


def test_blind_sets_never_reach_the_corpus() -> None:
    """The blind sets never reach the corpus the classifier and the decision's trees learn from.
    After its first run a blind set is a development set (``faqdata/dev``: the build chooses its
    threshold on it, so the calibration's digest covers it); a fresh one waits in
    ``tests/data``, where nothing of the build reads it."""
    development = {path.name for path in calibrate.development_sets()}
    fresh = {path.name for path in (REPO / "tests" / "data").glob("faq_blind_*.yaml")}
    assert len(development) >= 19
    assert all(name.startswith("faq_blind_") for name in development)
    assert development.isdisjoint(corpus.CORPUS) and fresh.isdisjoint(corpus.CORPUS)
    assert fresh.isdisjoint(development)
    assert not list(corpus.DATA.glob("faq_blind_*"))


def test_the_build_s_figures_count_what_the_bot_would_answer() -> None:
    """The threshold is chosen on these figures: a trust question answered with another trust
    topic is a confusion (one answered with an ordinary topic or not at all is not), and an
    off-topic question answered with a trust topic is counted apart."""
    figures = calibrate.figures_of(
        [
            ("resultats.qui_voit", "resultats.qui_voit"),
            ("resultats.qui_voit", "donnees.bot"),  # a trust confusion
            ("participation.qui_voit", "parcours.duree"),  # wrong, not a trust confusion
            ("donnees.bot", None),  # abstained
            ("parcours.duree", "parcours.duree"),
            (None, None),
            (None, "resultats.usage"),  # off-topic answered with a trust topic
            (None, "parcours.liste"),
        ]
    )
    assert figures == calibrate.Figures(
        top1=2 / 5, abstention=1 / 3, trust_confusion=1 / 4, trust_answered=1
    )
    # Held-out rows: a candidate is answered only when the decision says so, never without
    # signals (a question the classifier gives no topic).
    rows = [
        calibrate.Row("parcours.duree", "parcours.duree", (0.9,)),
        calibrate.Row("parcours.liste", "parcours.liste", (0.1,)),
        calibrate.Row(None, None, ()),
    ]
    judged = calibrate.judge(rows, lambda row: row.signals[0] > 0.5)
    assert judged == calibrate.Figures(
        top1=1 / 2, abstention=1.0, trust_confusion=0.0, trust_answered=0
    )
