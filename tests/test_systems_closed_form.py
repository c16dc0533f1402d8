"""The closed-form baselines' update rules: KLDA / RanDumb (random-feature LDA), RanPAC
(random-projection ridge head), FeCAM; and their shared parts (random features, the
rank-one inverse, the OAS ridge)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import labelled_clusters
from ocrr.systems import FeCAM, RandomFeatureLDA, RandomProjectionRidge, make_system
from ocrr.systems.closed_form import RANPAC_RIDGES
from ocrr.systems.random_features import RandomFeatures, RankOneInverse, oas_ridge


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


def _stream(n_fit: int = 120, n_new: int = 40, dim: int = 12, seed: int = 0):
    """Fit rows of classes c0-c4, and corrections of known classes and of two new ones."""
    X, y, _ = labelled_clusters(n_fit + n_new, dim=dim, classes=5, seed=seed)
    later = [f"new{i % 2}" if i % 3 == 0 else label for i, label in enumerate(y[n_fit:])]
    return X[:n_fit], y[:n_fit], X[n_fit:], later


# -- shared parts ---------------------------------------------------------------------------


def test_rank_one_inverse_equals_inverting_afresh():
    rng = np.random.default_rng(0)
    B = rng.standard_normal((30, 8))
    A = B.T @ B
    inverse = RankOneInverse(A, ridge=0.5)
    for _ in range(50):
        u, a = rng.standard_normal(8), float(rng.uniform(0.1, 2.0))
        inverse.update(u, a)
        A = A + a * np.outer(u, u)
    assert _rel(inverse.matrix, np.linalg.inv(A + 0.5 * np.eye(8))) < 1e-9
    assert _rel(inverse.matrix, inverse.matrix.T) < 1e-12


def test_random_fourier_features_approximate_the_rbf_kernel():
    X = np.random.default_rng(1).standard_normal((6, 5)) * 0.4
    features = RandomFeatures("rff", dim=40_000, gamma=0.7, seed=0)
    Phi = features.transform(X)
    kernel = np.exp(-0.7 * ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1))
    assert np.abs(Phi @ Phi.T - kernel).max() < 0.03


def test_gamma_scale_is_scikit_learns_rule():
    X = np.random.default_rng(2).standard_normal((50, 7))
    features = RandomFeatures("rff", dim=4, gamma="scale")
    features.draw(X)
    assert features.gamma_used == pytest.approx(1.0 / (7 * X.var()))


def test_oas_ridge_matches_scikit_learns_oas():
    from sklearn.covariance import OAS

    X = np.random.default_rng(3).standard_normal((40, 10)) @ np.diag(np.linspace(0.2, 3, 10))
    oas = OAS(assume_centered=True).fit(X)
    n, emp = len(X), X.T @ X / len(X)
    mu = np.trace(emp) / 10
    ridge = oas_ridge(X.T @ X, n)
    # (1 - rho) emp + rho mu I  ==  (1 - rho) / n * (scatter + ridge I)
    rho = oas.shrinkage_
    assert np.allclose((1 - rho) / n * (X.T @ X + ridge * np.eye(10)), oas.covariance_)
    assert ridge == pytest.approx(rho / (1 - rho) * n * mu)


# -- random-feature LDA (klda, randumb) ---------------------------------------------------------


@pytest.mark.parametrize("shrinkage", [1e-3, "oas"])
def test_lda_corrections_equal_the_batch_solution(shrinkage):
    X, y, later, later_y = _stream()
    lda = RandomFeatureLDA(dim=64, gamma=0.5, shrinkage=shrinkage, seed=3).fit(X, y)
    assert lda.inverse is not None
    ridge = lda.inverse.ridge
    for x, label in zip(later, later_y, strict=True):
        lda.correct(x, label)
    # the batch solution over all rows, with the ridge fit chose
    Phi = lda.features.transform(np.vstack([X, later]))
    labels = np.array(list(y) + later_y)
    means = np.stack([Phi[labels == c].mean(axis=0) for c in lda.labels])
    centred = Phi - means[[lda.labels.index(c) for c in labels]]
    P = np.linalg.inv(centred.T @ centred + ridge * np.eye(64))
    W = P @ means.T
    assert _rel(lda.inverse.matrix, P) < 1e-9
    assert _rel(lda.W, W) < 1e-9
    assert _rel(lda.b, -0.5 * np.einsum("cd,dc->c", means, W)) < 1e-9


def test_lda_is_order_independent():
    X, y, later, later_y = _stream(seed=1)
    a = RandomFeatureLDA(dim=48, gamma=1.0, seed=0).fit(X, y)
    b = RandomFeatureLDA(dim=48, gamma=1.0, seed=0).fit(X, y)
    for i in range(len(later)):
        a.correct(later[i], later_y[i])
    for i in np.random.default_rng(5).permutation(len(later)):
        b.correct(later[i], later_y[i])
    order = [b.labels.index(c) for c in a.labels]
    assert _rel(b.W[:, order], a.W) < 1e-9
    assert _rel(b.b[order], a.b) < 1e-9
    assert a.predict_many(X) == b.predict_many(X)


def test_lda_learns_a_new_class_from_one_correction():
    X, y, later, _ = _stream(seed=2)
    lda = make_system("klda", 0).fit(X, y)
    lda.correct(later[0], "brand_new")
    assert lda.predict_one(later[0]) == "brand_new"


# -- RanPAC ---------------------------------------------------------------------------------


def test_ranpac_corrections_equal_the_batch_ridge_solution():
    X, y, later, later_y = _stream(seed=4)
    head = RandomProjectionRidge(dim=40, ridge="select", seed=1).fit(X, y)
    lam = head.ridge_used
    assert lam in RANPAC_RIDGES
    for x, label in zip(later, later_y, strict=True):
        head.correct(x, label)
    H = head.features.transform(np.vstack([X, later]))
    labels = list(y) + later_y
    targets = np.zeros((len(labels), len(head.labels)))
    targets[np.arange(len(labels)), [head.labels.index(c) for c in labels]] = 1.0
    W = np.linalg.solve(H.T @ H + lam * np.eye(40), H.T @ targets)
    assert _rel(head.W, W) < 1e-9


def test_ranpac_selects_the_ridge_with_least_held_out_error():
    X, y, _, _ = _stream(n_fit=150, seed=6)
    head = RandomProjectionRidge(dim=30, seed=2)
    head.features.draw(X)
    H = head.features.transform(X)
    codes = np.array([sorted(set(y)).index(c) for c in y])
    order = np.random.default_rng(2).permutation(len(H))
    fit_rows, held = order[:120], order[120:]
    T = np.eye(5)[codes]
    losses = [
        np.mean((H[held] @ np.linalg.solve(H[fit_rows].T @ H[fit_rows] + r * np.eye(30),
                                           H[fit_rows].T @ T[fit_rows]) - T[held]) ** 2)
        for r in RANPAC_RIDGES
    ]
    assert head.select_ridge(H, codes) == RANPAC_RIDGES[int(np.argmin(losses))]


# -- FeCAM ----------------------------------------------------------------------------------


def test_fecam_covariance_is_the_shrunk_normalised_blend():
    X, y, _, _ = _stream(seed=7)
    fecam = FeCAM(prior=4.0).fit(X, y)
    labels = np.array(y)
    rows = X[labels == "c1"].astype(np.float64)
    pooled = sum(np.cov(X[labels == c].T.astype(np.float64)) * ((labels == c).sum() - 1)
                 for c in set(y)) / (len(X) - 5)
    n = len(rows)
    cov = ((n - 1) * np.cov(rows.T) + 4.0 * pooled) / (n - 1 + 4.0)
    assert np.allclose(fecam.covariance(fecam.labels.index("c1")), _shrunk_correlation(cov),
                       atol=1e-10)


def test_fecam_correction_of_a_new_class_is_learned_at_once_and_touches_only_it():
    X, y, later, _ = _stream(seed=8)
    fecam = FeCAM().fit(X, y)
    before = [fecam.precision(c).copy() for c in range(len(fecam.labels))]
    fecam.correct(later[0], "brand_new")
    assert fecam.predict_one(later[0]) == "brand_new"
    assert all(np.array_equal(fecam.precision(c), p) for c, p in enumerate(before))
    # one example: its covariance is the shared one, shrunk and normalised
    assert np.allclose(fecam.covariance(fecam.labels.index("brand_new")),
                       _shrunk_correlation(fecam.shared), atol=1e-12)


def _shrunk_correlation(cov: np.ndarray) -> np.ndarray:
    off = 1 - np.eye(len(cov))
    cov = cov + np.mean(np.diag(cov)) * np.eye(len(cov)) + cov[off == 1].mean() * off
    return cov / np.sqrt(np.outer(np.diag(cov), np.diag(cov)))


def test_fecam_repeated_batches_give_the_same_distances_as_fresh_ones():
    X, y, later, later_y = _stream(seed=9)
    fecam = FeCAM().fit(X, y)
    queries = X[:30]
    fecam.distances(queries)  # kept
    for x, label in zip(later[:10], later_y[:10], strict=True):
        fecam.correct(x, label)
    again = fecam.distances(queries)  # the changed classes' columns recomputed
    fresh = FeCAM().fit(X, y)
    for x, label in zip(later[:10], later_y[:10], strict=True):
        fresh.correct(x, label)
    assert np.allclose(again, fresh.distances(queries), rtol=1e-5, atol=1e-5)
    assert [fecam.distances(q)[0].argmin() for q in queries[:5]] == [
        fresh.distances(q)[0].argmin() for q in queries[:5]
    ]


@pytest.mark.parametrize("module", ["closed_form", "random_features", "fecam"])
def test_the_modules_examples_run(module):
    import doctest
    import importlib

    assert doctest.testmod(importlib.import_module(f"ocrr.systems.{module}")).failed == 0
