"""ExactIndex: exact top-k against brute force, tie order by row, incremental search.

Vectors with small integer components make every dot product exact in float32, whatever the
BLAS summation order, so exact ties are real ties and brute force is exact.
"""

from __future__ import annotations

import numpy as np
import pytest

from ocrr.index import ExactIndex
from ocrr.index.exact import top_k


def int_rows(n: int, dim: int, seed: int, low: int = -2, high: int = 2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(low, high + 1, size=(n, dim)).astype(np.float32)


def brute_force(matrix: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k rows by (similarity desc, row asc), from exact integer products."""
    sims = queries.astype(np.int64) @ matrix.astype(np.int64).T
    rows = np.arange(matrix.shape[0])
    order = np.array([np.lexsort((rows, -s))[:k] for s in sims]).reshape(len(queries), -1)
    return order, np.take_along_axis(sims, order, axis=1).astype(np.float32)


def build(matrix: np.ndarray, capacity: int = 4) -> ExactIndex:
    index = ExactIndex(matrix.shape[1], capacity=capacity)
    index.add_many(matrix)
    return index


# n = 300 takes the plain path of top_k; n = 3000 the two-level blocked path (k <= 10)
@pytest.mark.parametrize("n", [1, 7, 300, 3000])
@pytest.mark.parametrize("k", [1, 5, 10])
def test_exact_topk_equals_brute_force_ties_by_row(n: int, k: int):
    matrix = int_rows(n, 8, seed=n + k)
    queries = int_rows(40, 8, seed=1000 + n)
    index = build(matrix)
    want_rows, want_sims = brute_force(matrix, queries, k)
    rows, sims = index.search_many(queries, k)
    assert rows.shape == (40, min(k, n))
    np.testing.assert_array_equal(rows, want_rows)
    np.testing.assert_array_equal(sims, want_sims)
    for q, query in enumerate(queries):
        one_rows, one_sims = index.search(query, k)
        np.testing.assert_array_equal(one_rows, want_rows[q])
        np.testing.assert_array_equal(one_sims, want_sims[q])


def test_the_data_really_has_ties_at_the_cut():
    """Guard for the test above: ties straddle the k-th place, so the tie rule matters."""
    matrix, queries = int_rows(3000, 8, seed=3005), int_rows(40, 8, seed=4000)
    sims = queries @ matrix.T
    kth = -np.sort(-sims, axis=1)[:, 4:5]
    assert ((sims == kth).sum(axis=1) > 1).mean() > 0.9


def test_duplicate_rows_come_back_in_row_order():
    base = np.eye(4, dtype=np.float32)
    matrix = np.stack([base[1], base[0], base[0], base[2], base[0], base[0]])
    index = build(matrix)
    rows, sims = index.search(base[0], 3)
    assert rows.tolist() == [1, 2, 4]
    assert sims.tolist() == [1.0, 1.0, 1.0]
    rows, _ = index.search_many(base[0][None, :], 6)
    assert rows[0].tolist() == [1, 2, 4, 5, 0, 3]


def test_duplicates_spread_over_blocks_in_the_blocked_path():
    """The best rows are exact duplicates far apart (different 64-column blocks)."""
    rng = np.random.default_rng(5)
    matrix = rng.integers(-1, 2, size=(4000, 8)).astype(np.float32)
    matrix[:, 0] = 0  # nobody reaches the query's score...
    best = np.zeros(8, dtype=np.float32)
    best[0] = 5
    planted = [3999, 17, 2500, 640, 641, 1300, 64, 63]
    matrix[planted] = best  # ...except these
    query = np.zeros((1, 8), dtype=np.float32)
    query[0, 0] = 1
    index = build(matrix)
    rows, sims = index.search_many(query, 5)
    assert rows[0].tolist() == sorted(planted)[:5]
    assert (sims == 5).all()
    assert index.search(query[0], 5)[0].tolist() == sorted(planted)[:5]


def test_top_k_with_explicit_ids_orders_ties_by_id():
    sims = np.array([[0.5, 0.9, 0.9, 0.1, 0.9]], dtype=np.float32)
    ids = np.array([[40, 30, 20, 10, 25]])
    got_ids, got_sims = top_k(sims, ids, 3)
    assert got_ids.tolist() == [[20, 25, 30]]
    assert got_sims.tolist() == [[pytest.approx(0.9)] * 3]
    got_ids, _ = top_k(sims, 100, 2)
    assert got_ids.tolist() == [[101, 102]]


def test_incremental_search_equals_a_fresh_search_after_appends():
    dim = 8
    first = int_rows(500, dim, seed=1)
    index = build(first, capacity=1)
    batches = [int_rows(25, dim, seed=100 + b) for b in range(6)]  # more than it remembers
    everything = first
    for round_ in range(5):
        for queries in batches:
            for k in (1, 5):
                rows, sims = index.search_many(queries, k, remember=True)
                want_rows, want_sims = brute_force(everything, queries, k)
                np.testing.assert_array_equal(rows, want_rows)
                np.testing.assert_array_equal(sims, want_sims)
                fresh = build(everything).search_many(queries, k)
                np.testing.assert_array_equal(rows, fresh[0])
        # grow: duplicates of existing rows (ties with lower rows) and some new rows,
        # added in bulk and one at a time
        dupes = everything[np.random.default_rng(round_).choice(len(everything), 30)]
        fresh_rows = int_rows(40, dim, seed=200 + round_, low=-3, high=3)
        index.add_many(dupes)
        for row in fresh_rows:
            index.add(row)
        everything = np.concatenate([everything, dupes, fresh_rows])
        assert len(index) == len(everything)
    np.testing.assert_array_equal(index.vectors, everything)


def test_remembered_batch_is_keyed_by_content_not_identity():
    dim = 8
    index = build(int_rows(200, dim, seed=2))
    queries = int_rows(10, dim, seed=3)
    index.search_many(queries, 5, remember=True)
    index.add_many(int_rows(50, dim, seed=4, low=-4, high=4))
    other = queries.copy()
    other[0, 0] += 1  # same shape, different content: must not reuse the old answer
    everything = index.vectors.copy()
    for batch in (queries, other, queries[:5]):
        rows, _ = index.search_many(batch, 5, remember=True)
        np.testing.assert_array_equal(rows, brute_force(everything, batch, 5)[0])


def test_empty_and_invalid():
    index = ExactIndex(4)
    assert len(index) == 0 and index.nbytes == 0
    rows, sims = index.search(np.ones(4, np.float32), 5)
    assert rows.shape == (0,) and sims.shape == (0,)
    rows, sims = index.search_many(np.ones((3, 4), np.float32), 5)
    assert rows.shape == (3, 0)
    with pytest.raises(ValueError):
        index.search_many(np.ones((3, 5), np.float32), 5)
    with pytest.raises(ValueError):
        ExactIndex(0)


def test_vectors_view_is_read_only_and_nbytes_counts_rows():
    index = build(int_rows(10, 4, seed=0))
    assert index.nbytes == 10 * 4 * 4
    with pytest.raises(ValueError):
        index.vectors[0, 0] = 1.0


def test_remembered_answer_is_per_k():
    """Regression: the same batch asked with k=1 and then k=5 must return 5 neighbours."""
    matrix, queries = int_rows(100, 8, seed=8), int_rows(6, 8, seed=9)
    index = build(matrix)
    for k in (1, 5, 3, 5, 1):
        rows, _ = index.search_many(queries, k, remember=True)
        np.testing.assert_array_equal(rows, brute_force(matrix, queries, k)[0])
    rows, _ = index.search_many(queries, np.int64(2), remember=True)
    assert rows.shape == (6, 2)
