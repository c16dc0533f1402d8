"""The substrate's retrieval and vote under a storage budget.

The unbounded substrate keeps every example; a reviewer will ask what it recovers when it may
keep only ``budget`` of them. :class:`BoundedSubstrate` answers with the same k-nearest
retrieval (:func:`ocrr.index.exact.top_k`) and the paper's band vote
(:func:`ocrr.substrate.vote.band_vote`, recency = insertion order) over a
:class:`~ocrr.systems.memory.BoundedMemory`. The eviction policy is the one parameter:
``"reservoir"`` (a uniform sample of all writes), ``"fifo"`` (the most recent writes) or
``"balanced"`` (GDumb's class-balanced rule).

The seed rows go through the same eviction as corrections: there is no exempt training
phase, so at budget 100 a FIFO memory holds only the latest 100 writes whatever they were.
With a budget at least the number of writes nothing is evicted and predictions equal the
unbounded substrate's.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ocrr.index.exact import top_k
from ocrr.substrate.vote import band_vote
from ocrr.systems.memory import BoundedMemory
from ocrr.validation import CheckedInputs
from ocrr.vectors import LabelTable, normalise


class BoundedSubstrate(CheckedInputs):
    """k-nearest band vote over at most ``budget`` entries, evicting by ``eviction``.

    ``learns = "at_once"``, ``storage = "bounded"``; a correction before ``fit`` is the
    first entry.
    """

    learns = "at_once"
    storage = "bounded"

    def __init__(
        self,
        budget: int,
        eviction: str = "reservoir",
        *,
        k: int = 5,
        margin: float = 0.05,
        seed: int = 0,
    ) -> None:
        self.budget = budget
        self.eviction = eviction
        self.k = k
        self.margin = margin
        self.seed = seed
        self._reset()

    def _reset(self) -> None:
        self.memory = BoundedMemory(self.budget, self.eviction, seed=self.seed)
        self._labels = LabelTable()
        self._order_at = -1
        self._order = np.zeros(0, dtype=np.int64)

    def _width(self) -> int | None:
        return self.memory.dim

    def _write(self, x: np.ndarray, y: str) -> None:
        self.memory.offer(x, self._labels.code(y))

    def fit(self, X: np.ndarray, y: Sequence[str]) -> BoundedSubstrate:
        """Write the seed rows in order, through the eviction policy."""
        self._check_fit(X)
        self._reset()
        for x, label in zip(normalise(X), y, strict=True):
            self._write(x, label)
        return self

    def correct(self, x: np.ndarray, y: str) -> None:
        self._check_example(x, before_fit=True)
        self._write(normalise(x), y)

    def predict_many(self, X: np.ndarray) -> list[str | None]:
        self._check_many(X)
        X = normalise(X)
        # slots in insertion order, so ties in similarity go to the older entry as in the
        # substrate's index
        if self._order_at != self.memory.n_offered:
            self._order = np.argsort(self.memory.seqs, kind="stable")
            self._order_at = self.memory.n_offered
        order = self._order
        slots, top = top_k((X @ self.memory.vectors.T)[:, order], 0, self.k)
        slots = order[slots]
        winners = band_vote(top, self.memory.codes[slots], self.memory.seqs[slots], self.margin)
        return [self._labels[c] for c in winners]

    def predict_one(self, x: np.ndarray) -> str | None:
        self._check_one(x)
        return self.predict_many(np.asarray(x)[None, :])[0]

    def storage_bytes(self) -> int:
        """Entries' vectors, label codes and insertion numbers."""
        return self.memory.nbytes

    def storage_entries(self) -> int:
        return len(self.memory)
