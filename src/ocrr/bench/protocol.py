"""The OCRR protocol's draws: held-out classes, seed set, stream order, evaluation sets.

Drawn exactly as the paper's reference harness draws them (see docs/protocol.md), so the
numbers are comparable with the paper's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

N_HELD_OUT = 10
EVAL_CAP = 400


@dataclass(frozen=True)
class Plan:
    """Row indices for one (dataset, seed): what to fit on, stream, and evaluate."""

    held_out: tuple[str, ...]
    seed_rows: np.ndarray
    """Training rows of the known classes, in file order."""
    stream_rows: np.ndarray
    """Training rows of the held-out classes, in stream order."""
    novel_rows: np.ndarray
    """Test rows of the held-out classes (at most ``cap``)."""
    original_rows: np.ndarray
    """Test rows of the known classes (at most ``cap``)."""
    # Other scenarios (ocrr.bench.scenarios) reuse the same plan with labels of their own;
    # None means the rows' own labels, as in the paper's protocol.
    scenario: str = "novel"
    fit_labels: tuple[str, ...] | None = None
    """Labels the system is fitted with, one per seed row."""
    stream_labels: tuple[str, ...] | None = None
    """The true label of each stream item: what a correction gives."""
    novel_labels: tuple[str, ...] | None = None
    original_labels: tuple[str, ...] | None = None
    renames: tuple[tuple[str, str], ...] = ()
    """(old, new) label renames the user makes before the stream: one operation each for a
    system with ``relabel``; the others learn the new name from corrections."""
    retirements: tuple[str, ...] = ()
    """Labels the user retires before the stream (a split's coarse labels): one operation
    each for a system with ``retire``; the others keep them."""


def make_plan(
    train_labels: Sequence[str],
    test_labels: Sequence[str],
    seed: int,
    *,
    n_held_out: int = N_HELD_OUT,
    cap: int = EVAL_CAP,
) -> Plan:
    labels = sorted(set(train_labels))
    if not 0 < n_held_out < len(labels):
        raise ValueError(
            f"cannot hold out {n_held_out} of {len(labels)} classes: the protocol needs "
            "some known and some held-out classes"
        )
    if cap < 1:
        raise ValueError(f"the evaluation cap must be positive, got {cap}")
    chosen = np.random.default_rng(seed).choice(len(labels), n_held_out, replace=False)
    held = {labels[i] for i in chosen}

    train_held = np.array([label in held for label in train_labels])
    test_held = np.array([label in held for label in test_labels])
    seed_rows = np.flatnonzero(~train_held)
    stream_pool = np.flatnonzero(train_held)
    original = np.flatnonzero(~test_held)
    novel = np.flatnonzero(test_held)

    rng = np.random.default_rng(seed)
    if len(original) > cap:
        original = original[rng.choice(len(original), cap, replace=False)]
    if len(novel) > cap:
        novel = novel[rng.choice(len(novel), cap, replace=False)]
    stream = stream_pool[rng.permutation(len(stream_pool))]
    return Plan(tuple(sorted(held)), seed_rows, stream, novel, original)
