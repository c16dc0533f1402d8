"""Choosing a system's parameters on validation data, never on the test rows.

The benchmark's test rows must not leak into any choice, so tuning runs the unchanged OCRR
protocol on a validation split instead: CLINC150's own ``val`` split, and for datasets
without one (Banking77, user folders) a seeded tenth of each class's training rows held out
as the evaluation set, the rest as training rows. Each candidate is scored by the mean, over
datasets, of the mean of final novel and final original accuracy under the oracle policy
(both axes count equally: learning new classes and keeping old ones). ``ocrr tune`` runs
this and prints the table; the hybrid rule's defaults in :class:`~ocrr.substrate.Substrate`
are its winner (see docs/results.md).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ocrr.bench.grid import EncodedDataset, make_cells, run_grid
from ocrr.bench.harness import CellResult
from ocrr.bench.metrics import summarise

VALIDATION_SHARE = 0.1
VALIDATION_SEED = 12345

# the hybrid rule's search space: weight of the neighbours, the discriminant's temperature
HYBRID_GRID: dict[str, Sequence[object]] = {
    "mix": (0.4, 0.5, 0.6),
    "temperature": (3.0, 5.0, 10.0),
}


def validation_split(name: str, encoder: str = "default", *, cache_dir: str | None = None,
                     progress: bool = False) -> EncodedDataset:
    """The dataset's validation task, as an :class:`EncodedDataset` named ``NAME-val``:
    training rows and evaluation rows that contain no test row."""
    from ocrr.datasets import load_dataset
    from ocrr.encoders import get_encoder, prepare_encoder

    dataset = load_dataset(name)
    enc = prepare_encoder(get_encoder(encoder, cache_dir=cache_dir), dataset.train.texts)
    if "val" in dataset.extra:
        train_texts, train_labels = list(dataset.train.texts), list(dataset.train.labels)
        val = dataset.extra["val"]
        val_texts, val_labels = list(val.texts), list(val.labels)
    else:
        held = carve_validation(dataset.train.labels)
        texts, labels = dataset.train.texts, dataset.train.labels
        train_texts = [t for t, h in zip(texts, held, strict=True) if not h]
        train_labels = [y for y, h in zip(labels, held, strict=True) if not h]
        val_texts = [t for t, h in zip(texts, held, strict=True) if h]
        val_labels = [y for y, h in zip(labels, held, strict=True) if h]
    vectors = enc.encode(train_texts + val_texts, progress=progress)
    n = len(train_texts)
    return EncodedDataset(
        f"{dataset.name}-val", vectors[:n], tuple(train_labels), vectors[n:], tuple(val_labels)
    )


def carve_validation(labels: Sequence[str], share: float = VALIDATION_SHARE,
                     seed: int = VALIDATION_SEED) -> np.ndarray:
    """Boolean mask of the training rows held out for validation: ``share`` of each class
    (at least one row, and never a class's only row), drawn with a seeded generator in
    sorted-label order."""
    column = np.asarray(labels, dtype=object)
    rng = np.random.default_rng(seed)
    held = np.zeros(len(column), dtype=bool)
    for label in sorted(set(column)):
        rows = np.flatnonzero(column == label)
        take = min(max(1, int(len(rows) * share)), len(rows) - 1)
        if take > 0:
            held[rng.choice(rows, take, replace=False)] = True
    return held


@dataclass(frozen=True)
class Candidate:
    params: Mapping[str, object]
    score: float
    per_dataset: Mapping[str, tuple[float, float]]
    """dataset -> (final novel, final original), means over seeds."""

    @property
    def system(self) -> str:
        return system_name("substrate_plus", self.params)


def system_name(base: str, params: Mapping[str, object]) -> str:
    return f"{base}({', '.join(f'{k}={v}' for k, v in params.items())})"


def candidates(grid: Mapping[str, Sequence[object]] = HYBRID_GRID) -> list[dict[str, object]]:
    keys = list(grid)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*grid.values())]


def tune(
    data: Mapping[str, EncodedDataset],
    grid: Mapping[str, Sequence[object]] = HYBRID_GRID,
    *,
    base: str = "substrate_plus",
    seeds: Sequence[int] = (0, 1, 2),
    policy: str = "oracle",
    workers: int | None = None,
    on_done: Callable[[CellResult], None] | None = None,
) -> list[Candidate]:
    """Run every candidate on every validation dataset; best first."""
    options = candidates(grid)
    names = [system_name(base, params) for params in options]
    cells = make_cells(list(data), [policy], list(seeds), names)
    results = run_grid(dict(data), cells, workers=workers, on_done=on_done)
    rows = {(r["dataset"], r["system"]): r for r in summarise(results)}
    ranked = []
    for params, name in zip(options, names, strict=True):
        per = {
            d: (float(rows[(d, name)]["final_novel_mean"]),
                float(rows[(d, name)]["final_orig_mean"]))
            for d in data
        }
        score = float(np.mean([(novel + orig) / 2 for novel, orig in per.values()]))
        ranked.append(Candidate(params, score, per))
    return sorted(ranked, key=lambda c: -c.score)


def write_table(ranked: Sequence[Candidate], path: Path | None = None) -> str:
    datasets = list(ranked[0].per_dataset) if ranked else []
    header = "| params | score | " + " | ".join(f"{d} novel / original" for d in datasets)
    lines = [header + " |", "|---|---|" + "---|" * len(datasets)]
    for c in ranked:
        cells = " | ".join(f"{n:.3f} / {o:.3f}" for n, o in c.per_dataset.values())
        params = ", ".join(f"{k}={v}" for k, v in c.params.items())
        lines.append(f"| {params} | {c.score:.4f} | {cells} |")
    text = "\n".join(lines) + "\n"
    if path is not None:
        path.write_text(text, encoding="utf-8")
    return text
