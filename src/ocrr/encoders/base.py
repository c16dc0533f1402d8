"""What the rest of OCRR needs from an encoder: text in, unit float32 vectors out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from ocrr.vectors import normalise


class EncoderError(ValueError):
    """An encoder could not be built or used; the message says which and why."""


@runtime_checkable
class Encoder(Protocol):
    """Maps texts to L2-normalised float32 vectors of shape (n, dim).

    ``identity`` names the model and everything that changes its output (for a fitted
    encoder, the fitting corpus); the embedding cache is keyed by it, so two encoders with
    the same identity must produce the same vectors.
    """

    identity: str

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray: ...


class FittableEncoder(Encoder, Protocol):
    """An encoder that must see a corpus first (TF-IDF): the benchmark fits it on the
    training texts of the dataset at hand."""

    def fit(self, texts: Sequence[str]) -> FittableEncoder: ...


l2_normalise = normalise
"""Rows as float32 of norm 1 (``x / max(norm, 1e-12)``): :func:`ocrr.vectors.normalise`."""
