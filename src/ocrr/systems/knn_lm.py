"""kNN-LM (Khandelwal et al. 2020) for classification: a frozen head mixed with retrieval.

``p(y | x) = lam * p_knn(y | x) + (1 - lam) * p_head(y | x)``, where ``p_head`` is the softmax
head trained on the seed set and never updated, and ``p_knn`` puts ``softmax(sim / tau)``
weight on each of the k nearest entries of a datastore that starts as the seed set and gains
every correction. The paper's settings: k = 5, lam = 0.5, tau = 0.1.

It is the answer to "isn't the substrate just retrieval added to a parametric model?": the
head keeps the original classes' accuracy, the datastore brings the corrections in, but a
new class must outvote the head's half of the probability mass.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ocrr.heads import SoftmaxHead
from ocrr.index import ExactIndex
from ocrr.validation import CheckedInputs
from ocrr.vectors import LabelTable, normalise, softmax


class KNNLM(CheckedInputs):
    """The frozen seed head mixed with a k-nearest-neighbour distribution over a datastore
    of the seed rows and every correction (``learns = "at_once"``, ``storage = "grows"``)."""

    learns = "at_once"
    storage = "grows"

    def __init__(self, k: int = 5, lam: float = 0.5, tau: float = 0.1, *, seed: int = 0) -> None:
        self.k = k
        self.lam = lam
        self.tau = tau
        self.seed = seed
        self.head = SoftmaxHead(seed=seed)
        self._index: ExactIndex | None = None
        self._row_codes = np.zeros(0, dtype=np.int64)
        self._n_rows = 0
        self._labels = LabelTable()

    def _width(self) -> int | None:
        return self._index.dim if self._index is not None else None

    def _store(self, X: np.ndarray, labels: Sequence[str]) -> None:
        assert self._index is not None
        need = self._n_rows + len(X)
        if need > len(self._row_codes):
            grown = np.zeros(max(need, 2 * len(self._row_codes)), dtype=np.int64)
            grown[: self._n_rows] = self._row_codes[: self._n_rows]
            self._row_codes = grown
        self._row_codes[self._n_rows : need] = [self._labels.code(label) for label in labels]
        self._index.add_many(X)
        self._n_rows = need

    def fit(self, X: np.ndarray, y: Sequence[str]) -> KNNLM:
        self._check_fit(X)
        X = normalise(X)
        self.head = SoftmaxHead(seed=self.seed).fit(X, y)
        self._labels = LabelTable(self.head.classes)  # head class i is label code i
        self._index = ExactIndex(X.shape[1], capacity=len(X))
        self._n_rows = 0
        self._store(X, y)
        return self

    def correct(self, x: np.ndarray, y: str) -> None:
        self._check_example(x)
        self._store(normalise(np.atleast_2d(x)), [y])

    def _mix(self, X: np.ndarray, rows: np.ndarray, sims: np.ndarray) -> list[str]:
        probs = np.zeros((len(X), len(self._labels)))
        probs[:, : len(self.head.classes)] = (1 - self.lam) * self.head.predict_proba(X)
        weights = softmax(sims.astype(np.float64) / self.tau)
        codes = self._row_codes[rows]
        np.add.at(probs, (np.arange(len(X))[:, None], codes), self.lam * weights)
        return [self._labels[c] for c in probs.argmax(axis=1)]

    def predict_many(self, X: np.ndarray) -> list[str]:
        self._check_many(X)
        assert self._index is not None
        X = normalise(X)
        # remember=True: checkpoints ask the same batch again; only new entries are scored
        rows, sims = self._index.search_many(X, self.k, remember=True)
        return self._mix(X, rows, sims)

    def predict_one(self, x: np.ndarray) -> str:
        self._check_one(x)
        assert self._index is not None
        x = normalise(x)
        rows, sims = self._index.search(x, self.k)
        return self._mix(x[None, :], rows[None, :], sims[None, :])[0]

    def storage_bytes(self) -> int:
        """The frozen head's weights plus the datastore's vectors and label codes (not the
        index's int8 sketch: a cache for speed, rebuilt from the vectors)."""
        assert self._index is not None or self._n_rows == 0
        vectors = self._index.vectors.nbytes if self._index is not None else 0
        return self.head.storage_bytes() + vectors + 8 * self._n_rows

    def storage_entries(self) -> int:
        return self._n_rows
