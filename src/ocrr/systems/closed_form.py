"""Closed-form learners over random features of a frozen encoder: KLDA, RanDumb, RanPAC.

Each keeps class statistics in a random feature space and one inverse matrix, and answers
with a linear map ``scores = phi(x) W + b``. A correction changes the inverse by one
rank-one term (:class:`~ocrr.systems.random_features.RankOneInverse`, Sherman-Morrison) and
``W`` by one outer product, so it costs ``O(dim^2)``, not the ``O(dim^3)`` of a refit, and
the result equals the batch solution over the same rows up to rounding.

- :class:`RandomFeatureLDA`: linear discriminant analysis over random Fourier features:
  class means and a shared within-class covariance (Welford's exact rank-one update as an
  example joins class ``c``: ``S += n/(n+1) (phi - m_c)(phi - m_c)^T``), scores
  ``phi^T P m_c - m_c^T P m_c / 2`` with ``P = (S + r I)^-1`` and uniform class priors. The
  statistics are sums, so the result does not depend on the order of the examples. It is
  **KLDA** (Momeni et al., AAAI 2025: Mahalanobis distance to class means in RFF space,
  which ranks classes as this discriminant does) with a fixed ``gamma`` and almost no
  shrinkage, and **RanDumb** (Prabhu et al., NeurIPS 2024: RFF with ``gamma="scale"``, then
  streaming LDA with OAS shrinkage) with ``shrinkage="oas"``.
- :class:`RandomProjectionRidge`: **RanPAC** (McDonnell et al., NeurIPS 2023): a random
  ReLU projection, then ridge regression onto one-hot targets, ``W = (G + lambda I)^-1 Q``
  with ``G`` the Gram matrix of the features (the decorrelation) and ``Q`` the class sums;
  ``lambda`` chosen at ``fit`` as RanPAC's code does (the first 80 % of the rows, in a
  seeded order, fit each of ``10^-8 ... 10^8``; the one with the least squared error on
  the other 20 % wins). A correction is one recursive-least-squares step.

The shrinkage is fixed when ``fit`` computes it (a float ``s`` or OAS, from the seed rows'
scatter) and held as a ridge while corrections stream in: that keeps every update an exact
rank-one one. Before any ``fit``, a correction starts from nothing with the ridge at the
first feature vector's mean squared entry (RanPAC: ``lambda = 1``).

>>> import numpy as np
>>> X = np.eye(4, dtype=np.float32)[[0, 0, 1, 1]] + 0.01
>>> lda = RandomFeatureLDA(dim=64, gamma=1.0, seed=0).fit(X, ["a", "a", "b", "b"])
>>> lda.predict_one(X[0])
'a'
>>> lda.correct(np.eye(4, dtype=np.float32)[2], "new")   # a new class, learned at once
>>> lda.predict_one(np.eye(4, dtype=np.float32)[2])
'new'
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ocrr.systems.random_features import RandomFeatures, RankOneInverse, oas_ridge
from ocrr.validation import CheckedInputs
from ocrr.vectors import LabelTable

RANPAC_RIDGES = tuple(10.0**e for e in range(-8, 9))
"""The ridge values RanPAC's ``optimise_ridge_parameter`` tries."""


