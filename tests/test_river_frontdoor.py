"""``ocrr.river.OcrrRiverClassifier``: river's own estimator checks, and the front door's
promises (corrections on an empty substrate, a fixed feature order, labels of any type)."""

from __future__ import annotations

import itertools
import math
import pickle

import pytest

river = pytest.importorskip("river")

from river import checks, datasets, evaluate, metrics, preprocessing  # noqa: E402

from ocrr.river import OcrrRiverClassifier  # noqa: E402

MODELS = [OcrrRiverClassifier(), OcrrRiverClassifier(vote="band")]
SKIPPED: dict[str, str] = {}
"""None: every check river's check_estimator yields for a multiclass classifier runs
(learn_many / predict_many checks do not apply: this is not a mini-batch classifier)."""


def _river_checks():
    for model in MODELS:
        for check in checks.yield_checks(model):
            yield pytest.param(model, check, id=f"{model.vote or 'hybrid'}-{check.__name__}")


@pytest.mark.parametrize(("model", "check"), list(_river_checks()))
def test_river_estimator_checks(model, check):
    if check.__name__ in SKIPPED:
        pytest.skip(SKIPPED[check.__name__])
    check(model.clone())


def test_first_examples_are_corrections_on_an_empty_substrate():
    model = OcrrRiverClassifier()
    assert model.substrate is None and model.predict_proba_one({"a": 1.0}) == {}
    model.learn_one({"a": 1.0, "b": 0.0}, "yes")
    ledger = model.substrate.ledger
    assert len(ledger) == 1 and ledger[0].provenance["source"] == "correction"
    assert model.predict_one({"a": 2.0, "b": 0.1}) == "yes"
    assert model.predict_proba_one({"a": 2.0}) == {"yes": 1.0}


def test_the_feature_order_is_fixed_by_the_first_x():
    model = OcrrRiverClassifier(vote="band", k=1)
    model.learn_one({"b": 0.0, "a": 1.0}, "a-ish")
    model.learn_one({"a": 0.0, "b": 1.0, "c": 50.0}, "b-ish")  # c is not a column: ignored
    assert model.features == ("a", "b")
    assert model.predict_one({"b": 1.0}) == "b-ish"  # a missing feature is 0
    assert model.predict_one({"c": 1.0}) is None  # nothing it knows: cannot be placed
    model.learn_one({"c": 3.0}, "c-ish")  # skipped, as it cannot be placed
    assert len(model.substrate.ledger) == 2


@pytest.mark.parametrize("vote", ["hybrid", "band"])
def test_probabilities_cover_the_labels_seen_and_agree_with_predict_one(vote):
    model = OcrrRiverClassifier(vote=vote)
    stream = list(datasets.ImageSegments().take(150))
    for x, y in stream[:100]:
        model.learn_one(x, y)
    seen = {y for _, y in stream[:100]}
    for x, _ in stream[100:]:
        proba = model.predict_proba_one(x)
        assert set(proba) == seen and math.isclose(sum(proba.values()), 1.0)
        assert max(proba, key=proba.get) == model.predict_one(x)


def test_labels_of_any_type_and_pickling():
    model = OcrrRiverClassifier(vote="band")
    for x, y in itertools.islice(datasets.Phishing(), 60):
        model.learn_one(x, y)
    x = next(iter(datasets.Phishing()))[0]
    assert isinstance(model.predict_one(x), bool)
    again = pickle.loads(pickle.dumps(model))
    assert again.predict_proba_one(x) == model.predict_proba_one(x)
    model.learn_one({"a": 1.0}, 1)
    with pytest.raises(ValueError, match="read"):
        model.learn_one({"a": 1.0}, "1")


def test_progressive_validation_in_a_pipeline():
    pipeline = preprocessing.StandardScaler() | OcrrRiverClassifier()
    score = evaluate.progressive_val_score(
        datasets.Phishing().take(400), pipeline, metrics.Accuracy()
    )
    assert score.get() > 0.75
