"""The numpy twin of river's one-vs-rest logistic regression against river itself.

river stays the reference: every test here runs river's own ``OneVsRestClassifier`` beside
the twin on the same stream and asserts the same weights, intercepts, probabilities and
predictions (bit for bit, which is within the 1e-9 the benchmark needs).
"""

from __future__ import annotations

import doctest
from operator import itemgetter

import numpy as np
import pytest
from river import linear_model, multiclass, optim

import ocrr.systems.river_logreg as river_logreg
import ocrr.systems.river_twin as river_twin
from ocrr.bench import get_policy, make_plan, run_cell
from ocrr.systems import RiverLogReg, make_system
from ocrr.systems.river_twin import OneVsRestLogRegTwin, sequential_column_dots


def _river(lr: float):  # noqa: ANN202 (river's type)
    return multiclass.OneVsRestClassifier(
        linear_model.LogisticRegression(optimizer=optim.SGD(lr))
    )


def _features(x: np.ndarray) -> dict[str, float]:
    return {f"f{i}": v for i, v in enumerate(np.asarray(x, dtype=np.float64).tolist())}


def _assert_same_models(twin: OneVsRestLogRegTwin, ref, dim: int) -> None:
    assert twin.labels == list(ref.classifiers)
    names = [f"f{i}" for i in range(dim)]
    every = itemgetter(*names)  # one C call a class (the test's cost was these lookups)
    W = np.array([every(w) if len(w) == dim else [w.get(f, 0.0) for f in names]
                  for w in (ref.classifiers[c].weights for c in twin.labels)])
    b = np.array([ref.classifiers[c].intercept for c in twin.labels])
    np.testing.assert_array_equal(twin.weights, W.T)
    np.testing.assert_array_equal(twin.intercepts, b)


