"""A substrate's inputs: vectors (L2-normalised on the way in) or, with an encoder, texts;
and the checks that turn a wrong shape into :class:`~ocrr.errors.DimensionError`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

import numpy as np

from ocrr.errors import DimensionError
from ocrr.ledger import LedgerError
from ocrr.vectors import unit_rows, unit_vector

if TYPE_CHECKING:
    from ocrr.encoders import Encoder

VectorLike = Sequence[float] | np.ndarray


class WriteDimensionError(DimensionError, LedgerError):
    """A vector of the wrong width given to a write (``correct``, ``partial_fit``): a
    :class:`~ocrr.errors.DimensionError` like any misfit input, and a
    :class:`~ocrr.ledger.LedgerError` like every refused write (the server answers 400)."""


def is_texts(X: object) -> bool:
    return isinstance(X, (list, tuple)) and len(X) > 0 and all(isinstance(t, str) for t in X)


def encode_one(x: VectorLike | str, encoder: Encoder | None) -> np.ndarray:
    """One input as a unit float32 vector."""
    if isinstance(x, str):
        return require_encoder(encoder).encode([x])[0]
    return unit_vector(x)


def encode_many(X: np.ndarray | Sequence[str], encoder: Encoder | None) -> np.ndarray:
    """A batch of inputs as unit float32 rows."""
    if is_texts(X):
        return require_encoder(encoder).encode(list(X))
    return unit_rows(cast(np.ndarray, X))


def check_width(vectors: np.ndarray, dim: int | None, *, write: bool = False) -> np.ndarray:
    """``vectors`` (one, or rows) if their width is ``dim`` (or ``dim`` is not known yet)."""
    if dim is not None and vectors.shape[-1] != dim:
        error = WriteDimensionError if write else DimensionError
        raise error.width(expected=dim, got=vectors.shape[-1])
    return vectors


def require_encoder(encoder: Encoder | None) -> Encoder:
    if encoder is None:
        raise LedgerError(
            "this substrate has no encoder, so it takes vectors, not text; "
            "build it with Substrate.from_encoder(...) to pass text"
        )
    return encoder
