"""``ocrr.sklearn.OcrrClassifier``: scikit-learn's estimator checks, and the front door's own
promises (fresh fit, appending partial_fit, new classes at once, probabilities, texts)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from ocrr.encoders import TfidfEncoder
from ocrr.errors import NotFittedError
from ocrr.sklearn import OcrrClassifier

SKIPPED = {
    # (the checks that are not run, and why; everything else scikit-learn has for a
    # classifier runs and passes)
    "check_estimators_dtypes": (
        "fits integer data drawn from {0, 1, 2}, whose row 15 is all zeros: the substrate "
        "compares directions (cosine), undefined for a zero vector, so it refuses the row "
        "(ValueError 'row 15 is all zeros'); float32 and float64 data pass"
    ),
}
"""Also skipped by scikit-learn itself in this environment: check_array_api_input
(SCIPY_ARRAY_API unset) and check_classifier_data_not_an_array (pandas not installed). The
hybrid rule is tagged ``poor_score``: its seed head fits sklearn's standardised 2-D blobs at
0.75 (the accuracy check wants 0.83; the band rule reaches 0.94), so check_classifiers_train
runs without its accuracy threshold for it."""


@parametrize_with_checks(
    [OcrrClassifier(), OcrrClassifier(vote="band")],
    expected_failed_checks=lambda estimator: SKIPPED,
)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def clusters(n: int, classes: int = 4, dim: int = 8, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((classes, dim))
    y = rng.integers(0, classes, n)
    return centres[y] + 0.1 * rng.standard_normal((n, dim)), y


@pytest.mark.parametrize("vote", ["hybrid", "band"])
def test_predict_proba_columns_follow_classes_and_agree_with_predict(vote):
    X, y = clusters(160)
    X, y, T, ty = X[:120], y[:120], X[120:], y[120:]
    labels = np.array(["card", "rate", "close", "limit"])[y]
    clf = OcrrClassifier(vote=vote).fit(X, labels)
    assert clf.classes_.tolist() == ["card", "close", "limit", "rate"]
    assert clf.n_features_in_ == 8
    proba = clf.predict_proba(T)
    assert proba.shape == (40, 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    predicted = clf.predict(T)
    assert (clf.classes_[proba.argmax(axis=1)] == predicted).all()
    assert (predicted == np.array(["card", "rate", "close", "limit"])[ty]).mean() > 0.9
    first = clf.substrate_.predict(T[0])  # the substrate's own answer and confidence
    assert predicted[0] == first.label
    assert proba[0, list(clf.classes_).index(first.label)] == pytest.approx(first.confidence)


def test_band_probabilities_are_the_band_votes_shares():
    X = np.array([[1.0, 0.0], [1.0, 0.01], [1.0, 0.02], [0.0, 1.0]])
    clf = OcrrClassifier(vote="band", k=3).fit(X, ["a", "a", "b", "c"])
    # the three nearest all fall in the band: two votes for a, one for b
    np.testing.assert_allclose(clf.predict_proba([[1.0, 0.005]])[0], [2 / 3, 1 / 3, 0.0])


def test_integer_labels_round_trip():
    X, y = clusters(60, classes=3)
    clf = OcrrClassifier().fit(X, y + 10)
    assert clf.classes_.tolist() == [10, 11, 12]
    assert set(clf.predict(X).tolist()) <= {10, 11, 12}
    assert clf.substrate_.labels and all(isinstance(v, str) for v in clf.substrate_.labels)


def test_fit_starts_again_and_partial_fit_appends_new_classes_at_once():
    X, y = clusters(60, classes=3)
    clf = OcrrClassifier(vote="band").fit(X, y)
    size = len(clf.substrate_.ledger)
    novel = np.full((1, 8), 5.0)
    clf.partial_fit(novel, [7])
    assert len(clf.substrate_.ledger) == size + 1
    assert clf.classes_.tolist() == [0, 1, 2, 7]
    assert clf.predict(novel * 1.01).tolist() == [7]
    assert clf.predict_proba(novel).shape == (1, 4)
    clf.fit(X[:10], y[:10])  # a fresh ledger
    assert len(clf.substrate_.ledger) == 10 and 7 not in clf.classes_


def test_partial_fit_from_scratch_with_classes_ahead():
    X, y = clusters(40, classes=2)
    clf = OcrrClassifier(vote="band")
    for start in range(0, 40, 10):
        clf.partial_fit(X[start : start + 10], y[start : start + 10], classes=[0, 1, 2])
    assert clf.classes_.tolist() == [0, 1, 2]
    assert len(clf.substrate_.ledger) == 40
    assert clf.predict_proba(X[:3]).shape == (3, 3)
    with pytest.raises(ValueError, match="features"):
        clf.partial_fit(X[:2, :4], y[:2])


def test_predicting_before_fit_raises_both_not_fitted_errors():
    for method in ("predict", "predict_proba"):
        with pytest.raises(NotFittedError):
            getattr(OcrrClassifier(), method)([[1.0, 0.0]])
        with pytest.raises(SklearnNotFittedError):
            getattr(OcrrClassifier(), method)([[1.0, 0.0]])


def test_texts_with_a_tfidf_encoder_object_left_unchanged():
    texts = [f"topic{c} text {i} about topic{c}" for c in range(3) for i in range(5)]
    labels = [f"c{c}" for c in range(3) for _ in range(5)]
    encoder = TfidfEncoder(dim=8)
    clf = OcrrClassifier(vote="band", k=1, encoder=encoder).fit(texts, labels)
    assert encoder.identity.endswith(":unfitted")  # the parameter was copied, then fitted
    assert clf.encoder_.identity != encoder.identity
    assert clf.predict(["about topic2 again"]).tolist() == ["c2"]
    clf.partial_fit(["topic1 topic2 text"], ["c9"])  # words it knows, a class it does not
    assert clf.predict(["topic1 topic2 text"]).tolist() == ["c9"]
    with pytest.raises(ValueError, match="vectors"):
        OcrrClassifier().fit(np.eye(3), [0, 1, 2]).predict(["a text"])


def test_works_inside_scikit_learn_tools():
    X, y = clusters(90, classes=3)
    scores = cross_val_score(make_pipeline(StandardScaler(), OcrrClassifier(vote="band")), X, y,
                             cv=3)
    assert scores.mean() > 0.9
    search = GridSearchCV(OcrrClassifier(), {"mix": [0.2, 0.6]}, cv=3).fit(X, y)
    assert search.best_params_["mix"] in (0.2, 0.6)
    assert clone(OcrrClassifier(vote="band", k=3)).get_params()["k"] == 3
