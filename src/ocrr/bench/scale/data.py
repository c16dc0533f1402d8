"""The scale study's data: the paper's synthetic classes and Banking77 with distractor
classes (see :mod:`ocrr.bench.scale`), each a :class:`LabelledSet` in ledger order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

VARIANTS = ("synthetic", "banking77")
DISTRACTOR_CLASS_SIZE = 130


@dataclass(frozen=True)
class LabelledSet:
    """Ledger rows (in ledger order) and held-out queries."""

    X: np.ndarray
    y: list[str]
    Q: np.ndarray
    yq: list[str]
    classes: int


def _unit_inplace(x: np.ndarray) -> np.ndarray:
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def synthetic_set(
    size: int,
    dim: int = 384,
    sigma: float = 0.15,
    *,
    classes: int = 100,
    queries: int = 1000,
    seed: int = 0,
) -> LabelledSet:
    """The paper's synthetic setup (see the module docstring), class-incremental order."""
    if size < classes:
        raise ValueError(f"size {size} is smaller than the number of classes {classes}")
    rng = np.random.default_rng(seed)
    centroids = _unit_inplace(rng.standard_normal((classes, dim), dtype=np.float32))
    labels = np.repeat(np.arange(classes), -(-size // classes))[:size]  # class blocks
    X = np.empty((size, dim), dtype=np.float32)
    for at in range(0, size, 65_536):  # float32 chunks: memory stays ~ the output
        part = labels[at : at + 65_536]
        noise = rng.standard_normal((len(part), dim), dtype=np.float32)
        X[at : at + len(part)] = centroids[part] + sigma * noise
    _unit_inplace(X)
    qrng = np.random.default_rng(seed + 1)
    qlabels = qrng.integers(0, classes, queries)
    Q = centroids[qlabels] + sigma * qrng.standard_normal((queries, dim), dtype=np.float32)
    names = [f"class-{c}" for c in range(classes)]
    return LabelledSet(
        X, [names[c] for c in labels], _unit_inplace(Q), [names[c] for c in qlabels], classes
    )


def banking77_set(
    size: int,
    *,
    queries: int | None = None,
    seed: int = 0,
    encoder: str = "default",
    cache_dir: str | Path | None = None,
    core: tuple[np.ndarray, Sequence[str], np.ndarray, Sequence[str]] | None = None,
) -> LabelledSet:
    """Banking77's encoded training set plus Gaussian distractor classes up to ``size``.

    ``core`` = (X_train, y_train, X_test, y_test) replaces the encoded dataset (tests).
    """
    if core is None:
        from ocrr.bench import encode_dataset

        data = encode_dataset("banking77", encoder, cache_dir=cache_dir, progress=False)
        core = (data.X_train, data.y_train, data.X_test, data.y_test)
    x_core = np.asarray(core[0], dtype=np.float32)
    y_core = list(core[1])
    Q, yq = np.asarray(core[2], dtype=np.float32), list(core[3])
    if size < len(x_core):
        raise ValueError(f"size {size} is below the Banking77 core ({len(x_core)} entries)")
    rng = np.random.default_rng(seed)
    if queries is not None and queries < len(Q):
        pick = np.sort(rng.choice(len(Q), queries, replace=False))
        Q, yq = Q[pick], [yq[i] for i in pick]
    names = sorted(set(y_core))
    codes = np.array([names.index(v) for v in y_core])
    means = np.stack([x_core[codes == c].mean(axis=0) for c in range(len(names))])
    residual = x_core - means[codes]
    between = _psd_root(np.cov(means, rowvar=False))
    within = _psd_root(np.cov(residual, rowvar=False))
    centre = means.mean(axis=0)
    n_extra = size - len(x_core)
    n_classes = -(-n_extra // DISTRACTOR_CLASS_SIZE)
    dim = x_core.shape[1]
    X = np.empty((size, dim), dtype=np.float32)
    X[: len(x_core)] = x_core
    class_means = centre + rng.standard_normal((n_classes, dim), dtype=np.float32) @ between
    labels = np.repeat(np.arange(n_classes), DISTRACTOR_CLASS_SIZE)[:n_extra]
    for at in range(0, n_extra, 65_536):
        part = labels[at : at + 65_536]
        noise = rng.standard_normal((len(part), dim), dtype=np.float32) @ within
        rows = slice(len(x_core) + at, len(x_core) + at + len(part))
        X[rows] = _unit_inplace(class_means[part] + noise)
    y = y_core + [f"distractor-{c}" for c in labels]
    return LabelledSet(X, y, Q, yq, len(names) + n_classes)


def _psd_root(cov: np.ndarray) -> np.ndarray:
    """R with R.T @ R = cov (eigenvalues clipped at 0), so z @ R ~ N(0, cov)."""
    vals, vecs = np.linalg.eigh(cov.astype(np.float64))
    return (vecs * np.sqrt(np.clip(vals, 0, None))).T.astype(np.float32)
