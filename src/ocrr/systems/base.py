"""The contract every benchmarked system meets, and the wrapper that freezes one.

A system works on unit float32 vectors and string labels::

    system.fit(X, y)            # X: (n, d) array, y: n labels — the known classes' rows
    system.predict_one(x)       # x: (d,) array -> label (or None if it cannot answer)
    system.predict_many(X)      # (m, d) array -> m labels; used at checkpoints
    system.correct(x, y)        # the user says x is y; y may be a label never seen before

Optional: ``storage_bytes()`` and ``storage_entries()`` for the storage columns (the
harness reports 0 when absent). Any object with these methods can be benchmarked: pass it
to :func:`ocrr.bench.run_cell` or register a factory with :func:`ocrr.systems.register`.

A system that reads **texts** instead of vectors says so with a class attribute
``inputs = "text"`` (absent or ``"vector"``: vectors). The harness then hands it the raw
strings in the same places: ``fit(texts, y)`` (a sequence of str), ``predict_one(text)``,
``predict_many(texts)``, ``correct(text, y)``; :func:`ocrr.bench.run_cell` takes them as
``texts=(train_texts, test_texts)`` and :class:`ocrr.bench.EncodedDataset` carries them.
The ``lora`` system (:mod:`ocrr.systems.lora`) is one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class System(Protocol):
    def fit(self, X: np.ndarray, y: Sequence[str]) -> object: ...
    def predict_one(self, x: np.ndarray) -> str | None: ...
    def predict_many(self, X: np.ndarray) -> Sequence[str | None]: ...
    def correct(self, x: np.ndarray, y: str) -> object: ...


class Frozen:
    """A system that never learns after ``fit``: the static baselines' floor."""

    def __init__(self, inner: System) -> None:
        self.inner = inner

    def fit(self, X: np.ndarray, y: Sequence[str]) -> Frozen:
        self.inner.fit(X, y)
        return self

    def predict_one(self, x: np.ndarray) -> str | None:
        return self.inner.predict_one(x)

    def predict_many(self, X: np.ndarray) -> Sequence[str | None]:
        return self.inner.predict_many(X)

    def correct(self, x: np.ndarray, y: str) -> None:
        """Ignored by design."""

    def storage_bytes(self) -> int:
        return storage_of(self.inner)[1]

    def storage_entries(self) -> int:
        return storage_of(self.inner)[0]


def storage_of(system: object) -> tuple[int, int]:
    """(entries, bytes) a system reports, 0 where it does not say."""
    entries = getattr(system, "storage_entries", None)
    nbytes = getattr(system, "storage_bytes", None)
    return (int(entries()) if entries else 0, int(nbytes()) if nbytes else 0)
