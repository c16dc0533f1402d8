"""One benchmark run: fit a system, stream the held-out classes, checkpoint every 50 items."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ocrr.bench.policies import Policy
from ocrr.bench.protocol import Plan
from ocrr.systems import System, storage_of

CHECKPOINT_EVERY = 50


@dataclass(frozen=True)
class Checkpoint:
    step: int
    """Stream items seen so far."""
    corrections: int
    acc_novel: float
    acc_original: float
    predict_s: float
    """Cumulative seconds in ``predict_one`` over the stream so far."""
    correct_s: float
    """Cumulative seconds in ``correct`` so far."""


@dataclass
class CellResult:
    """Everything one (dataset, policy, seed, system) run measured."""

    dataset: str
    policy: str
    seed: int
    system: str
    checkpoints: list[Checkpoint] = field(default_factory=list)
    storage_entries: int = 0
    storage_bytes: int = 0
    n_predict: int = 0
    n_correct: int = 0
    wrong_labels: int = 0
    """Corrections that carried a wrong label (noisy policies)."""
    fit_s: float = 0.0
    wall_s: float = 0.0
    scenario: str = "novel"
    """What was streamed (``ocrr.bench.scenarios``); ``novel`` is the paper's protocol."""
    operations: int = 0
    """One-step operations the user made instead of corrections (a substrate's ``relabel``)."""

    @property
    def final(self) -> Checkpoint:
        return self.checkpoints[-1]

    @property
    def predict_us(self) -> float:
        return 1e6 * self.final.predict_s / self.n_predict if self.n_predict else 0.0

    @property
    def correct_us(self) -> float:
        return 1e6 * self.final.correct_s / self.n_correct if self.n_correct else 0.0


def _accuracy(system: System, X: np.ndarray, y: Sequence[str]) -> float:
    if len(y) == 0:
        return float("nan")
    predictions = system.predict_many(X)
    return float(np.mean([p == t for p, t in zip(predictions, y, strict=True)]))


def plan_labels(
    plan: Plan, y_train: Sequence[str], y_test: Sequence[str]
) -> tuple[list[str], list[str], list[str], list[str]]:
    """(fit, stream, novel, original) labels: the plan's own where it gives them (a scenario
    that relabels rows), else the rows' labels."""
    train, test = np.asarray(y_train, dtype=object), np.asarray(y_test, dtype=object)

    def pick(given: Sequence[str] | None, labels: np.ndarray, rows: np.ndarray) -> list[str]:
        return list(given) if given is not None else list(labels[rows])

    return (
        pick(plan.fit_labels, train, plan.seed_rows),
        pick(plan.stream_labels, train, plan.stream_rows),
        pick(plan.novel_labels, test, plan.novel_rows),
        pick(plan.original_labels, test, plan.original_rows),
    )


def fit_system(system: System, X_train: np.ndarray, y_train: Sequence[str], plan: Plan) -> float:
    """Fit a (vector) system on the plan's fit set, as :func:`run_cell` does; the seconds."""
    if plan.fit_labels is not None:
        y_fit = list(plan.fit_labels)
    else:
        y_fit = list(np.asarray(y_train, dtype=object)[plan.seed_rows])
    start = time.perf_counter()
    system.fit(X_train[plan.seed_rows], y_fit)
    return time.perf_counter() - start


def run_cell(
    system: System,
    X_train: np.ndarray,
    y_train: Sequence[str],
    X_test: np.ndarray,
    y_test: Sequence[str],
    plan: Plan,
    policy: Policy,
    seed: int,
    *,
    checkpoint_every: int = CHECKPOINT_EVERY,
    names: tuple[str, str] = ("", ""),
    texts: tuple[Sequence[str], Sequence[str]] | None = None,
    fit_s: float | None = None,
) -> CellResult:
    """Run the protocol's stream loop for one system; ``names`` = (dataset, system).

    A system with ``inputs = "text"`` gets the raw strings ``texts`` = (train, test), in the
    rows' order, instead of ``X_train`` and ``X_test``.

    The plan may relabel rows (``ocrr.bench.scenarios``) and ask for renames and
    retirements, which a system with ``relabel(old, new)`` / ``retire(label)`` makes as one
    operation each after the step-0 checkpoint.
    ``fit_s`` given: the system was already fitted on this plan's fit set, in that many
    seconds (the grid shares one fit between cells), and is not fitted again.
    """
    started = time.perf_counter()
    if getattr(system, "inputs", "vector") == "text":
        if texts is None:
            raise ValueError(f"system {names[1]!r} reads texts: pass texts=(train, test)")
        X_train, X_test = (np.asarray(list(t), dtype=object) for t in texts)
    result = CellResult(names[0], policy.name, seed, names[1], scenario=plan.scenario)
    y_fit, truth, y_novel, y_orig = plan_labels(plan, y_train, y_test)

    if fit_s is None:
        fit_start = time.perf_counter()
        system.fit(X_train[plan.seed_rows], y_fit)
        fit_s = time.perf_counter() - fit_start
    result.fit_s = fit_s

    X_novel, X_orig = X_test[plan.novel_rows], X_test[plan.original_rows]
    stream = plan.stream_rows
    will_correct = policy.decisions(seed, len(stream))
    # noisy policies draw wrong labels from every label of the task (for the paper's
    # protocol: every training label)
    given = policy.given_labels(seed, truth, [*y_fit, *truth])
    corrections = 0
    predict_s = correct_s = 0.0

    def checkpoint(step: int) -> None:
        result.checkpoints.append(
            Checkpoint(
                step,
                corrections,
                _accuracy(system, X_novel, y_novel),
                _accuracy(system, X_orig, y_orig),
                predict_s,
                correct_s,
            )
        )

    checkpoint(0)
    relabel = getattr(system, "relabel", None)
    if relabel is not None:
        for old, new in plan.renames:
            relabel(old, new)
            result.operations += 1
    retire = getattr(system, "retire", None)
    if retire is not None:
        for label in plan.retirements:
            retire(label)
            result.operations += 1
    clock = time.perf_counter
    for i, row in enumerate(stream):
        x, y = X_train[row], truth[i]
        t0 = clock()
        prediction = system.predict_one(x)
        t1 = clock()
        predict_s += t1 - t0
        if prediction != y and will_correct[i]:
            system.correct(x, given[i])
            correct_s += clock() - t1
            corrections += 1
            result.wrong_labels += given[i] != y
        step = i + 1
        if step % checkpoint_every == 0 or step == len(stream):
            checkpoint(step)

    result.n_predict = len(stream)
    result.n_correct = corrections
    result.storage_entries, result.storage_bytes = storage_of(system)
    result.wall_s = time.perf_counter() - started
    return result