def _stream(n: int, dim: int, classes: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """Unit float32 rows (as the benchmark's embeddings) around one centre per class; the
    classes appear one after another, so new classes arrive all along the stream."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim))
    which = np.minimum(rng.integers(0, classes, size=n), np.arange(n) * classes // n)
    which[np.arange(classes) * n // classes] = np.arange(classes)
    X = centres[which] + 0.8 * rng.normal(size=(n, dim))
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    return X, [f"c{i:02d}" for i in which]


@pytest.mark.parametrize("columns", [1, 2, 3, 8, 77, 150])
def test_sequential_column_dots_sum_left_to_right_like_rivers_dict_dot(columns: int):
    rng = np.random.default_rng(columns)
    W, x = rng.normal(size=(384, columns)), rng.normal(size=384)
    expected = []
    for j in range(columns):
        total = 0.0
        for i in range(384):
            total += W[i, j] * x[i]
        expected.append(total)
    np.testing.assert_array_equal(sequential_column_dots(W, x), expected)


@pytest.mark.parametrize(("lr", "scale"), [(0.01, 1.0), (0.5, 1.0), (2.0, 40.0)])
def test_twin_equals_river_after_every_learn(lr: float, scale: float):
    """20 classes in 384-d arriving along a 300-example stream: the same weights and
    intercepts after every learn_one, the same probabilities and predictions every 25.
    ``scale`` 40 with lr 2 drives the logits past the loss's 18 and the sigmoid's 30
    cut-offs."""
    dim = 384
    X, y = _stream(300, dim, 20, seed=int(lr * 100))
    X = X * np.float32(scale)
    queries = np.vstack([X[::7], np.random.default_rng(1).normal(size=(10, dim)) * scale])
    twin, ref = OneVsRestLogRegTwin(lr=lr), _river(lr)
    for step, (x, label) in enumerate(zip(X, y, strict=True), start=1):
        twin.learn_one(x, label)
        ref.learn_one(_features(x), label)
        _assert_same_models(twin, ref, dim)
        if step % 25 == 0 or step == 1:
            for q in queries:
                assert twin.predict_proba_one(q) == ref.predict_proba_one(_features(q))
                assert twin.predict_one(q) == ref.predict_one(_features(q))
    assert len(twin.labels) == 20


def test_twin_breaks_ties_and_all_zero_votes_as_river():
    """Logits past +-30 make sigmoids of exactly 1 (a tie: the first of them wins) or, all of
    them past -30, all 0 (river falls back to a uniform vote: the first class)."""
    X, y = _stream(60, 16, 5, seed=3)
    twin, ref = OneVsRestLogRegTwin(lr=1.0), _river(1.0)
    for x, label in zip(X, y, strict=True):
        twin.learn_one(x, label)
        ref.learn_one(_features(x), label)
    ties = all_zero = 0
    for q in np.vstack([np.zeros(16), np.random.default_rng(0).normal(size=(100, 16)) * 1e4]):
        proba = ref.predict_proba_one(_features(q))
        assert twin.predict_proba_one(q) == proba
        assert twin.predict_one(q) == ref.predict_one(_features(q))
        ties += list(proba.values()).count(max(proba.values())) > 1
        all_zero += bool((sequential_column_dots(twin.weights, q) + twin.intercepts < -30).all())
    assert ties > 10 and all_zero > 0


def test_twin_before_any_class_and_on_a_wrong_width():
    twin = OneVsRestLogRegTwin()
    assert twin.predict_one(np.ones(4)) is None
    assert twin.predict_proba_one(np.ones(4)) == {}
    assert twin.predict_many(np.ones((3, 4))) == [None, None, None]
    twin.learn_one(np.ones(4), "a")
    with pytest.raises(ValueError, match="4 features"):
        twin.learn_one(np.ones(5), "a")
    with pytest.raises(ValueError, match="4 features"):
        twin.predict_one(np.ones((1, 4)))


@pytest.mark.parametrize("module", [river_twin, river_logreg])
def test_docstring_examples_run(module):  # noqa: ANN001
    assert doctest.testmod(module).failed == 0


def test_river_logreg_twin_and_river_reference_fit_the_same_models(clusters):
    X, y, _ = clusters(6, 15, dim=48, seed=2)
    fast = RiverLogReg(lr=0.3, subsample=60, seed=4).fit(X, y)
    reference = RiverLogReg(lr=0.3, subsample=60, seed=4, impl="river").fit(X, y)
    for model in (fast, reference):
        model.correct(X[0], "new")
    labels, W, b = fast.parameters()
    ref_labels, ref_W, ref_b = reference.parameters()
    assert labels == ref_labels == fast.classes == reference.classes
    np.testing.assert_array_equal(W, ref_W)
    np.testing.assert_array_equal(b, ref_b)
    assert fast.predict_many(X) == reference.predict_many(X)
    assert [fast.predict_one(x) for x in X] == [reference.predict_one(x) for x in X]
    assert fast.storage_bytes() == reference.storage_bytes() == 8 * 7 * 49


def test_river_logreg_impl_by_name_and_unknown_impl():
    assert make_system("river_logreg").impl == "numpy"
    reference = make_system("river_logreg(impl=river)", seed=3)
    assert (reference.impl, reference.lr, reference.subsample, reference.seed) == (
        "river", 0.01, 3000, 3
    )
    with pytest.raises(ValueError, match="impl 'sklearn'"):
        RiverLogReg(impl="sklearn")


class _Recorder:
    """Delegates to a system and records every answer and correction the harness sees."""

    def __init__(self, inner: RiverLogReg) -> None:
        self.inner = inner
        self.log: list[tuple[str, object]] = []

    def fit(self, X: np.ndarray, y) -> _Recorder:  # noqa: ANN001
        self.inner.fit(X, y)
        return self

    def predict_one(self, x: np.ndarray) -> str | None:
        answer = self.inner.predict_one(x)
        self.log.append(("predict_one", answer))
        return answer

    def predict_many(self, X: np.ndarray) -> list[str | None]:
        answers = self.inner.predict_many(X)
        self.log.append(("checkpoint", answers))
        return answers

    def correct(self, x: np.ndarray, y: str) -> None:
        self.log.append(("correct", y))
        self.inner.correct(x, y)

    def storage_bytes(self) -> int:
        return self.inner.storage_bytes()


@pytest.mark.parametrize(
    ("policy", "name"),
    [("oracle", "river_logreg"), ("random50", "river_logreg(lr=0.5, subsample=150)")],
)
def test_run_cell_gives_the_same_predictions_with_the_twin_and_with_river(
    clusters, policy: str, name: str
):
    """The harness's own loop, once per implementation: the same answer to every stream item,
    the same corrections, the same predictions at every checkpoint, the same numbers."""
    X_train, y_train, centres = clusters(14, 20, dim=384, noise=0.6, seed=5)
    X_test, y_test, _ = clusters(14, 6, dim=384, noise=0.6, seed=6, centroids=centres)
    plan = make_plan(y_train, y_test, 0)
    results, logs = [], []
    for impl in ("numpy", "river"):
        params = name[len("river_logreg(") : -1] if "(" in name else ""
        system = _Recorder(make_system(f"river_logreg({params}, impl={impl})".replace("(, ", "(")))
        assert system.inner.impl == impl
        results.append(
            run_cell(
                system, X_train, y_train, X_test, y_test, plan, get_policy(policy), 0
            )
        )
        logs.append(system.log)
    assert logs[0] == logs[1]
    assert sum(kind == "checkpoint" for kind, _ in logs[0]) == 2 * len(results[0].checkpoints)
    assert sum(kind == "correct" for kind, _ in logs[0]) > 10

    def numbers(result):  # noqa: ANN001, ANN202
        return (
            [(c.step, c.corrections, c.acc_novel, c.acc_original) for c in result.checkpoints],
            result.n_correct,
            result.storage_bytes,
        )

    assert numbers(results[0]) == numbers(results[1])
