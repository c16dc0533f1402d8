"""The hybrid rule's seed head: a softmax classifier over the classes ``fit`` taught.

Between the known classes a discriminatively trained head separates better than neighbours
or a shared-covariance discriminant (on Banking77 and CLINC150 a static softmax head keeps
0.94-0.96 of the original classes). The hybrid rule therefore lets its mixture decide how
much probability goes to the known classes as a whole, and the head how to share it among
them; classes that arrived by correction keep the mixture's own probabilities.

The head is derived state like the index: it is trained, deterministically (fixed seed,
entries in sequence order), on the live examples written by ``fit`` (provenance source
``fit``). With ``lr`` > 0 it then takes one SGD step (cross-entropy, learning rate ``lr``)
per live correction of a class it knows, in sequence order: so a correction that moves a
known class (phrasing drifting away from the fit examples) changes how the known classes
share their probability, not only the neighbours and class statistics. Corrections that
teach a new class leave it alone (that class keeps the mixture's own probability). Steps
are applied lazily, before the next prediction; when the seed set or the live corrections
change otherwise (a revocation, an erasure, a merge, another ``fit``) the head is trained
again and the steps replayed, so it stays a function of the ledger: a rebuild gives the
same head, and revoking a correction gives the head that never saw it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ocrr.heads import SoftmaxHead

RowsOf = Callable[[np.ndarray], np.ndarray]
"""The stored vectors of given index rows (the substrate passes its index's ``rows``)."""
SEED_SOURCE = "fit"
MAX_ROWS = 50_000
"""A larger seed set trains the head on this many of its rows, evenly spaced in sequence
order (deterministic), so that opening a ledger of millions stays quick."""


class SeedHead:
    def __init__(self, *, epochs: int = 30, seed: int = 0, lr: float = 0.0) -> None:
        self.epochs = epochs
        self.seed = seed
        self.lr = lr
        self._rows: list[int] = []  # index rows of seed examples, in sequence order
        self._codes: list[int] = []
        self._live: list[bool] = []
        # corrections (index rows, codes, live), in sequence order; the first _applied are
        # in the weights
        self._step_rows: list[int] = []
        self._step_codes: list[int] = []
        self._step_live: list[bool] = []
        self._applied = 0
        self._version = 0  # changes whenever the seed set does
        self._trained_version = -1
        self._head: SoftmaxHead | None = None
        self._known = np.zeros(0, dtype=np.int64)  # label codes of the head's classes

    def add(self, row: int, code: int) -> None:
        self._rows.append(row)
        self._codes.append(code)
        self._live.append(True)
        self._version += 1

    def step(self, row: int, code: int) -> None:
        """A correction (index row ``row``, class ``code``): one SGD step before the next
        prediction, if the head knows the class and ``lr`` > 0."""
        if self.lr > 0:
            self._step_rows.append(row)
            self._step_codes.append(code)
            self._step_live.append(True)

    def withdraw(self, row: int) -> None:
        at = int(np.searchsorted(self._rows, row))
        if at < len(self._rows) and self._rows[at] == row and self._live[at]:
            self._live[at] = False
            self._version += 1
            return
        at = int(np.searchsorted(self._step_rows, row))
        if at < len(self._step_rows) and self._step_rows[at] == row and self._step_live[at]:
            self._step_live[at] = False
            self._version += 1

    def merge(self, code: int, into: int) -> None:
        """Class ``code`` joins class ``into`` (a relabel onto an existing label): its seed
        rows take the code ``into`` and the head is trained again on the merged classes."""
        if code in self._codes:
            self._codes = [into if c == code else c for c in self._codes]
            self._version += 1
        if code in self._step_codes:
            self._step_codes = [into if c == code else c for c in self._step_codes]
            self._version += 1

    @property
    def nbytes(self) -> int:
        if self._head is None:
            return 0
        return int(self._head.W.nbytes + self._head.b.nbytes)

    def distribution(self, X: np.ndarray, rows_of: RowsOf) -> tuple[np.ndarray, np.ndarray]:
        """(label codes of the known classes, (n, known) head probabilities); no classes
        while there is no live seed example."""
        self._train(rows_of)
        if self._head is None:
            return self._known, np.zeros((len(X), 0))
        return self._known, self._head.predict_proba(X).astype(np.float64)

    def _train(self, rows_of: RowsOf) -> None:
        if self._trained_version != self._version:
            self._fit_seed(rows_of)
            self._applied = 0
        if self._applied < len(self._step_rows) and self._head is not None:
            self._take_steps(rows_of)
        self._applied = len(self._step_rows)

    def _take_steps(self, rows_of: RowsOf) -> None:
        """One SGD step per live correction of a known class not yet applied, in order."""
        head = self._head
        if head is None:
            return
        known = {int(c): f"{int(c):09d}" for c in self._known}
        pending = [
            (row, known[code])
            for row, code, live in zip(
                self._step_rows[self._applied :], self._step_codes[self._applied :],
                self._step_live[self._applied :], strict=True,
            )
            if live and code in known
        ]
        if not pending:
            return
        vectors = np.asarray(rows_of(np.array([row for row, _ in pending])), dtype=np.float32)
        head.lr = self.lr
        for x, (_, label) in zip(vectors, pending, strict=True):
            head.correct(x, label)

    def _fit_seed(self, rows_of: RowsOf) -> None:
        live = np.flatnonzero(self._live)
        self._trained_version = self._version
        if len(live) == 0:
            self._head, self._known = None, np.zeros(0, dtype=np.int64)
            return
        if len(live) > MAX_ROWS:
            live = live[np.linspace(0, len(live) - 1, MAX_ROWS).round().astype(np.int64)]
        rows = np.asarray(self._rows)[live]
        codes = np.asarray(self._codes)[live]
        labels = [f"{c:09d}" for c in codes]  # sorted like the codes themselves
        head = SoftmaxHead(epochs=self.epochs, seed=self.seed)
        head.fit(np.asarray(rows_of(rows), dtype=np.float32), labels)
        self._head = head
        self._known = np.array([int(c) for c in head.classes], dtype=np.int64)
