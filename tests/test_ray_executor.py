"""The Ray executor runs the same cells as the local one, with the same results."""

from __future__ import annotations

import numpy as np
import pytest

from ocrr.bench import EncodedDataset, make_cells, run_grid

ray = pytest.importorskip("ray")


def _dataset() -> EncodedDataset:
    rng = np.random.default_rng(0)
    classes, dim = 12, 8
    centres = rng.normal(size=(classes, dim))

    def draw(n: int) -> tuple[np.ndarray, tuple[str, ...]]:
        X = np.concatenate([c + 0.3 * rng.normal(size=(n, dim)) for c in centres])
        X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
        return X, tuple(f"c{i:02d}" for i in range(classes) for _ in range(n))

    X_train, y_train = draw(6)
    X_test, y_test = draw(2)
    return EncodedDataset("toy", X_train, y_train, X_test, y_test)


@pytest.fixture
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_executor_matches_local_workers(local_ray):
    data = {"toy": _dataset()}
    cells = make_cells(["toy"], ["oracle", "random50"], [0, 1], ["substrate", "ncm"])
    on_ray = run_grid(data, cells, executor="ray", checkpoint_every=10)
    local = run_grid(data, cells, workers=1, checkpoint_every=10)
    assert [(r.dataset, r.policy, r.seed, r.system) for r in on_ray] == [
        (c.dataset, c.policy, c.seed, c.system) for c in cells
    ]
    for a, b in zip(on_ray, local, strict=True):
        assert [(c.acc_novel, c.acc_original) for c in a.checkpoints] == [
            (c.acc_novel, c.acc_original) for c in b.checkpoints
        ]
