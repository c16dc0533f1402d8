"""What the rest of OCRR needs from an encoder: text in, unit float32 vectors out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar, runtime_checkable

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

    @property
    def identity(self) -> str: ...

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray: ...


@runtime_checkable
class FittableEncoder(Encoder, Protocol):
    """An encoder that must see a corpus first (TF-IDF): the benchmark fits it on the
    training texts of the dataset at hand (:func:`prepare_encoder`)."""

    def fit(self, texts: Sequence[str]) -> FittableEncoder: ...


def wrapped_encoder(encoder: Encoder) -> Encoder:
    """The encoder that does the work: wrappers (:class:`~ocrr.encoders.CachedEncoder`)
    keep the one they wrap as ``.encoder``."""
    for _ in range(8):  # wrappers of wrappers, never a cycle
        inner = getattr(encoder, "encoder", None)
        if inner is None:
            break
        encoder = inner
    return encoder


def needs_fit(encoder: Encoder) -> bool:
    """Whether ``encoder`` (or the encoder it wraps) must be fitted on a corpus first."""
    return isinstance(wrapped_encoder(encoder), FittableEncoder)


E = TypeVar("E", bound=Encoder)


def prepare_encoder(encoder: E, train_texts: Sequence[str]) -> E:
    """Fit ``encoder`` on ``train_texts`` when it must see a corpus first (a
    :class:`FittableEncoder`, wrapped or not); return it. The one place OCRR fits encoders:
    the benchmark, the tuning splits, the scenarios and the front doors all come here.

    >>> from ocrr.encoders import TfidfEncoder
    >>> enc = prepare_encoder(TfidfEncoder(dim=4), ["a card", "a rate", "my card", "the rate"])
    >>> enc.identity.startswith("tfidf-lsa4-seed0:")
    True
    """
    if needs_fit(encoder):
        encoder.fit(list(train_texts))  # type: ignore[attr-defined]
    return encoder


l2_normalise = normalise
"""Rows as float32 of norm 1 (``x / max(norm, 1e-12)``): :func:`ocrr.vectors.normalise`."""
