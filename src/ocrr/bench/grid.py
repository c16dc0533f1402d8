"""The grid datasets x policies x seeds x systems, encoded once and run in worker processes."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass

from ocrr.bench.encoded import EncodedDataset, encode_dataset
from ocrr.bench.harness import CHECKPOINT_EVERY, CellResult, fit_system, run_cell
from ocrr.bench.policies import get_policy
from ocrr.bench.protocol import EVAL_CAP
from ocrr.bench.scenarios import applies, fit_identity, scenario_inputs
from ocrr.bench.store import CellStore
from ocrr.systems import make_system

__all__ = ["EXECUTORS", "Cell", "EncodedDataset", "encode_dataset", "make_cells", "run_grid"]


@dataclass(frozen=True)
class Cell:
    dataset: str
    policy: str
    seed: int
    system: str
    scenario: str = "novel"
    """What is streamed (``ocrr.bench.scenarios``); ``novel`` is the paper's protocol."""


_WORKER_DATA: dict[str, EncodedDataset] = {}
_GROUP: dict[str, tuple[bytes, float]] | None = None
"""While a worker runs a group of cells that fit the same system on the same rows (policies
and scenarios that differ only after the fit): the group's fitted system, pickled, and the
seconds its fit took. Systems that cannot be pickled fit once per cell."""
_GROUP_LEFT = 1
"""Cells of the running group after this one: they copy its fit (none: keep no copy)."""


def _init_worker(data: dict[str, EncodedDataset], single_thread: bool) -> None:
    _WORKER_DATA.clear()
    _WORKER_DATA.update(data)
    if single_thread:  # workers share the cores; nested BLAS threads would oversubscribe
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)


def _run(cell: Cell, cap: int, checkpoint_every: int) -> CellResult:
    data, plan = scenario_inputs(_WORKER_DATA, cell.scenario, cell.dataset, cell.seed, cap)
    system, fit_s, fitted_here = make_system(cell.system, cell.seed), None, 0.0
    fitted_cpu = 0.0
    if _GROUP is not None and getattr(system, "inputs", "vector") != "text":
        if "fit" in _GROUP:
            blob, fit_s = _GROUP["fit"]
            system = pickle.loads(blob)
        else:
            started_cpu = time.process_time()
            fit_s = fit_system(system, data.X_train, data.y_train, plan)
            # what a system derives lazily on its first prediction (the hybrid rule's head
            # and covariance) is derived once here, so every copy shares it; deterministic,
            # so the copies predict exactly as fresh fits would
            start = time.perf_counter()
            system.predict_one(data.X_train[plan.seed_rows[0]])
            fitted_here = fit_s + time.perf_counter() - start
            fitted_cpu = time.process_time() - started_cpu
            # not picklable: the next cell fits its own; the last cell of a group (a grid
            # of one policy and seed: every cell) keeps no copy (pickling costs a second)
            with contextlib.suppress(Exception):
                if _GROUP_LEFT:
                    _GROUP["fit"] = (pickle.dumps(system), fit_s)
    result = run_cell(
        system,
        data.X_train,
        data.y_train,
        data.X_test,
        data.y_test,
        plan,
        get_policy(cell.policy),
        cell.seed,
        checkpoint_every=checkpoint_every,
        names=(cell.dataset, cell.system),
        texts=data.texts,
        fit_s=fit_s,
    )
    result.wall_s += fitted_here
    result.cpu_s += fitted_cpu
    return result


def _run_group(cells: Sequence[Cell], cap: int, checkpoint_every: int) -> list[CellResult]:
    """Cells that fit the same system on the same rows: one fit, copied to each cell."""
    global _GROUP, _GROUP_LEFT
    _GROUP = {}
    try:
        results: list[CellResult] = []
        for cell in cells:
            _GROUP_LEFT = len(cells) - len(results) - 1
            results.append(_run(cell, cap, checkpoint_every))
        return results
    finally:
        _GROUP = None


def _groups(data: dict[str, EncodedDataset], cells: Sequence[Cell], cap: int) -> list[list[Cell]]:
    """``cells`` grouped by (what the system is fitted on, system, seed), in order of first
    appearance: a grid fits each system once per group, not once per cell."""
    identities: dict[tuple[str, str, int], str] = {}
    groups: dict[tuple[str, str, int], list[Cell]] = {}
    for cell in cells:
        where = (cell.scenario, cell.dataset, cell.seed)
        if where not in identities:
            identities[where] = fit_identity(*scenario_inputs(data, *where, cap))
        groups.setdefault((identities[where], cell.system, cell.seed), []).append(cell)
    return list(groups.values())