class _FeatureClassifier(CheckedInputs):
    """Shared plumbing: the feature map, the label table, per-class counts and feature sums,
    the inverse and the linear map ``(W, b)`` kept up to date after every change.

    ``learns = "at_once"``, ``storage = "fixed"`` (a row per class, the inverse and the
    feature weights: corrections of known classes add nothing).
    """

    learns = "at_once"
    storage = "fixed"

    def __init__(self, features: RandomFeatures) -> None:
        self.features = features
        self._reset()

    def _reset(self) -> None:
        self.features.weights = self.features.offsets = None
        self._table = LabelTable()
        self.counts = np.zeros(0)
        self.sums = np.zeros((0, self.features.dim))
        self.inverse: RankOneInverse | None = None
        self.W = np.zeros((self.features.dim, 0))
        self.b = np.zeros(0)

    def _width(self) -> int | None:
        return self.features.width if self.inverse is not None else None

    @property
    def labels(self) -> list[str]:
        """The class labels, in column order."""
        return self._table.names

    # -- learning --------------------------------------------------------------------------
    def fit(self, X: np.ndarray, y: Sequence[str]) -> _FeatureClassifier:
        self._check_fit(X)
        if len(X) != len(y):
            raise ValueError(f"{len(X)} vectors but {len(y)} labels")
        self._reset()
        X = np.asarray(X, dtype=np.float64)
        self.features.draw(X)
        Phi = self.features.transform(X)
        codes = np.array([self._table.code(label) for label in y], dtype=np.int64)
        onehot = np.zeros((len(self._table), len(X)))
        onehot[codes, np.arange(len(X))] = 1.0
        self.counts = onehot.sum(axis=1)
        self.sums = onehot @ Phi
        self._fit_statistics(Phi, codes)
        self.b = np.zeros(len(self.counts))
        self._refresh_bias()
        return self

    def correct(self, x: np.ndarray, y: str) -> None:
        self._check_example(x, before_fit=True)
        x = np.asarray(x, dtype=np.float64)
        if self.inverse is None:  # the first example ever: draw the features from it
            self.features.draw(x[None, :])
            phi = self.features.transform(x)
            self.inverse = RankOneInverse(np.zeros((len(phi), len(phi))), self._empty_ridge(phi))
        else:
            phi = self.features.transform(x)
        self._learn(phi, self._code(y))
        self._refresh_bias()

    def _code(self, label: str) -> int:
        code = self._table.get(label)
        if code is None:
            code = self._table.code(label)
            self.counts = np.append(self.counts, 0.0)
            self.sums = np.vstack([self.sums, np.zeros((1, self.features.dim))])
            self.W = np.hstack([self.W, np.zeros((self.features.dim, 1))])
            self.b = np.append(self.b, 0.0)
        return code

    def _fit_statistics(self, Phi: np.ndarray, codes: np.ndarray) -> None:
        """Set :attr:`inverse` and :attr:`W` from the fit rows' features."""
        raise NotImplementedError

    def _empty_ridge(self, phi: np.ndarray) -> float:
        return max(float(phi @ phi) / len(phi), 1e-12)

    def _learn(self, phi: np.ndarray, code: int) -> None:
        """Add one example's features to class ``code``: statistics, inverse and ``W``."""
        raise NotImplementedError

    def _refresh_bias(self) -> None:
        """Recompute :attr:`b` from the statistics and ``W``."""

    # -- predicting ------------------------------------------------------------------------
    def scores(self, X: np.ndarray) -> np.ndarray:
        """``phi(X) W + b``: one column per class in :attr:`labels` order."""
        return self.features.transform(X) @ self.W + self.b

    def predict_many(self, X: np.ndarray) -> list[str | None]:
        self._check_many(X)
        return [self._table[int(i)] for i in self.scores(X).argmax(axis=1)]

    def predict_one(self, x: np.ndarray) -> str | None:
        self._check_one(x)
        return self._table[int(np.argmax(self.scores(x)))]

    def storage_bytes(self) -> int:
        """Feature weights, class statistics, the inverse and the linear map."""
        inverse = self.inverse.nbytes if self.inverse is not None else 0
        arrays = (self.counts, self.sums, self.W, self.b)
        return self.features.nbytes + inverse + sum(a.nbytes for a in arrays)

    def storage_entries(self) -> int:
        return 0


class RandomFeatureLDA(_FeatureClassifier):
    """Streaming LDA over random Fourier features (KLDA, RanDumb); see the module docs.

    Parameters
    ----------
    dim
        The number of random Fourier features.
    gamma
        The RBF kernel's ``exp(-gamma ||x - y||^2)``, or ``"scale"`` (RanDumb's
        ``1 / (width * var(X))`` over the fit rows).
    shrinkage
        ``s`` in ``(1 - s) C + s (trace(C) / dim) I`` (``C`` the pooled within-class
        covariance), or ``"oas"``: ``s`` by Oracle Approximating Shrinkage. Computed at
        ``fit`` and then held as a ridge (:func:`~ocrr.systems.random_features.oas_ridge`).
    seed
        Seeds the features.

    >>> import numpy as np
    >>> X = np.eye(3, dtype=np.float32)
    >>> RandomFeatureLDA(dim=32, shrinkage="oas").fit(X, ["a", "b", "c"]).predict_one(X[1])
    'b'
    """

    def __init__(self, dim: int = 1024, gamma: float | str = 1.0,
                 shrinkage: float | str = 1e-4, *, seed: int = 0) -> None:
        if shrinkage != "oas" and not (
            isinstance(shrinkage, int | float) and 0 <= shrinkage < 1
        ):
            raise ValueError(f"shrinkage must be in [0, 1) or 'oas', got {shrinkage!r}")
        self.shrinkage = shrinkage
        super().__init__(RandomFeatures("rff", dim, gamma, seed))

    def _fit_statistics(self, Phi: np.ndarray, codes: np.ndarray) -> None:
        scatter = Phi.T @ Phi - (self.sums.T / self.counts) @ self.sums
        dim = len(scatter)
        if self.shrinkage == "oas":
            ridge = oas_ridge(scatter, len(Phi))
        else:
            s = float(self.shrinkage)
            ridge = s / (1.0 - s) * float(np.trace(scatter)) / dim
        power = float(np.einsum("ij,ij->", Phi, Phi)) / Phi.size  # mean squared feature
        self.inverse = RankOneInverse(scatter, max(ridge, 1e-12 * power, 1e-300))
        self.W = self.inverse.apply(self.means().T)

    def means(self) -> np.ndarray:
        """(classes, dim) class means in feature space."""
        return self.sums / self.counts[:, None]

    def _learn(self, phi: np.ndarray, code: int) -> None:
        assert self.inverse is not None
        n = self.counts[code]
        if n == 0:  # a new class: its mean is phi, the shared scatter does not change
            self.counts[code], self.sums[code] = 1.0, phi
            self.W[:, code] = self.inverse.apply(phi)
            return
        u = phi - self.sums[code] / n
        a = n / (n + 1.0)
        k, beta = self.inverse.update(u, a)
        self.W -= np.outer(beta * k, self.means() @ k)  # P' m_j for every class j
        self.W[:, code] += k / ((1.0 + a * float(u @ k)) * (n + 1.0))  # P' (m_c + u/(n+1))
        self.counts[code] += 1.0
        self.sums[code] += phi

    def _refresh_bias(self) -> None:
        self.b = -0.5 * np.einsum("cd,dc->c", self.means(), self.W)


