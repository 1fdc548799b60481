"""The FAQ's learned classifier (bot/faq/model.py, bot/faq/decision.py): shipped weights, file
format, pure-Python run time, and what it adds to the lexical matcher."""

from __future__ import annotations

import math
import subprocess
import sys
from array import array
from pathlib import Path

import pytest

from bot.faq.base import FaqBase
from bot.faq.data import load_data
from bot.faq.decision import EPSILON, SIGNALS, Calibration, Tree
from bot.faq.features import features
from bot.faq.language import LOCALES, FaqLibrary
from bot.faq.model import OFF_TOPIC, FaqModel, is_off_topic, load_model, near_domain_class
from bot.faq.tuning import DEFAULT_THRESHOLD, TRUST_THRESHOLD

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def base() -> FaqBase:
    return FaqBase.load("fr")


@pytest.mark.parametrize("locale", LOCALES)
def test_shipped_model_knows_every_topic_and_the_off_topic_classes(locale: str) -> None:
    model = load_model(locale)
    assert model is not None
    topics = set(load_data(locale)["topics"])
    assert {name for name in model.classes if not is_off_topic(name)} == topics
    # What is not this FAQ: the far off-topic class and near-domain classes of the areas.
    off_topic = {name for name in model.classes if is_off_topic(name)}
    assert OFF_TOPIC in off_topic
    assert off_topic - {OFF_TOPIC} <= {near_domain_class(topic) for topic in topics}
    assert near_domain_class("resultats.qui_voit") in off_topic


def test_off_topic_classes_are_summed() -> None:
    model = FaqModel(
        classes=("a", OFF_TOPIC, "~a"),
        rows={},
        weights=array("h"),
        scale=1.0,
        hidden_bias=(0.0,),
        output=((0.0,), (0.0,), (0.0,)),
        bias=(0.0, 0.0, 0.0),
        digest="",
    )
    probabilities = model.probabilities({})
    assert FaqModel.off_topic(probabilities) == pytest.approx(2 / 3)


def test_model_file_round_trips() -> None:
    # Two hidden units: bucket 7 lights the first (which speaks for "a"), bucket 3 the second
    # (for the off-topic class); a negative sum stays dark (rectified).
    model = FaqModel(
        classes=("a", OFF_TOPIC),
        rows={7: 0, 3: 1},
        weights=array("h", [100, -100, -50, 50]),
        scale=100.0,
        hidden_bias=(0.0, 0.0),
        output=((2.0, -1.0), (-2.0, 1.0)),
        bias=(0.25, -0.25),
        digest="abc",
    )
    again = FaqModel.from_bytes(model.to_bytes())
    assert again == model
    probabilities = again.probabilities({7: 1.0})
    # hidden (1, 0): scores 2.25 and -2.25; hidden (0, 0.5): -0.25 and 0.25
    assert probabilities["a"] == pytest.approx(1 / (1 + math.exp(-4.5)))
    assert sum(probabilities.values()) == pytest.approx(1.0)
    assert again.probabilities({3: 1.0})[OFF_TOPIC] == pytest.approx(1 / (1 + math.exp(-0.5)))
    assert again.probabilities({}) == pytest.approx({"a": 0.6225, OFF_TOPIC: 0.3775}, abs=1e-4)


def test_the_first_layer_sums_extreme_and_negative_weights_exactly() -> None:
    """Rows are summed as integers of one field per hidden unit (``widened``): the extremes of
    int16, negative sums and many rows of one value give the exact column sums."""
    rows = {bucket: bucket for bucket in range(300)}
    weights = array("h", [-32768, 32767, -1] * 100 + [32767, -32768, 0] * 200)
    model = FaqModel(
        classes=("a", OFF_TOPIC),
        rows=rows,
        weights=weights,
        scale=1.0,
        hidden_bias=(0.0, 0.0, 0.0),
        output=((1e-6, 0.0, 0.0), (0.0, 1e-6, 0.0)),
        bias=(0.0, 0.0),
        digest="",
    )
    vector = {bucket: 1.0 for bucket in range(300)} | {299: 0.5}
    columns = [0.0, 0.0, 0.0]
    for bucket, value in vector.items():
        for unit in range(3):
            columns[unit] += value * weights[3 * bucket + unit]
    hidden = [max(0.0, column) for column in columns]
    assert hidden[0] > 0 and columns[2] < 0  # both signs reach the layer
    score_a, score_off = 1e-6 * hidden[0], 1e-6 * hidden[1]
    expected = 1 / (1 + math.exp(score_off - score_a))
    assert model.probabilities(vector)["a"] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("data", [b"", b"NOTAMODEL", None])
def test_corrupt_model_file_is_refused(data: bytes | None) -> None:
    if data is None:  # a truncated real file
        model = load_model("fr")
        assert model is not None
        data = model.to_bytes()[:-3]
    with pytest.raises(ValueError):
        FaqModel.from_bytes(data)


def test_features_are_normalised_and_robust_to_missing_accents(base: FaqBase) -> None:
    analyzer = base._analyzer
    accented = features(analyzer, "les résultats sont-ils envoyés ?")
    plain = features(analyzer, "les resultats sont ils envoyes")
    assert sum(value * value for value in accented.values()) == pytest.approx(1.0)
    assert accented.keys() == plain.keys()
    assert features(analyzer, "?!") == {}


