"""GDumb (Prabhu, Torr & Dokania 2020): a class-balanced memory and a classifier refit from it.

GDumb's point is that a greedy class-balanced sampler plus a learner trained from scratch on
the memory alone is a strong continual-learning baseline. Here the memory holds ``budget``
seed rows and corrections under the ``"balanced"`` rule of :class:`BoundedMemory` (the seed
rows go through the same rule), and the learner is linear discriminant analysis on the
memory's contents. LDA's fit is a closed form of exact statistics, so "refit from scratch on
the memory after every change" costs one solve: the statistics gain each stored example and
lose each evicted one (:class:`ClassStatistics` supports both), and always equal those of
the memory's current contents. A softmax head retrained from scratch per correction would
cost about 0.1 s each.

The covariance from at most ``budget`` rows in 384 dimensions is noisy, so GDumb's LDA
shrinks harder than the streaming LDA over all rows (``shrinkage``, default 0.1).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ocrr.systems.memory import BoundedMemory
from ocrr.systems.prototypes import StreamingLDA
from ocrr.validation import CheckedInputs
from ocrr.vectors import LabelTable


class GDumb(CheckedInputs):
    """LDA refit from a class-balanced memory of ``budget`` examples (``learns =
    "at_once"``, ``storage = "bounded"``). A correction before ``fit`` is the first example."""

    learns = "at_once"
    storage = "bounded"

    def __init__(self, budget: int = 1000, *, shrinkage: float = 0.1, seed: int = 0) -> None:
        self.budget = budget
        self.shrinkage = shrinkage
        self.seed = seed
        self._reset()

    def _reset(self) -> None:
        self.memory = BoundedMemory(self.budget, "balanced", seed=self.seed)
        self.classifier = StreamingLDA(self.shrinkage)
        self._labels = LabelTable()

    def _width(self) -> int | None:
        return self.memory.dim

    def _offer(self, x: np.ndarray, y: str) -> None:
        offer = self.memory.offer(x, self._labels.code(y))
        if offer.slot is None:
            return
        if offer.evicted is not None:
            vector, old = offer.evicted
            self.classifier.stats.remove(vector, self._labels[old])
        self.classifier.stats.add(x, y)

    def fit(self, X: np.ndarray, y: Sequence[str]) -> GDumb:
        """Stream the seed rows through the balanced memory (no exempt training phase)."""
        self._check_fit(X)
        self._reset()
        for x, label in zip(np.asarray(X, dtype=np.float32), y, strict=True):
            self._offer(x, label)
        return self

    def correct(self, x: np.ndarray, y: str) -> None:
        self._check_example(x, before_fit=True)
        self._offer(np.asarray(x, dtype=np.float32), y)

    def predict_one(self, x: np.ndarray) -> str | None:
        self._check_one(x)
        return self.classifier.predict_one(x)

    def predict_many(self, X: np.ndarray) -> list[str | None]:
        self._check_many(X)
        return self.classifier.predict_many(X)

    def storage_bytes(self) -> int:
        """The memory, plus the classifier's statistics and weights."""
        return self.memory.nbytes + self.classifier.storage_bytes()

    def storage_entries(self) -> int:
        return len(self.memory)