class RandomProjectionRidge(_FeatureClassifier):
    """RanPAC: ridge regression onto one-hot targets over a random ReLU projection; see the
    module docs.

    Parameters
    ----------
    dim
        The projection's width (RanPAC's ``M``).
    ridge
        ``lambda``, or ``"select"``: RanPAC's choice among :data:`RANPAC_RIDGES` at ``fit``.
    seed
        Seeds the projection and the 80/20 split of the ridge selection.

    >>> import numpy as np
    >>> X = np.eye(3, dtype=np.float32)
    >>> RandomProjectionRidge(dim=32, ridge=1.0).fit(X, ["a", "b", "c"]).predict_one(X[2])
    'c'
    """

    def __init__(self, dim: int = 1024, ridge: float | str = "select", *,
                 seed: int = 0) -> None:
        if ridge != "select" and not (isinstance(ridge, int | float) and ridge > 0):
            raise ValueError(f"ridge must be positive or 'select', got {ridge!r}")
        self.ridge = ridge
        self.seed = seed
        self.ridge_used: float | None = None
        super().__init__(RandomFeatures("relu", dim, seed=seed))

    def _fit_statistics(self, Phi: np.ndarray, codes: np.ndarray) -> None:
        ridge = self.select_ridge(Phi, codes) if self.ridge == "select" else float(self.ridge)
        self.ridge_used = ridge
        self.inverse = RankOneInverse(Phi.T @ Phi, ridge)
        self.W = self.inverse.apply(self.sums.T)

    def select_ridge(self, Phi: np.ndarray, codes: np.ndarray) -> float:
        """RanPAC's ``optimise_ridge_parameter``: fit on the first 80 % of the rows (here in a
        seeded order), least mean squared error on one-hot targets over the rest. One
        eigendecomposition serves every candidate. With fewer than 5 rows: 1.0."""
        n = len(Phi)
        cut = int(n * 0.8)
        if n < 5 or cut == n:
            return 1.0
        order = np.random.default_rng(self.seed).permutation(n)
        fit_rows, held_rows = order[:cut], order[cut:]
        targets = np.zeros((n, int(codes.max()) + 1))
        targets[np.arange(n), codes] = 1.0
        H = Phi[fit_rows]
        eigvals, V = np.linalg.eigh(H.T @ H)
        VtQ = V.T @ (H.T @ targets[fit_rows])
        held = Phi[held_rows] @ V
        losses = [
            float(np.mean((held @ (VtQ / (eigvals + r)[:, None]) - targets[held_rows]) ** 2))
            for r in RANPAC_RIDGES
        ]
        return RANPAC_RIDGES[int(np.argmin(losses))]

    def _empty_ridge(self, phi: np.ndarray) -> float:
        self.ridge_used = float(self.ridge) if self.ridge != "select" else 1.0
        return self.ridge_used

    def _learn(self, phi: np.ndarray, code: int) -> None:
        assert self.inverse is not None
        hW = phi @ self.W
        k, beta = self.inverse.update(phi, 1.0)
        self.W -= np.outer(beta * k, hW)  # P' Q
        self.W[:, code] += k / (1.0 + float(phi @ k))  # + P' h e_c^T
        self.counts[code] += 1.0
        self.sums[code] += phi


__all__ = ["RANPAC_RIDGES", "RandomFeatureLDA", "RandomProjectionRidge"]
