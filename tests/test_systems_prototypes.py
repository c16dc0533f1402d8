"""Class statistics (add and remove exactly), nearest class mean, streaming LDA, GDumb."""

from __future__ import annotations

import numpy as np
import pytest

from ocrr.systems import ClassStatistics, GDumb, NearestClassMean, StreamingLDA


def _blobs(n_per: int = 15, dim: int = 6, classes: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim))
    X = np.concatenate([c + 0.4 * rng.normal(size=(n_per, dim)) for c in centres])
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    y = [f"c{i}" for i in range(classes) for _ in range(n_per)]
    order = rng.permutation(len(X))
    return X[order], [y[i] for i in order]


def _within_scatter(X: np.ndarray, y: list[str]) -> np.ndarray:
    X = X.astype(np.float64)
    out = np.zeros((X.shape[1], X.shape[1]))
    for label in set(y):
        rows = X[[i for i, t in enumerate(y) if t == label]]
        centred = rows - rows.mean(axis=0)
        out += centred.T @ centred
    return out


def test_statistics_are_the_counts_sums_and_scatter_of_what_was_added():
    X, y = _blobs()
    stats = ClassStatistics()
    stats.add_many(X[:30], y[:30])
    for x, label in zip(X[30:], y[30:], strict=True):
        stats.add(x, label)
    for i, label in enumerate(stats.labels):
        rows = X[[j for j, t in enumerate(y) if t == label]].astype(np.float64)
        assert stats.counts[i] == len(rows)
        np.testing.assert_allclose(stats.sums[i], rows.sum(axis=0))
    np.testing.assert_allclose(stats.scatter, X.T.astype(np.float64) @ X)
    np.testing.assert_allclose(stats.within_scatter(), _within_scatter(X, y), atol=1e-10)
    np.testing.assert_allclose(stats.covariance(), _within_scatter(X, y) / len(X), atol=1e-12)


def test_removing_an_example_undoes_adding_it():
    X, y = _blobs()
    stats = ClassStatistics()
    stats.add_many(X, y)
    for x, label in zip(X[::3], y[::3], strict=True):
        stats.remove(x, label)
    kept = [i for i in range(len(X)) if i % 3]
    fresh = ClassStatistics()
    fresh.add_many(X[kept], [y[i] for i in kept])
    order = [stats.labels.index(label) for label in fresh.labels]
    np.testing.assert_allclose(stats.counts[order], fresh.counts)
    np.testing.assert_allclose(stats.sums[order], fresh.sums, atol=1e-12)
    np.testing.assert_allclose(stats.within_scatter(), fresh.within_scatter(), atol=1e-10)


def test_a_class_emptied_by_removal_is_absent_and_removing_too_much_fails():
    stats = ClassStatistics(scatter=False)
    x = np.array([1.0, 0.0], dtype=np.float32)
    stats.add(x, "a")
    stats.add(np.array([0.0, 1.0]), "b")
    stats.remove(x, "a")
    assert stats.present.tolist() == [False, True]
    with pytest.raises(ValueError, match="no example"):
        stats.remove(x, "a")
    with pytest.raises(ValueError, match="no example"):
        stats.remove(x, "never")


def test_ncm_keeps_running_means_and_learns_a_new_class_from_one_correction():
    X, y = _blobs()
    ncm = NearestClassMean().fit(X[:40], y[:40])
    ncm.correct(X[40], y[40])
    code = ncm.stats.labels.index(y[40])
    rows = [i for i in range(41) if y[i] == y[40]]
    np.testing.assert_allclose(ncm.stats.means()[code], X[rows].mean(axis=0), atol=1e-6)
    v = np.zeros(X.shape[1], dtype=np.float32)
    v[0] = 1.0
    assert ncm.predict_one(v) != "new"
    ncm.correct(v, "new")
    assert ncm.predict_one(v) == "new"
    assert ncm.predict_many(v[None, :]) == ["new"]


def test_ncm_predicts_by_cosine_to_the_class_means():
    X, y = _blobs()
    ncm = NearestClassMean().fit(X, y)
    means = ncm.stats.means()
    cos = (X @ means.T) / np.linalg.norm(means, axis=1)
    expected = [ncm.stats.labels[i] for i in cos.argmax(axis=1)]
    assert ncm.predict_many(X) == expected


def test_slda_scores_are_the_shrunk_lda_discriminant():
    X, y = _blobs()
    slda = StreamingLDA(shrinkage=0.05).fit(X, y)
    means = slda.stats.means()
    cov = _within_scatter(X, y) / len(X)
    precision = np.linalg.inv(0.95 * cov + 0.05 * np.eye(len(cov)))
    scores = X @ precision @ means.T - 0.5 * np.einsum("cd,de,ce->c", means, precision, means)
    assert slda.predict_many(X) == [slda.stats.labels[i] for i in scores.argmax(axis=1)]


def test_slda_streaming_one_at_a_time_equals_fitting_on_everything():
    X, y = _blobs()
    streamed = StreamingLDA().fit(X[:20], y[:20])
    for x, label in zip(X[20:], y[20:], strict=True):
        streamed.correct(x, label)
    batch = StreamingLDA().fit(X, y)
    queries = np.random.default_rng(5).normal(size=(50, X.shape[1])).astype(np.float32)
    assert streamed.predict_many(queries) == batch.predict_many(queries)
    streamed._refresh()
    batch._refresh()
    order = [streamed._classes.index(c) for c in batch._classes]
    np.testing.assert_allclose(streamed._W[:, order], batch._W, rtol=1e-4, atol=1e-3)


def test_slda_learns_a_new_class_from_one_correction():
    X, y = _blobs()
    slda = StreamingLDA().fit(X, y)
    v = X[0] + X[17] - X[33]
    slda.correct(v, "new")
    # one example: its mean is v itself, the nearest mean in the Mahalanobis sense
    assert slda.predict_one(v) == "new"


def test_slda_storage_counts_statistics_and_the_cached_classifier():
    X, y = _blobs()
    slda = StreamingLDA().fit(X, y)
    slda.predict_one(X[0])
    d, c = X.shape[1], 4
    assert slda.storage_bytes() == 8 * (c + c * d + d * d) + 4 * (d * c + c)


def test_gdumb_statistics_always_equal_those_of_its_memory():
    X, y = _blobs(n_per=30)
    gdumb = GDumb(budget=20, seed=0).fit(X, y)
    v = np.ones(X.shape[1], dtype=np.float32) / np.sqrt(X.shape[1])
    for _ in range(3):
        gdumb.correct(v, "new")
    assert len(gdumb.memory) == 20
    # 4 classes of 5 each, then each of the 3 new items evicts from a largest class
    assert sorted(gdumb.memory.class_counts().values()) == [3, 4, 4, 4, 5]
    fresh = ClassStatistics()
    labels = [gdumb._labels[c] for c in gdumb.memory.codes]
    fresh.add_many(gdumb.memory.vectors, labels)
    stats = gdumb.classifier.stats
    order = [stats.labels.index(label) for label in fresh.labels]
    np.testing.assert_allclose(stats.counts[order], fresh.counts)
    np.testing.assert_allclose(stats.sums[order], fresh.sums, atol=1e-9)
    np.testing.assert_allclose(stats.scatter, fresh.scatter, atol=1e-9)
    assert gdumb.predict_one(v) == "new"
    assert gdumb.storage_entries() == 20
    assert gdumb.storage_bytes() > gdumb.memory.nbytes
