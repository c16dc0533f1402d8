"""kNN-LM's mixture and river's one-vs-rest logistic regression."""

from __future__ import annotations

import numpy as np
import pytest

from ocrr.systems import KNNLM, RiverLogReg
from ocrr.systems.linear import _softmax


def _unit(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    return X / np.linalg.norm(X, axis=-1, keepdims=True)


def _blobs(n_per: int = 10, dim: int = 12, classes: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim))
    X = _unit(np.concatenate([c + 0.4 * rng.normal(size=(n_per, dim)) for c in centres]))
    y = [f"c{i}" for i in range(classes) for _ in range(n_per)]
    return X, y


def test_knn_lm_mixes_the_frozen_head_with_a_temperature_softmax_over_neighbours():
    X, y = _blobs()
    model = KNNLM(k=4, lam=0.3, tau=0.2).fit(X, y)
    new = _unit(np.random.default_rng(1).normal(size=(1, X.shape[1])))[0]
    model.correct(new, "new")
    store = np.vstack([X, new[None, :]])
    labels = [*y, "new"]
    classes = [*model.head.classes, "new"]
    queries = _unit(np.random.default_rng(2).normal(size=(25, X.shape[1])))
    expected = []
    for q in queries:
        p = np.zeros(len(classes))
        p[:-1] = 0.7 * model.head.predict_proba(q[None, :])[0]
        sims = store @ q
        top = np.argsort(-sims, kind="stable")[:4]
        weights = _softmax((sims[top] / 0.2)[None, :].astype(np.float64))[0]
        for row, w in zip(top, weights, strict=True):
            p[classes.index(labels[row])] += 0.3 * w
        expected.append(classes[int(np.argmax(p))])
    assert model.predict_many(queries) == expected
    assert [model.predict_one(q) for q in queries] == expected


def test_knn_lm_head_stays_frozen_and_the_datastore_grows():
    X, y = _blobs()
    model = KNNLM().fit(X, y)
    W = model.head.W.copy()
    before = model.storage_bytes()
    v = _unit(np.ones((1, X.shape[1])))[0]
    model.correct(v, "new")
    np.testing.assert_array_equal(model.head.W, W)
    assert model.storage_entries() == len(X) + 1
    assert model.storage_bytes() == before + 4 * X.shape[1] + 8
    # the corrected vector is its own nearest neighbour with similarity 1: its label takes
    # nearly all of the kNN half, more than the head's best guess can outweigh
    for _ in range(2):
        model.correct(v, "new")
    assert model.predict_one(v) == "new"


@pytest.mark.parametrize("impl", ["numpy", "river"])
def test_river_predict_many_agrees_with_river_predict_one(impl: str):
    X, y = _blobs()
    model = RiverLogReg(subsample=20, seed=0, impl=impl).fit(X, y)
    v = _unit(np.ones((1, X.shape[1])))[0]
    model.correct(v, "new")
    queries = np.vstack([X, _unit(np.random.default_rng(3).normal(size=(20, X.shape[1])))])
    assert model.predict_many(queries) == [model.predict_one(q) for q in queries]


@pytest.mark.parametrize("impl", ["numpy", "river"])
def test_river_learns_a_new_class_per_correction_and_unlearns_the_others(impl: str):
    X, y = _blobs()
    model = RiverLogReg(lr=0.5, subsample=1000, seed=0, impl=impl).fit(X, y)
    assert model.classes == ["c0", "c1", "c2"]
    accuracy_before = np.mean(np.array(model.predict_many(X)) == np.array(y))
    v = _unit(np.ones((1, X.shape[1])))[0]
    for _ in range(30):
        model.correct(v, "new")
    assert model.predict_one(v) == "new"
    # every learn_one also showed each old class's binary model a negative example
    accuracy_after = np.mean(np.array(model.predict_many(X)) == np.array(y))
    assert accuracy_after < accuracy_before
    assert model.storage_bytes() == 8 * 4 * (X.shape[1] + 1)


@pytest.mark.parametrize("impl", ["numpy", "river"])
def test_river_seed_pass_uses_a_seeded_subsample(impl: str):
    X, y = _blobs()

    def weights(seed: int, subsample: int) -> dict:
        labels, W, b = RiverLogReg(subsample=subsample, seed=seed, impl=impl).fit(X, y).parameters()
        return {c: (W[:, j].tolist(), b[j]) for j, c in enumerate(labels)}

    assert weights(0, 12) == weights(0, 12)
    assert weights(0, 12) != weights(1, 12)
    assert weights(0, 1000) != weights(0, 12)
