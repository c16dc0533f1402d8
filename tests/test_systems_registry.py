"""Every registered system through the harness on a tiny synthetic stream."""

from __future__ import annotations

import numpy as np
import pytest

from ocrr.bench import get_policy, make_plan, run_cell
from ocrr.systems import available_systems, make_system

STATIC = {"static_knn", "static_linear"}
# learn too slowly (one small SGD step per correction) to be asked to recover here
SLOW = {"online_linear", "ewc", "a_gem", "lwf", "er_reservoir"}


def _stream(classes: int = 14, train_per: int = 8, test_per: int = 3, dim: int = 16):
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(classes, dim))

    def draw(n: int) -> tuple[np.ndarray, list[str]]:
        X = np.concatenate([c + 0.25 * rng.normal(size=(n, dim)) for c in centres])
        X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
        return X, [f"class{i:02d}" for i in range(classes) for _ in range(n)]

    return (*draw(train_per), *draw(test_per))


@pytest.fixture(scope="module")
def stream():
    X_train, y_train, X_test, y_test = _stream()
    return X_train, y_train, X_test, y_test, make_plan(y_train, y_test, 0)


def _run(name: str, stream, seed: int = 0):
    X_train, y_train, X_test, y_test, plan = stream
    return run_cell(
        make_system(name, seed),
        X_train,
        y_train,
        X_test,
        y_test,
        plan,
        get_policy("oracle"),
        seed,
        checkpoint_every=20,
        names=("synthetic", name),
    )


def test_every_issue_system_is_registered():
    names = set(available_systems())
    wanted = {"ewc", "a_gem", "lwf", "knn_lm", "river_logreg", "ncm", "slda", "gdumb"}
    wanted |= {"er_reservoir", "substrate_k1", "substrate_sumsim"}
    wanted |= {"substrate_count_only", "substrate_no_recency"}
    wanted |= {
        f"bounded_{p}_{b}"
        for p in ("reservoir", "fifo", "balanced")
        for b in (100, 500, 1000, 5000)
    }
    assert wanted <= names


@pytest.mark.parametrize("name", available_systems())
def test_system_runs_reports_storage_and_is_deterministic(name: str, stream):
    first = _run(name, stream)
    again = _run(name, stream)
    assert [(c.acc_novel, c.acc_original, c.corrections) for c in first.checkpoints] == [
        (c.acc_novel, c.acc_original, c.corrections) for c in again.checkpoints
    ]
    assert first.storage_bytes > 0
    assert first.storage_bytes == again.storage_bytes
    final = first.final
    if name in STATIC:
        assert final.acc_novel == 0.0
    elif name not in SLOW:
        assert final.acc_novel > 0.5, (name, final)
