"""Helpers every layer shares: L2 normalisation, label tables and softmax.

At the bottom of the package with :mod:`ocrr.errors` (it imports nothing else of OCRR), so
the encoders, the indexes, the substrate and the baselines use one copy of each:

- :func:`normalise`: lenient L2 normalisation along the last axis (a vector or rows), by
  default ``x / max(norm, 1e-12)`` (the encoders' and baselines' way; zero rows stay zero);
  ``floor=None`` divides by the norm itself;
- :func:`unit_vector` / :func:`unit_rows`: strict normalisation of one vector / a matrix of
  vectors, the classifier's way in: wrong shapes raise :class:`~ocrr.errors.DimensionError`,
  NaN, infinity and all-zero vectors ``ValueError``;
- :class:`LabelTable`: labels and the integer codes that stand for them;
- :func:`softmax`: row-wise softmax, optionally at a temperature.

Each keeps the exact floating-point operations its callers had before they shared it (the
one-vector norm is ``sqrt(dot(v, v))``, the rows' ``np.linalg.norm``), so results are bit
for bit what they were.

>>> import numpy as np
>>> normalise(np.array([[3.0, 4.0], [0.0, 0.0]]))
array([[0.6, 0.8],
       [0. , 0. ]], dtype=float32)
>>> unit_vector([0.0, 2.0])
array([0., 1.], dtype=float32)
>>> table = LabelTable(["refund", "card"])
>>> table.code("card"), table.code("loan"), table.names
(1, 2, ['refund', 'card', 'loan'])
>>> softmax(np.array([[0.0, np.log(3.0)]])).round(2)
array([[0.25, 0.75]])
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from ocrr.errors import DimensionError

FLOOR = 1e-12
"""The smallest norm :func:`normalise` divides by: zero vectors stay zero, not NaN."""


def normalise(
    x: np.ndarray | Sequence[float], *, floor: float | None = FLOOR,
    dtype: type | None = np.float32,
) -> np.ndarray:
    """L2-normalise along the last axis: ``x / max(||x||, floor)``, norms by
    ``np.linalg.norm``.

    Parameters
    ----------
    x
        One vector or a matrix of row vectors.
    floor
        The smallest norm divided by (``None``: divide by the norm itself, so a zero vector
        gives NaN).
    dtype
        The dtype ``x`` is taken as (``None``: as given).

    >>> normalise(np.array([0.0, 3.0, 4.0]), dtype=None)
    array([0. , 0.6, 0.8])
    """
    x = np.asarray(x, dtype=dtype)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / (norms if floor is None else np.maximum(norms, floor))


def unit_vector(vector: np.ndarray | Sequence[float]) -> np.ndarray:
    """One vector as float32 of norm 1 (the norm taken as ``sqrt(dot(v, v))``).

    Raises :class:`~ocrr.errors.DimensionError` unless ``vector`` is 1-D, ``ValueError`` if
    it holds NaN or infinity or is all zeros (cosine similarity is then undefined).

    >>> unit_vector(np.zeros(2))
    Traceback (most recent call last):
    ...
    ValueError: vector is all zeros; cosine similarity is undefined
    """
    vec = np.asarray(vector, dtype=np.float32)
    if vec.ndim != 1:
        raise DimensionError(f"expected one vector (1-D), got shape {vec.shape}")
    norm = float(np.sqrt(np.dot(vec, vec)))
    if not np.isfinite(norm):
        raise ValueError("vector contains NaN or infinity")
    if norm == 0.0:
        raise ValueError("vector is all zeros; cosine similarity is undefined")
    return vec / norm


def unit_rows(matrix: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    """A matrix of row vectors as float32 rows of norm 1 (norms by ``np.linalg.norm``).

    Raises :class:`~ocrr.errors.DimensionError` unless ``matrix`` is 2-D, ``ValueError``
    naming the first all-zero row, or if a row holds NaN or infinity.

    >>> unit_rows([[1.0, 0.0], [0.0, 0.0]])
    Traceback (most recent call last):
    ...
    ValueError: row 1 is all zeros
    """
    matrix = np.asarray(matrix, dtype=np.float32)
    if matrix.ndim != 2:
        raise DimensionError(f"expected a matrix of vectors (2-D), got shape {matrix.shape}")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    if not np.isfinite(norms).all():
        raise ValueError("vectors contain NaN or infinity")
    if (norms == 0).any():
        raise ValueError(f"row {int(np.flatnonzero(norms == 0)[0])} is all zeros")
    return matrix / norms


class LabelTable:
    """Labels and the integer codes that stand for them, codes in order of first appearance.

    A code, once given, keeps its place in :attr:`names` for good (arrays indexed by code
    stay valid); :meth:`forget` frees a label's name (a retired class, the old name of a
    renamed one) and :meth:`rename` gives a code a new name. Read :attr:`names` (code →
    label) and :attr:`codes` (current label → code); change them through the methods.

    >>> table = LabelTable()
    >>> table.code("a"), table.code("b"), table.code("a")
    (0, 1, 0)
    >>> table.rename(table.forget("a"), "z")
    >>> table.names, table.current, "a" in table
    (['z', 'b'], ['z', 'b'], False)
    """

    def __init__(self, labels: Iterable[str] = ()) -> None:
        self.names: list[str] = []
        self.codes: dict[str, int] = {}
        for label in labels:
            self.code(label)

    def code(self, label: str) -> int:
        """The code of ``label``, giving a new label the next code."""
        code = self.codes.get(label)
        if code is None:
            code = self.codes[label] = len(self.names)
            self.names.append(label)
        return code

    def get(self, label: str) -> int | None:
        """The code of ``label``, or ``None`` for a label the table does not hold."""
        return self.codes.get(label)

    def forget(self, label: str) -> int | None:
        """Free the name ``label`` (its code stays in :attr:`names`); return the code."""
        return self.codes.pop(label, None)

    def rename(self, code: int, label: str) -> None:
        """Code ``code`` answers to ``label`` from now on."""
        self.names[code] = label
        self.codes[label] = code

    @property
    def current(self) -> list[str]:
        """The labels that name a code now, in code order."""
        return [label for code, label in enumerate(self.names) if self.codes.get(label) == code]

    def __contains__(self, label: object) -> bool:
        return label in self.codes

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, code: int) -> str:
        return self.names[code]

    def __repr__(self) -> str:
        return f"LabelTable({self.current!r})"


def softmax(scores: np.ndarray, temperature: float | None = None) -> np.ndarray:
    """Row-wise (last-axis) softmax of ``scores``, or of ``scores / temperature``.

    Computed as ``exp(z - max z) / sum``, in the dtype of ``scores``; ``-inf`` scores get
    probability 0.

    >>> softmax(np.array([[1.0, 1.0, -np.inf]]), temperature=2.0)
    array([[0.5, 0.5, 0. ]])
    """
    z = np.asarray(scores)
    if temperature is not None:
        z = z / temperature
    z = z - z.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z


__all__ = ["FLOOR", "LabelTable", "normalise", "softmax", "unit_rows", "unit_vector"]
