"""The grid datasets x policies x seeds x systems, encoded once and run in worker processes."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ocrr.bench.harness import CHECKPOINT_EVERY, CellResult, run_cell
from ocrr.bench.policies import get_policy
from ocrr.bench.protocol import EVAL_CAP, make_plan
from ocrr.datasets import load_dataset
from ocrr.systems import make_system


@dataclass(frozen=True)
class EncodedDataset:
    """A dataset's train and test splits as unit vectors: what every system sees."""

    name: str
    X_train: np.ndarray
    y_train: tuple[str, ...]
    X_test: np.ndarray
    y_test: tuple[str, ...]


def encode_dataset(
    name: str,
    encoder: str = "default",
    *,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> EncodedDataset:
    """Load a dataset and encode it (through the on-disk cache)."""
    from ocrr.encoders import get_encoder

    dataset = load_dataset(name)
    enc = get_encoder(encoder, cache_dir=cache_dir)
    if encoder == "tfidf":
        enc.fit(dataset.train.texts)  # type: ignore[attr-defined]
    texts = list(dataset.train.texts) + list(dataset.test.texts)
    vectors = enc.encode(texts, progress=progress)
    n = len(dataset.train)
    return EncodedDataset(
        dataset.name, vectors[:n], dataset.train.labels, vectors[n:], dataset.test.labels
    )


@dataclass(frozen=True)
class Cell:
    dataset: str
    policy: str
    seed: int
    system: str


_WORKER_DATA: dict[str, EncodedDataset] = {}


def _init_worker(data: dict[str, EncodedDataset], single_thread: bool) -> None:
    _WORKER_DATA.clear()
    _WORKER_DATA.update(data)
    if single_thread:  # workers share the cores; nested BLAS threads would oversubscribe
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)


def _run(cell: Cell, cap: int, checkpoint_every: int) -> CellResult:
    data = _WORKER_DATA[cell.dataset]
    plan = make_plan(data.y_train, data.y_test, cell.seed, cap=cap)
    return run_cell(
        make_system(cell.system, cell.seed),
        data.X_train,
        data.y_train,
        data.X_test,
        data.y_test,
        plan,
        get_policy(cell.policy),
        cell.seed,
        checkpoint_every=checkpoint_every,
        names=(cell.dataset, cell.system),
    )


def make_cells(
    datasets: Sequence[str],
    policies: Sequence[str],
    seeds: Sequence[int],
    systems: Sequence[str],
) -> list[Cell]:
    return [Cell(d, p, s, m) for d in datasets for p in policies for s in seeds for m in systems]


def run_grid(
    data: dict[str, EncodedDataset],
    cells: Sequence[Cell],
    *,
    workers: int | None = None,
    cap: int = EVAL_CAP,
    checkpoint_every: int = CHECKPOINT_EVERY,
    on_done: Callable[[CellResult], None] | None = None,
) -> list[CellResult]:
    """Run every cell; results come back in ``cells`` order whatever the worker count."""
    workers = max(1, workers or os.cpu_count() or 1)
    results: dict[Cell, CellResult] = {}
    if workers == 1 or len(cells) == 1:
        _init_worker(data, single_thread=False)
        for cell in cells:
            results[cell] = _run(cell, cap, checkpoint_every)
            if on_done:
                on_done(results[cell])
    else:
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        with ProcessPoolExecutor(
            workers, mp_context=context, initializer=_init_worker, initargs=(data, True)
        ) as pool:
            futures = {pool.submit(_run, cell, cap, checkpoint_every): cell for cell in cells}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                if on_done:
                    on_done(results[futures[future]])
    return [results[cell] for cell in cells]
