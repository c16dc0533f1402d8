"""The contract every benchmarked system meets, and the wrapper that freezes one.

A system works on unit float32 vectors and string labels::

    system.fit(X, y)            # X: (n, d) array, y: n labels — the known classes' rows
    system.predict_one(x)       # x: (d,) array -> label
    system.predict_many(X)      # (m, d) array -> m labels; used at checkpoints
    system.correct(x, y)        # the user says x is y; y may be a label never seen before

The rules, all checked by :func:`ocrr.systems.check_system` (every registered system is, in
the test suite):

- ``fit`` returns the system, and starts over: a second ``fit`` forgets the first and
  everything learned since, as if the system were new.
- Asked to predict before it has any example, a system raises
  :class:`ocrr.errors.NotFittedError`. ``correct`` before ``fit`` either raises it too or
  takes the example as the first one (the class-statistics and memory systems do).
- An input whose width is not the fitted one, or a matrix where one vector is due (and one
  vector where a matrix is due), raises :class:`ocrr.errors.DimensionError` in
  ``predict_one``, ``predict_many`` and ``correct``, and a rejected correction changes
  nothing. :class:`ocrr.validation.CheckedInputs` is these checks, written once; the
  built-in systems inherit it.
- ``predict_one(X[i]) == predict_many(X)[i]``, and two systems from the same factory and
  seed fed the same calls answer the same.
- A correction is learned as the system declares in its class attribute ``learns``:
  ``"at_once"`` (the default: one ``correct(x, y)`` makes ``predict_one(x)`` answer ``y``,
  even for a label never seen before), ``"gradually"`` (one gradient step per correction:
  repeating it gets there) or ``"never"`` (``correct`` is ignored by design: :class:`Frozen`).
- Optional: ``storage_bytes()`` and ``storage_entries()`` for the storage columns (the
  harness reports 0 when absent). If present they follow the declared ``storage``:
  ``"grows"`` (the default: every correction is kept), ``"bounded"`` (kept until the
  system's ``budget`` entries, then the count stays) or ``"fixed"`` (weights or class
  statistics: corrections of known labels add nothing).

Any object with these methods can be benchmarked: pass it to :func:`ocrr.bench.run_cell` or
register a factory with :func:`ocrr.systems.register`, after checking it with
:func:`ocrr.systems.check_system`.

A system that reads **texts** instead of vectors says so with a class attribute
``inputs = "text"`` (absent or ``"vector"``: vectors). The harness then hands it the raw
strings in the same places: ``fit(texts, y)`` (a sequence of str), ``predict_one(text)``,
``predict_many(texts)``, ``correct(text, y)``; :func:`ocrr.bench.run_cell` takes them as
``texts=(train_texts, test_texts)`` and :class:`ocrr.bench.EncodedDataset` carries them.
The ``lora`` system (:mod:`ocrr.systems.lora`) is one; the width checks do not apply to it.

>>> import numpy as np
>>> from ocrr.systems import NearestClassMean
>>> X = np.eye(3, dtype=np.float32)
>>> frozen = Frozen(NearestClassMean()).fit(X, ["a", "b", "c"])
>>> frozen.correct(X[0], "new")          # ignored by design: learns = "never"
>>> frozen.predict_one(X[0])
'a'
>>> frozen.predict_one(np.ones(4, dtype=np.float32))  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ocrr.errors.DimensionError: expected vectors of dimension 3, got 4: encode the input ...
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from ocrr.validation import CheckedInputs


@runtime_checkable
class System(Protocol):
    def fit(self, X: np.ndarray, y: Sequence[str]) -> object: ...
    def predict_one(self, x: np.ndarray) -> str | None: ...
    def predict_many(self, X: np.ndarray) -> Sequence[str | None]: ...
    def correct(self, x: np.ndarray, y: str) -> object: ...


class Frozen(CheckedInputs):
    """A system that never learns after ``fit``: the static baselines' floor.

    ``correct`` is ignored by design (``learns = "never"``, ``storage = "fixed"``), but its
    input is checked like any other system's.
    """

    learns = "never"
    storage = "fixed"

    def __init__(self, inner: System) -> None:
        self.inner = inner
        self._dim: int | None = None

    def _width(self) -> int | None:
        return self._dim

    def fit(self, X: np.ndarray, y: Sequence[str]) -> Frozen:
        self._check_fit(X)
        self.inner.fit(X, y)
        self._dim = int(np.shape(X)[1])
        return self

    def predict_one(self, x: np.ndarray) -> str | None:
        self._check_one(x)
        return self.inner.predict_one(x)

    def predict_many(self, X: np.ndarray) -> Sequence[str | None]:
        self._check_many(X)
        return self.inner.predict_many(X)

    def correct(self, x: np.ndarray, y: str) -> None:
        """Ignored by design (after checking ``x`` as every system does)."""
        self._check_example(x)

    def storage_bytes(self) -> int:
        return storage_of(self.inner)[1]

    def storage_entries(self) -> int:
        return storage_of(self.inner)[0]


def storage_of(system: object) -> tuple[int, int]:
    """(entries, bytes) a system reports, 0 where it does not say."""
    entries = getattr(system, "storage_entries", None)
    nbytes = getattr(system, "storage_bytes", None)
    return (int(entries()) if entries else 0, int(nbytes()) if nbytes else 0)