def test_run_time_needs_neither_numpy_nor_scikit_learn() -> None:
    script = (
        "import sys\n"
        "from bot.faq.language import FaqLibrary\n"
        "library = FaqLibrary('fr')\n"
        "assert library.match('qui voit mes résultats ?').topic == 'resultats.qui_voit'\n"
        "assert library.match('who can see my results?').topic == 'resultats.qui_voit'\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] in "
        "{'numpy', 'sklearn', 'scipy', 'faqbuild', 'wordfreq', 'simplemma'}))\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert output.strip() == "[]"


@pytest.mark.parametrize(
    ("question", "topic"),
    [
        # Regressions of the example corpus layer, fixed by the classifier.
        ("ça ne marche pas", "probleme.technique"),
        ("je n'arrive pas à me connecter à pix", "parcours.acces"),
        # Long, formal, context first: the lexical score dilutes, the classifier does not.
        (
            "Je suis juriste et je n'ai guère l'habitude de ces outils en ligne. Pourriez-vous "
            "m'indiquer combien de temps il faut prévoir pour le parcours ?",
            "parcours.duree",
        ),
    ],
)
def test_classifier_answers_what_the_lexical_matcher_missed(
    base: FaqBase, question: str, topic: str
) -> None:
    assert base.match(question).topic == topic, (question, base.match(question))
    # The lexical scores alone (knowledge base and example corpus) do not reach the topic.
    scores = base.scores(question)
    assert scores.get(topic, 0.0) < DEFAULT_THRESHOLD or max(scores, key=scores.get) != topic


@pytest.mark.parametrize(
    "question",
    [
        "Je n'arrive pas à me connecter à l'application de gestion des congés.",
        "qui voit les résultats de l'enquête annuelle de satisfaction ?",
        "la durée de l'épreuve orale du concours est-elle de trente minutes ?",
    ],
)
def test_near_domain_questions_abstain(base: FaqBase, question: str) -> None:
    """Near-domain questions the classifier alone might answer: the topic does not explain
    what they are about (the leave, the survey, the exam), so the bot abstains."""
    assert base.match(question).topic is None, (question, base.match(question))


def test_english_questions_use_the_english_classifier() -> None:
    library = FaqLibrary("fr")
    match = library.match("My schedule only has short slots, can I spread it over several days?")
    assert match.topic == "parcours.plusieurs_fois"
    assert match.answer == library.base("en").answer("parcours.plusieurs_fois")


def test_the_calibrated_decision_weighs_every_signal(base: FaqBase) -> None:
    """The shipped trees read the signals the bot computes (a stale calibration would fail every
    match), and they mean what they say: more confidence in the topic, more chance to answer;
    more in the off-topic classes, less (the build constrains them so, see DIRECTIONS)."""
    candidate, signals = base.decision_signals("combien de temps dure le parcours ?")
    assert candidate == "parcours.duree"
    calibration = base.calibration
    assert len(signals) == len(SIGNALS)
    used = {index for tree in calibration.trees for index in tree.feature if index >= 0}
    assert used <= set(range(len(SIGNALS)))
    probability, off_topic = signals[0], signals[1]
    surer = (min(1.0, probability + 0.2), *signals[1:])
    # A third of the topic's probability gone to the off-topic classes (the log of their ratio
    # follows: the signals of a real question always agree with one another).
    moved = probability / 3
    doubtful = (
        probability - moved,
        off_topic + moved,
        math.log((probability - moved + EPSILON) / (off_topic + moved + EPSILON)),
        *signals[3:],
    )
    chance = calibration.probability
    assert chance(surer) >= chance(signals) > chance(doubtful)
    assert chance(signals) >= calibration.threshold
    with pytest.raises(ValueError):
        chance(signals[:-1])


def test_decision_trees_are_read_as_written() -> None:
    """A tree sends the signals left at or under its split; leaves add to the log-odds."""
    tree = Tree(
        feature=(0, -1, -1),
        threshold=(0.5, 0.0, 0.0),
        left=(1, 0, 0),
        right=(2, 0, 0),
        value=(0.0, -1.0, 1.0),
    )
    low, high = (0.5,) + (0.0,) * (len(SIGNALS) - 1), (0.6,) + (0.0,) * (len(SIGNALS) - 1)
    assert tree(low) == -1.0 and tree(high) == 1.0
    calibration = Calibration(trees=(tree, tree), bias=0.5, threshold=0.5)
    assert calibration.probability(high) == pytest.approx(1 / (1 + math.exp(-2.5)))
    again = Calibration.from_json(calibration.to_json())
    assert again == calibration


def test_a_trust_topic_needs_even_odds_whatever_the_threshold() -> None:
    """A wrong answer on a trust topic costs more than an abstention: the threshold chosen for
    the weaker of top-1 and abstention does not lower the bar for results, participation, data."""
    signals = (1.0,) + (0.0,) * (len(SIGNALS) - 1)
    calibration = Calibration(trees=(), bias=math.log(0.4 / 0.6), threshold=0.3)
    assert calibration.probability(signals) == pytest.approx(0.4)
    assert calibration.answers("parcours.duree", signals)
    for topic in ("resultats.qui_voit", "participation.qui_voit", "donnees.bot"):
        assert not calibration.answers(topic, signals)
    assert calibration.needed("donnees.rgpd") == TRUST_THRESHOLD
    strict = Calibration(calibration.trees, 0.0, threshold=0.7)
    assert strict.needed("resultats.usage") == strict.needed("parcours.duree") == 0.7
