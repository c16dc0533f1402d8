"""Class statistics derived from the ledger, for the hybrid rule's discriminant.

The hybrid rule (:mod:`ocrr.substrate.vote`) mixes the neighbour vote with a linear
discriminant (streaming LDA: class means and one shared covariance, shrunk towards the
identity). Both read only live examples of the ledger, and two rules make the statistics a
deterministic function of the entries, so that rebuilding a substrate from its ledger gives
bit-identical predictions and a revoked or erased example leaves no trace:

- a class's sum is accumulated one example at a time in sequence order, and a class that
  loses an example is summed again from zero the same way;
- the shared covariance is computed from the first ``m`` live examples in sequence order,
  ``m`` the largest point of a fixed geometric schedule (``256 * 2 ** (j / 8)``, about 9 %
  apart) not above the number of live examples. It is recomputed lazily when the count
  passes a point, or when one of those ``m`` examples is withdrawn. Between points a new
  class still gets its own mean at once; only the shared shape waits.

Both depend only on which examples are live and their order, not on sequence numbers: a
ledger whose wrong corrections were all revoked predicts exactly as one that never had them.

Two options, both off here by default (the hybrid rule passes its own on,
:mod:`ocrr.substrate.votes`):

- an example may weigh more than one (a correction ``w`` x a seed row): a class's sum and
  count are then weighted sums (its mean a weighted mean); the shared covariance stays
  unweighted;
- ``debias`` adds ``debias * tr(P S) / (2 n_c)`` to class ``c``'s score (``P`` the precision,
  ``S`` the unshrunk pooled covariance, ``n_c`` the class's effective number of examples,
  ``(sum w)^2 / sum w^2``): the expected excess squared Mahalanobis distance from a mean
  estimated from ``n_c`` examples. Without it a class taught by a few corrections is far
  from its own queries simply because its mean is noisy, and loses to the dense classes.
  With ``dense_at`` = m > 0 the credit is ``debias * tr(P S) / 2 * max(1/n_c - 1/m, 0)``:
  only classes with fewer than m examples gain, and the gain fades to nothing as a class
  reaches m (classes taught by many corrections, and the seed classes, score as without).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Vectors = Callable[[], np.ndarray]

SCHEDULE_START = 256
SCHEDULE_STEPS_PER_DOUBLING = 8


def schedule_point(size: int) -> int:
    """The largest point of the covariance schedule not above ``size`` (0 below the first)."""
    if size < SCHEDULE_START:
        return 0
    j = int(np.floor(np.log2(size / SCHEDULE_START) * SCHEDULE_STEPS_PER_DOUBLING))
    # guard the float log against landing one step off on either side
    while _point(j + 1) <= size:
        j += 1
    while _point(j) > size:
        j -= 1
    return _point(j)


def _point(j: int) -> int:
    return int(round(SCHEDULE_START * 2 ** (j / SCHEDULE_STEPS_PER_DOUBLING)))


class DiscriminantStatistics:
    """Per-class sums and counts over live examples, and the LDA map derived from them.

    Rows are the substrate's index rows (examples in sequence order). ``vectors`` is a
    callable returning the index's rows; it is called only when a class must be summed
    again or the covariance recomputed.
    """

    def __init__(
        self, dim: int, shrinkage: float = 1e-4, *, debias: float = 0.0, dense_at: float = 0.0
    ) -> None:
        if not 0 < shrinkage <= 1:
            raise ValueError(f"shrinkage must be in (0, 1], got {shrinkage}")
        if debias < 0:
            raise ValueError(f"debias must be non-negative, got {debias}")
        if dense_at < 0:
            raise ValueError(f"dense_at must be non-negative (0: off), got {dense_at}")
        self.dim = dim
        self.shrinkage = shrinkage
        self.debias = debias
        self.dense_at = dense_at
        self._sums = np.zeros((0, dim))
        self._counts = np.zeros(0)  # weighted: the sum of the live examples' weights
        self._squares = np.zeros(0)  # the sum of their squared weights
        self._trace = 0.0  # tr(P S), with debias only
        self._row_code: list[int] = []
        self._row_weight: list[float] = []
        self._n_live = 0
        self._live: list[bool] = []
        self._W = np.zeros((0, dim))  # P @ mean_c, one row per class
        self._b = np.zeros(0)  # -mean_c . P mean_c / 2
        self._precision: np.ndarray | None = None
        self._precision_key: tuple[int, int] | None = None  # (point, withdrawals among it)
        self._withdrawn_below: int = 0  # withdrawals that touched the first m live rows
        self._stale: set[int] = set()  # classes whose W row needs recomputing
        self._changed = True  # whether anything was added, withdrawn or merged since
        self._empty = np.zeros(0, dtype=np.int64)  # classes with no live example

    @property
    def nbytes(self) -> int:
        precision = self._precision.nbytes if self._precision is not None else 0
        return self._sums.nbytes + self._counts.nbytes + self._W.nbytes + precision

    @property
    def counts(self) -> np.ndarray:
        """Per class code: the live examples' total weight (their number, unweighted)."""
        return self._counts

    # -- updating ------------------------------------------------------------------------
    def add(self, code: int, vector: np.ndarray, weight: float = 1.0) -> None:
        """A new live example (rows arrive in sequence order), weighing ``weight``."""
        while code >= len(self._counts):
            self._sums = np.vstack([self._sums, np.zeros((1, self.dim))])
            self._counts = np.append(self._counts, 0.0)
            self._squares = np.append(self._squares, 0.0)
            self._W = np.vstack([self._W, np.zeros((1, self.dim))])
            self._b = np.append(self._b, 0.0)
        self._row_code.append(code)
        self._row_weight.append(weight)
        self._live.append(True)
        self._n_live += 1
        if weight == 1.0:
            self._sums[code] += np.asarray(vector, dtype=np.float64)
        else:
            self._sums[code] += weight * np.asarray(vector, dtype=np.float64)
        self._counts[code] += weight
        self._squares[code] += weight * weight
        self._stale.add(code)
        self._changed = True

    def _sum_again(self, code: int, vectors: Vectors) -> None:
        """Class ``code``'s sum, count and squared weights from zero, one live example at a
        time in sequence order (as they were first added)."""
        members = np.flatnonzero(np.asarray(self._live) & (np.asarray(self._row_code) == code))
        total = np.zeros(self.dim)
        count = squares = 0.0
        rows = vectors() if len(members) else np.zeros((0, self.dim))
        for r in members:
            weight = self._row_weight[r]
            if weight == 1.0:
                total += np.asarray(rows[r], dtype=np.float64)
            else:
                total += weight * np.asarray(rows[r], dtype=np.float64)
            count += weight
            squares += weight * weight
        self._sums[code] = total
        self._counts[code] = count
        self._squares[code] = squares

    def withdraw(self, row: int, vectors: Vectors) -> None:
        """Example at ``row`` no longer counts: its class is summed again from zero."""
        if not self._live[row]:
            return
        point = self._precision_key[0] if self._precision_key else 0
        if np.count_nonzero(self._live[:row]) < point:  # one of the covariance's examples
            self._withdrawn_below += 1
        self._live[row] = False
        self._n_live -= 1
        code = self._row_code[row]
        self._sum_again(code, vectors)
        self._stale.add(code)
        self._changed = True

    def merge(self, code: int, into: int, vectors: Vectors) -> None:
        """Class ``code`` joins class ``into`` (a relabel onto an existing label): its rows
        take the code ``into``, whose sum is computed again from zero in sequence order, and
        the shared covariance is recomputed (its class structure changed)."""
        if code == into:
            return
        self._row_code = [into if c == code else c for c in self._row_code]
        self._sum_again(into, vectors)
        self._sums[code] = 0.0
        self._counts[code] = 0
        self._squares[code] = 0
        self._precision_key = None
        self._stale.update((code, into))
        self._changed = True

    # -- reading -------------------------------------------------------------------------
    def scores(self, X: np.ndarray, vectors: Vectors) -> np.ndarray:
        """(n, classes) discriminant scores; ``-inf`` for classes with no live example."""
        self._refresh(vectors)
        scores = np.asarray(X, dtype=np.float64) @ self._W.T + self._b
        if len(self._empty):
            scores[:, self._empty] = -np.inf
        return scores

    def _refresh(self, vectors: Vectors) -> None:
        """Bring the map up to date; nothing to do (the common case, a prediction after a
        prediction) unless an example was added, withdrawn or merged since."""
        if not self._changed:
            return
        self._changed = False
        self._empty = np.flatnonzero(self._counts == 0)
        point = schedule_point(self._n_live)
        key = (point, self._withdrawn_below)
        if key != self._precision_key:
            self._precision = self._compute_precision(vectors, point)
            self._precision_key = key
            self._stale = set(range(len(self._counts)))
        for code in sorted(self._stale):
            if self._counts[code] > 0:
                mean = self._sums[code] / self._counts[code]
                self._W[code] = self._precision @ mean
                self._b[code] = -0.5 * float(mean @ self._W[code])
                if self.debias:  # the expected excess distance of a noisy mean
                    inverse_n = self._squares[code] / self._counts[code] ** 2
                    if self.dense_at:  # only classes below dense_at examples, fading to 0
                        inverse_n = max(inverse_n - 1.0 / self.dense_at, 0.0)
                    self._b[code] += 0.5 * self.debias * self._trace * inverse_n
        self._stale.clear()

    def _compute_precision(self, vectors: Vectors, point: int) -> np.ndarray:
        """Inverse of the shrunk pooled within-class covariance of the first ``point`` live
        examples (the identity's when there are none)."""
        rows = np.flatnonzero(self._live)[:point]
        if len(rows):
            X = np.asarray(vectors()[rows], dtype=np.float64)
            codes = np.asarray(self._row_code)[rows]
            _, inverse, counts = np.unique(codes, return_inverse=True, return_counts=True)
            means = np.zeros((len(counts), self.dim))
            np.add.at(means, inverse, X)
            means /= counts[:, None]
            centred = X - means[inverse]
            covariance = centred.T @ centred / len(rows)
        else:
            covariance = np.eye(self.dim)
        shrunk = (1 - self.shrinkage) * covariance + self.shrinkage * np.eye(self.dim)
        precision = np.linalg.inv(shrunk)
        if self.debias:
            self._trace = float(np.sum(precision * covariance)) if len(rows) else 0.0
        return precision
