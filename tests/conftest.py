"""Shared fixtures: small synthetic data, so the whole suite runs in a few minutes on 2 cores.

Every test gets its own embedding cache folder (``OCRR_CACHE_DIR``), so nothing ever reads or
writes ``~/.cache/ocrr``.
"""

from __future__ import annotations

import os

# One BLAS/OpenMP thread: the suite's matrices are tiny, and on a small shared machine
# threaded BLAS costs far more in contention than it gains. Set before numpy loads; inherited
# by the subprocesses some tests start.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import csv  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ocrr.bench import EncodedDataset  # noqa: E402

# the fixture plugins some test modules name (pytest_plugins): their asserts are rewritten even
# when a module of the same process imported them first (pytest-xdist's workers do)
pytest.register_assert_rewrite("server_fixtures", "stores_fixtures")


def unit(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    return matrix / np.linalg.norm(matrix, axis=-1, keepdims=True)


def random_units(n: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    """n random unit vectors (float32), seeded."""
    return unit(np.random.default_rng(seed).standard_normal((n, dim)))


def labelled_clusters(n: int, dim: int = 16, classes: int = 5, seed: int = 0):
    """n unit vectors around ``classes`` random unit centres (noise 0.1), their labels
    ("c0", ...) and the centres."""
    rng = np.random.default_rng(seed)
    centres = unit(rng.standard_normal((classes, dim)))
    labels = rng.integers(0, classes, n)
    x = unit(centres[labels] + 0.1 * rng.standard_normal((n, dim)))
    return x, [f"c{c}" for c in labels], centres


@pytest.fixture(scope="session", autouse=True)
def _one_blas_thread():
    """In case numpy was loaded before this file (the environment variables came too late)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Point the embedding cache (and XDG's) at a fresh folder; never touch ~/.cache."""
    root = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("OCRR_CACHE_DIR", str(root / "ocrr"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(root / "xdg"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    return root / "ocrr"


@pytest.fixture
def cache_dir(_isolated_cache: Path) -> Path:
    """The folder ``OCRR_CACHE_DIR`` points at for this test."""
    return _isolated_cache


@pytest.fixture
def unit_rows() -> Callable[..., np.ndarray]:
    """``unit_rows(n, dim, seed=0)``: n random unit float32 vectors."""

    def make(n: int, dim: int, seed: int = 0) -> np.ndarray:
        rng = np.random.default_rng(seed)
        return unit(rng.standard_normal((n, dim)))

    return make


def make_clusters(
    n_classes: int,
    per_class: int,
    dim: int = 32,
    *,
    noise: float = 0.3,
    seed: int = 0,
    prefix: str = "c",
    centroids: np.ndarray | None = None,
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Well separated classes: unit centroid + Gaussian noise, rows shuffled.

    Returns (X, labels, centroids).
    """
    rng = np.random.default_rng(seed)
    if centroids is None:
        centroids = unit(rng.standard_normal((n_classes, dim)))
    which = np.repeat(np.arange(n_classes), per_class)
    rng.shuffle(which)
    X = centroids[which] + noise * rng.standard_normal((len(which), dim)) / np.sqrt(dim)
    return unit(X), [f"{prefix}{i:02d}" for i in which], centroids


@pytest.fixture
def clusters() -> Callable[..., tuple[np.ndarray, list[str], np.ndarray]]:
    """``clusters(n_classes, per_class, dim=32, noise=0.3, seed=0, prefix="c")``."""
    return make_clusters


@pytest.fixture(scope="session")
def encoded() -> EncodedDataset:
    """A synthetic encoded dataset: 14 well separated classes in 24-d, 20 train and 6 test
    rows per class (so 10 held out classes stream 200 items)."""
    dim, n_classes = 24, 14
    X_train, y_train, centroids = make_clusters(n_classes, 20, dim, noise=0.35, seed=11)
    X_test, y_test, _ = make_clusters(n_classes, 6, dim, noise=0.35, seed=12, centroids=centroids)
    return EncodedDataset("synth", X_train, tuple(y_train), X_test, tuple(y_test))


def write_csv(path: Path, rows: list[tuple[str, str]], header: tuple[str, ...] = ("text", "label")):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def text_rows(n_classes: int, per_class: int, seed: int) -> list[tuple[str, str]]:
    """Short texts whose words mostly belong to their class, so TF-IDF separates them."""
    rng = np.random.default_rng(seed)
    common = ["please", "help", "with", "my", "account", "today"]
    rows = []
    for c in range(n_classes):
        own = [f"topic{c}word{j}" for j in range(6)]
        for _ in range(per_class):
            words = list(rng.choice(own, 3, replace=False)) + list(rng.choice(common, 2))
            rng.shuffle(words)
            rows.append((" ".join(words), f"intent_{c:02d}"))
    order = rng.permutation(len(rows))
    return [rows[i] for i in order]


@pytest.fixture
def tiny_folder(tmp_path: Path) -> Path:
    """A user dataset folder ``tiny/`` with train.csv (12 classes x 10) and test.csv (x 4)."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    write_csv(folder / "train.csv", text_rows(12, 10, seed=1))
    write_csv(folder / "test.csv", text_rows(12, 4, seed=2))
    return folder


@pytest.fixture
def task(clusters):
    """Six overlapping classes (30 training and 12 test vectors each, 16-d): (X, y, T, ty)."""
    X, y, centroids = clusters(6, 30, 16, noise=0.6, seed=3)
    T, ty, _ = clusters(6, 12, 16, noise=0.6, seed=4, centroids=centroids)
    return X, y, T, ty


def assert_rebuilds_identically(clf, queries, **params) -> None:
    """A substrate rebuilt from ``clf``'s ledger predicts, labels and explains the same."""
    from ocrr.substrate import Substrate

    rebuilt = Substrate.from_ledger(clf.ledger, **params)
    assert rebuilt.predict_many(queries) == clf.predict_many(queries)
    assert rebuilt.labels == clf.labels
    for q in queries[:10]:
        assert rebuilt.predict(q) == clf.predict(q)

