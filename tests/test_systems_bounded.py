"""The bounded memory's eviction rules and the bounded substrate built on them."""

from __future__ import annotations

import numpy as np
import pytest

from ocrr.substrate import Substrate
from ocrr.systems import BoundedMemory, BoundedSubstrate


def _unit(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    return X / np.linalg.norm(X, axis=-1, keepdims=True)


def _blobs(n_per: int = 10, dim: int = 8, classes: int = 5, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim))
    X = _unit(np.concatenate([c + 0.5 * rng.normal(size=(n_per, dim)) for c in centres]))
    y = [f"c{i}" for i in range(classes) for _ in range(n_per)]
    return X, y


def test_fifo_keeps_the_latest_items_and_reports_what_it_evicted():
    memory = BoundedMemory(3, "fifo")
    vectors = np.eye(5, dtype=np.float32)
    offers = [memory.offer(v, i) for i, v in enumerate(vectors)]
    assert [o.slot for o in offers] == [0, 1, 2, 0, 1]
    assert offers[3].evicted is not None and offers[3].evicted[1] == 0
    np.testing.assert_array_equal(offers[3].evicted[0], vectors[0])
    assert sorted(memory.seqs.tolist()) == [2, 3, 4]
    assert sorted(memory.codes.tolist()) == [2, 3, 4]


def test_reservoir_keeps_a_uniform_sample_of_everything_offered():
    kept = np.zeros(10)
    for seed in range(40):
        memory = BoundedMemory(50, "reservoir", seed=seed)
        for i in range(1000):
            memory.offer(np.zeros(2, dtype=np.float32), i // 100)
        kept += np.bincount(memory.codes, minlength=10)
    # each tenth of the stream should hold about 5 of the 50 slots
    assert np.all(np.abs(kept / 40 - 5) < 1.2), kept / 40
    assert memory.n_offered == 1000 and len(memory) == 50


def test_reservoir_is_deterministic_per_seed():
    def held(seed: int) -> list[int]:
        memory = BoundedMemory(5, "reservoir", seed=seed)
        for i in range(100):
            memory.offer(np.zeros(1, dtype=np.float32), i)
        return memory.codes.tolist()

    assert held(3) == held(3)
    assert held(3) != held(4)


def test_balanced_evicts_from_the_largest_class_and_refuses_a_largest_class_item():
    memory = BoundedMemory(6, "balanced", seed=0)
    for _ in range(6):
        memory.offer(np.zeros(2, dtype=np.float32), 0)
    assert memory.class_counts() == {0: 6}
    for code in (1, 2, 1, 2):
        assert memory.offer(np.ones(2, dtype=np.float32), code).slot is not None
    assert memory.class_counts() == {0: 2, 1: 2, 2: 2}
    refused = memory.offer(np.ones(2, dtype=np.float32), 1)
    assert refused.slot is None and memory.class_counts() == {0: 2, 1: 2, 2: 2}
    memory.offer(np.ones(2, dtype=np.float32), 3)
    counts = memory.class_counts()
    assert counts[3] == 1 and sorted(counts.values()) == [1, 1, 2, 2]


def test_unknown_policy_and_bad_budget_fail():
    with pytest.raises(ValueError, match="valid: reservoir, fifo, balanced"):
        BoundedMemory(3, "lru")
    with pytest.raises(ValueError, match="at least 1"):
        BoundedMemory(0)


@pytest.mark.parametrize("eviction", ["reservoir", "fifo", "balanced"])
def test_a_budget_that_holds_everything_predicts_exactly_as_the_substrate(eviction: str):
    X, y = _blobs()
    queries = _unit(np.random.default_rng(9).normal(size=(40, X.shape[1])))
    bounded = BoundedSubstrate(1000, eviction).fit(X[:30], y[:30])
    substrate = Substrate(vote="band").fit(X[:30], y[:30])
    for x, label in zip(X[30:], y[30:], strict=True):
        bounded.correct(x, label)
        substrate.correct(x, label)
    assert bounded.predict_many(queries) == substrate.predict_many(queries)
    assert [bounded.predict_one(q) for q in queries] == substrate.predict_many(queries)


def test_recency_breaks_ties_as_in_the_substrate():
    x = _unit(np.ones((1, 4)))[0]
    bounded = BoundedSubstrate(10, "fifo").fit(np.stack([x, x]), ["old", "new"])
    paper = Substrate(vote="band").fit(np.stack([x, x]), ["old", "new"])
    assert bounded.predict_one(x) == paper.predict_one(x)
    assert bounded.predict_one(x) == "new"


def test_fifo_at_a_small_budget_learns_the_corrections_and_forgets_the_seed():
    X, y = _blobs()
    bounded = BoundedSubstrate(5, "fifo").fit(X, y)  # holds only the last 5 seed rows: c4
    assert set(bounded.predict_many(X)) == {"c4"}
    v = _unit(np.ones((1, X.shape[1])))[0]
    for _ in range(5):
        bounded.correct(v, "new")
    assert bounded.predict_one(v) == "new"
    assert set(bounded.predict_many(X)) == {"new"}  # nothing else is left
    assert bounded.storage_entries() == 5
    assert bounded.storage_bytes() == 5 * (4 * X.shape[1] + 16)


def test_balanced_at_a_small_budget_keeps_every_class():
    X, y = _blobs()
    bounded = BoundedSubstrate(10, "balanced", k=1).fit(X, y)
    v = _unit(np.ones((1, X.shape[1])))[0]
    bounded.correct(v, "new")
    # 5 classes in 10 slots, then a sixth class takes a slot from one of them
    assert sorted(bounded.memory.class_counts().values()) == [1, 1, 2, 2, 2, 2]
    assert bounded.predict_one(v) == "new"
