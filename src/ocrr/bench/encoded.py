"""A dataset as the systems see it: its splits encoded once into unit vectors.

Below both the grid (which runs cells on it) and the scenarios (which derive their data
from it), so neither imports the other to get it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ocrr.datasets import load_dataset


@dataclass(frozen=True)
class EncodedDataset:
    """A dataset's train and test splits as unit vectors: what every system sees."""

    name: str
    X_train: np.ndarray
    y_train: tuple[str, ...]
    X_test: np.ndarray
    y_test: tuple[str, ...]
    train_texts: tuple[str, ...] | None = None
    """The raw strings, for systems that read texts (``inputs = "text"``)."""
    test_texts: tuple[str, ...] | None = None

    @property
    def texts(self) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
        if self.train_texts is None or self.test_texts is None:
            return None
        return self.train_texts, self.test_texts


def encode_dataset(
    name: str,
    encoder: str = "default",
    *,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> EncodedDataset:
    """Load a dataset and encode it (through the on-disk cache)."""
    from ocrr.encoders import get_encoder, prepare_encoder

    dataset = load_dataset(name)
    enc = prepare_encoder(get_encoder(encoder, cache_dir=cache_dir), dataset.train.texts)
    texts = list(dataset.train.texts) + list(dataset.test.texts)
    vectors = enc.encode(texts, progress=progress)
    n = len(dataset.train)
    return EncodedDataset(
        dataset.name,
        vectors[:n],
        dataset.train.labels,
        vectors[n:],
        dataset.test.labels,
        tuple(dataset.train.texts),
        tuple(dataset.test.texts),
    )
