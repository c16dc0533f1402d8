"""What an encoder gives the benchmark before any system runs (``ocrr encoders --measure``):
its logistic-regression ceiling on each dataset and how fast it encodes.

The ceiling is a multinomial logistic regression trained on the whole training set's
vectors and scored on the test set: what a linear classifier that saw every class can
reach on this encoder's vectors, the bar the encoder table in ``docs/results.md`` sets
beside each encoder's ``substrate_plus`` finals. The speed is measured on the Banking77
test texts with a fresh encoder (no embedding cache), after one warm-up batch: texts per
second of wall time and per second of this process's CPU time (the second is what a
shared machine does not inflate).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class EncoderFigures:
    """The figures of one encoder.

    Examples
    --------
    >>> figures = EncoderFigures("tfidf", 64, {"banking77": 0.81}, 3080, 2.0, 1.0)
    >>> figures.texts_per_s, figures.texts_per_cpu_s
    (1540.0, 3080.0)
    """

    encoder: str
    dim: int
    ceiling: dict[str, float] = field(default_factory=dict)
    """Dataset -> test accuracy of the logistic regression on its vectors."""
    texts: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0

    @property
    def texts_per_s(self) -> float:
        return self.texts / self.wall_s if self.wall_s else 0.0

    @property
    def texts_per_cpu_s(self) -> float:
        return self.texts / self.cpu_s if self.cpu_s else 0.0

    def lines(self) -> list[str]:
        ceilings = ", ".join(f"{name} {acc:.3f}" for name, acc in self.ceiling.items())
        return [
            f"{self.encoder}: {self.dim} dimensions; logistic-regression ceiling: {ceilings}",
            f"  encodes {self.texts} texts in {self.wall_s:.1f} s wall, {self.cpu_s:.1f} s CPU: "
            f"{self.texts_per_s:,.0f} texts/s, {self.texts_per_cpu_s:,.0f} texts per CPU-s",
        ]


def logistic_ceiling(X_train: np.ndarray, y_train: Sequence[str], X_test: np.ndarray,
                     y_test: Sequence[str]) -> float:
    """Test accuracy of a multinomial logistic regression (C = 10, lbfgs) fitted on every
    training row."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=10.0, max_iter=2000)
    model.fit(X_train, list(y_train))
    return float(np.mean(model.predict(X_test) == np.asarray(list(y_test))))


def measure_encoder(name: str, datasets: Sequence[str] = ("banking77", "clinc150"), *,
                    cache_dir: str | Path | None = None) -> EncoderFigures:
    """The ceiling on each dataset (vectors through the embedding cache) and the speed."""
    from ocrr.bench.encoded import encode_dataset
    from ocrr.datasets import load_dataset
    from ocrr.encoders import get_encoder, prepare_encoder

    figures = EncoderFigures(name, 0)
    for dataset in datasets:
        data = encode_dataset(dataset, name, cache_dir=cache_dir, progress=False)
        figures.dim = data.X_train.shape[1]
        figures.ceiling[data.name] = logistic_ceiling(data.X_train, data.y_train,
                                                      data.X_test, data.y_test)
    banking77 = load_dataset("banking77")
    texts = list(banking77.test.texts)
    encoder = prepare_encoder(get_encoder(name, cache=False), banking77.train.texts)
    encoder.encode(texts[:64])  # loads the model
    wall, cpu = time.perf_counter(), time.process_time()
    encoder.encode(texts)
    figures.texts = len(texts)
    figures.wall_s = time.perf_counter() - wall
    figures.cpu_s = time.process_time() - cpu
    return figures


__all__ = ["EncoderFigures", "logistic_ceiling", "measure_encoder"]