def make_cells(
    datasets: Sequence[str],
    policies: Sequence[str],
    seeds: Sequence[int],
    systems: Sequence[str],
    scenarios: Sequence[str] = ("novel",),
) -> list[Cell]:
    """Every combination, scenario outermost; a scenario only on the datasets it applies to
    (``drift-cross`` on Banking77)."""
    return [
        Cell(d, p, s, m, sc)
        for sc in scenarios
        for d in datasets
        if applies(sc, d)
        for p in policies
        for s in seeds
        for m in systems
    ]


EXECUTORS = ("local", "ray")


def run_grid(
    data: dict[str, EncodedDataset],
    cells: Sequence[Cell],
    *,
    workers: int | None = None,
    executor: str = "local",
    address: str | None = None,
    cap: int = EVAL_CAP,
    checkpoint_every: int = CHECKPOINT_EVERY,
    store: CellStore | None = None,
    on_done: Callable[[CellResult], None] | None = None,
) -> list[CellResult]:
    """Run every cell; results come back in ``cells`` order whatever the worker count.

    With a ``store``, cells it already holds are not rerun and each finished cell is saved
    at once, so an interrupted grid resumes. ``executor="ray"`` runs the cells as Ray tasks
    on the cluster at ``address`` (a local Ray instance when None).
    """
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; valid: {', '.join(EXECUTORS)}")
    results: dict[Cell, CellResult] = {}

    def finish(cell: Cell, result: CellResult) -> None:
        results[cell] = result
        if store is not None:
            store.save(result)
        if on_done:
            on_done(result)

    todo = []
    for cell in cells:
        kept = (
            store.load(cell.dataset, cell.policy, cell.seed, cell.system, scenario=cell.scenario)
            if store
            else None
        )
        if kept is None:
            todo.append(cell)
        else:
            results[cell] = kept
            if on_done:
                on_done(kept)

    workers = max(1, workers or os.cpu_count() or 1)
    if executor == "ray":
        _run_on_ray(data, todo, cap, checkpoint_every, address, finish)
    elif workers == 1 or len(todo) <= 1:
        from threadpoolctl import threadpool_limits

        _init_worker(data, single_thread=False)
        # one BLAS thread, as in the workers: the same arithmetic whatever the worker count
        with threadpool_limits(1):
            for group in _groups(data, todo, cap):
                results_of = _run_group(group, cap, checkpoint_every)
                for cell, result in zip(group, results_of, strict=True):
                    finish(cell, result)
    else:
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        with ProcessPoolExecutor(
            workers, mp_context=context, initializer=_init_worker, initargs=(data, True)
        ) as pool:
            futures = {
                pool.submit(_run_group, group, cap, checkpoint_every): group
                for group in _groups(data, todo, cap)
            }
            for future in as_completed(futures):
                for cell, result in zip(futures[future], future.result(), strict=True):
                    finish(cell, result)
    return [results[cell] for cell in cells]


def _ray_task(
    data: dict[str, EncodedDataset], cell: Cell, cap: int, checkpoint_every: int
) -> CellResult:
    _init_worker(data, single_thread=True)
    return _run(cell, cap, checkpoint_every)


def _run_on_ray(
    data: dict[str, EncodedDataset],
    todo: Sequence[Cell],
    cap: int,
    checkpoint_every: int,
    address: str | None,
    finish: Callable[[Cell, CellResult], None],
) -> None:
    """One Ray task per cell (one CPU each); the encoded data goes to the object store once.

    Every node of the cluster needs ``ocrr`` installed (``pip install "ocrr[ray]"``).
    """
    try:
        import ray
    except ImportError as err:
        raise RuntimeError(
            'the ray executor needs the optional extra: pip install "ocrr[ray]"'
        ) from err
    if not todo:
        return
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    task = ray.remote(num_cpus=1)(_ray_task)
    data_ref = ray.put(data)
    pending = {task.remote(data_ref, cell, cap, checkpoint_every): cell for cell in todo}
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        for ref in ready:
            finish(pending.pop(ref), ray.get(ref))
