"""Classifiers built from running class statistics: nearest class mean and streaming LDA.

Over a frozen encoder these are the natural streaming baselines: a correction updates a
class's count and sum (and a shared scatter matrix) exactly, a new class is one more row, and
nothing is forgotten because nothing is overwritten.

- :class:`NearestClassMean`: cosine to each class's running mean.
- :class:`StreamingLDA` (Hayes & Kanan 2020, "Lifelong machine learning with deep streaming
  linear discriminant analysis"): class means and one shared covariance, shrunk towards the
  identity, updated per correction.

Both sit on :class:`ClassStatistics`, which holds *exact sufficient statistics* (counts,
sums, total scatter) and supports removing an example as exactly as adding it, so the same
code can be driven from any add/revoke log: a ledger, or a bounded memory's evictions
(:mod:`ocrr.systems.gdumb`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ocrr.validation import CheckedInputs
from ocrr.vectors import LabelTable, normalise


class ClassStatistics:
    """Per-class count and sum of vectors, and (optionally) the total scatter ``sum x x^T``.

    All in float64. ``add`` then ``remove`` of the same (x, label) restores the statistics up
    to rounding; a class whose count falls to zero stays in the label table but is empty
    (:attr:`present` is False for it). ``version`` increases on every change, so derived
    classifiers know when to recompute.
    """

    def __init__(self, *, scatter: bool = True) -> None:
        self.track_scatter = scatter
        self._table = LabelTable()
        self.counts = np.zeros(0, dtype=np.float64)
        self.sums = np.zeros((0, 0), dtype=np.float64)
        self.scatter: np.ndarray | None = None
        self.version = 0

    @property
    def labels(self) -> list[str]:
        """The class labels, in row order."""
        return self._table.names

    # -- updating ------------------------------------------------------------------------
    def code(self, label: str) -> int:
        """The row of ``label``, adding an empty class for a new label."""
        code = self._table.get(label)
        if code is None:
            code = self._table.code(label)
            self.counts = np.append(self.counts, 0.0)
            dim = self.sums.shape[1]
            self.sums = np.vstack([self.sums, np.zeros((1, dim))])
        return code

    def _ensure_dim(self, dim: int) -> None:
        if self.sums.shape[1] == 0 and dim:
            self.sums = np.zeros((len(self.labels), dim))
            if self.track_scatter:
                self.scatter = np.zeros((dim, dim))
        elif self.sums.shape[1] != dim:
            raise ValueError(f"expected vectors of dimension {self.sums.shape[1]}, got {dim}")

    def add_many(self, X: np.ndarray, labels: Sequence[str]) -> None:
        X = np.asarray(X, dtype=np.float64)
        if len(X) != len(labels):
            raise ValueError(f"{len(X)} vectors but {len(labels)} labels")
        if len(X) == 0:
            return
        self._ensure_dim(X.shape[1])
        codes = np.array([self.code(label) for label in labels])
        self.counts += np.bincount(codes, minlength=len(self.labels))
        np.add.at(self.sums, codes, X)
        if self.scatter is not None:
            self.scatter += X.T @ X
        self.version += 1

    def add(self, x: np.ndarray, label: str) -> None:
        self._update(x, label, +1.0)

    def remove(self, x: np.ndarray, label: str) -> None:
        """Take back one earlier ``add(x, label)``."""
        code = self._table.get(label)
        if code is None or self.counts[code] < 1:
            raise ValueError(f"no example of {label!r} to remove")
        self._update(x, label, -1.0)

    def _update(self, x: np.ndarray, label: str, sign: float) -> None:
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        self._ensure_dim(len(x))
        code = self.code(label)
        self.counts[code] += sign
        self.sums[code] += sign * x
        if self.scatter is not None:
            self.scatter += sign * np.outer(x, x)
        self.version += 1

    # -- reading -------------------------------------------------------------------------
    @property
    def n(self) -> int:
        return int(self.counts.sum())

    @property
    def present(self) -> np.ndarray:
        """Which classes hold at least one example."""
        return self.counts > 0

    def means(self) -> np.ndarray:
        """(classes, d) class means; rows of empty classes are zero."""
        return self.sums / np.maximum(self.counts, 1.0)[:, None]

    def within_scatter(self) -> np.ndarray:
        """``sum over classes of sum (x - mean_c)(x - mean_c)^T`` = scatter - sum n_c m_c m_c^T."""
        if self.scatter is None:
            raise ValueError("built with scatter=False")
        present = self.present
        sums = self.sums[present]
        return self.scatter - (sums.T / self.counts[present]) @ sums

    def covariance(self) -> np.ndarray:
        """The pooled within-class covariance (within scatter / n)."""
        return self.within_scatter() / max(self.n, 1)

    @property
    def nbytes(self) -> int:
        extra = self.scatter.nbytes if self.scatter is not None else 0
        return self.counts.nbytes + self.sums.nbytes + extra


class _StatisticsClassifier(CheckedInputs):
    """Shared plumbing: fit/correct feed the statistics; predict scores a cached linear map.

    Learns at once (``learns = "at_once"``); ``storage = "fixed"`` (a count and a sum per
    class, and a scatter matrix: corrections of known classes add nothing). A correction
    before ``fit`` is the first example.
    """

    learns = "at_once"
    storage = "fixed"

    def __init__(self, stats: ClassStatistics) -> None:
        self.stats = stats
        self._cached_version = -1
        self._W = np.zeros((0, 0), dtype=np.float32)
        self._b = np.zeros(0, dtype=np.float32)
        self._classes: list[str] = []

    def _width(self) -> int | None:
        return self.stats.sums.shape[1] or None

    def fit(self, X: np.ndarray, y: Sequence[str]) -> _StatisticsClassifier:
        self._check_fit(X)
        self.stats = type(self.stats)(scatter=self.stats.track_scatter)
        self._cached_version = -1  # the new statistics count their versions from 0 again
        self.stats.add_many(X, y)
        return self

    def correct(self, x: np.ndarray, y: str) -> None:
        self._check_example(x, before_fit=True)
        self.stats.add(x, y)

    def _linear_map(self) -> tuple[np.ndarray, np.ndarray]:
        """(W, b) with scores = X @ W + b over the present classes."""
        raise NotImplementedError

    def _refresh(self) -> None:
        if self._cached_version != self.stats.version:
            W, b = self._linear_map()
            self._W, self._b = W.astype(np.float32), b.astype(np.float32)
            present = self.stats.present.tolist()
            self._classes = [c for c, p in zip(self.stats.labels, present, strict=True) if p]
            self._cached_version = self.stats.version

    def predict_many(self, X: np.ndarray) -> list[str | None]:
        self._check_many(X)
        self._refresh()
        if not self._classes:
            return [None] * len(X)
        scores = np.asarray(X, dtype=np.float32) @ self._W + self._b
        return [self._classes[i] for i in scores.argmax(axis=1)]

    def predict_one(self, x: np.ndarray) -> str | None:
        self._check_one(x)
        self._refresh()
        if not self._classes:
            return None
        scores = np.asarray(x, dtype=np.float32) @ self._W + self._b
        return self._classes[int(np.argmax(scores))]

    def storage_bytes(self) -> int:
        """The statistics plus the cached classifier derived from them."""
        return self.stats.nbytes + self._W.nbytes + self._b.nbytes

    def storage_entries(self) -> int:
        return 0


class NearestClassMean(_StatisticsClassifier):
    """Predicts the class whose running mean is most cosine-similar to the input."""

    def __init__(self) -> None:
        super().__init__(ClassStatistics(scatter=False))

    def _linear_map(self) -> tuple[np.ndarray, np.ndarray]:
        means = self.stats.means()[self.stats.present]
        return normalise(means, dtype=None).T, np.zeros(len(means))


class StreamingLDA(_StatisticsClassifier):
    """Linear discriminant analysis over running class means and a shared covariance.

    Scores are ``x^T P mu_c - mu_c^T P mu_c / 2`` with precision
    ``P = ((1 - shrinkage) * Sigma + shrinkage * I)^-1`` (Hayes & Kanan's 1e-4 by default),
    recomputed from the exact statistics after each change.
    """

    def __init__(self, shrinkage: float = 1e-4) -> None:
        if not 0 < shrinkage <= 1:
            raise ValueError(f"shrinkage must be in (0, 1], got {shrinkage}")
        super().__init__(ClassStatistics(scatter=True))
        self.shrinkage = shrinkage

    def _linear_map(self) -> tuple[np.ndarray, np.ndarray]:
        means = self.stats.means()[self.stats.present]
        if len(means) == 0:
            return np.zeros((self.stats.sums.shape[1], 0)), np.zeros(0)
        cov = self.stats.covariance()
        shrunk = (1 - self.shrinkage) * cov + self.shrinkage * np.eye(len(cov))
        W = np.linalg.solve(shrunk, means.T)  # P mu_c, one column per class
        return W, -0.5 * np.einsum("cd,dc->c", means, W)
