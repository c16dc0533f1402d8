"""The int8 sketch finds one query's exact top-k: its integer products are exact, its error
bound holds, and the index answers the same with it, without it and by brute force."""

from __future__ import annotations

import numpy as np
import pytest

from ocrr.index.exact import ExactIndex, top_k_one
from ocrr.index.sketch import CODE_MAX, Int8Sketch, exact_scores


def _unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    rows = rng.standard_normal((n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _brute_force(index: ExactIndex, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Every row scored exactly, removed rows at -inf, ranked by (similarity desc, row asc)."""
    n = len(index)
    sims = exact_scores(index.vectors, np.arange(n), query)
    sims[index.removed] = -np.inf
    return top_k_one(sims, np.arange(n), min(k, n))


def test_integer_products_are_exact_at_the_extremes_of_the_codes():
    # all codes at +-63 against a query at +-127: the sums that saturate a 16-bit pair
    # at 8-bit codes (uint8 x int8 on AVX2 without VNNI)
    rows = np.where(np.arange(384) % 2, 1.0, -1.0).astype(np.float32)[None, :].repeat(64, 0)
    rows[::2] *= -1
    rows[1::4] = 1.0
    sketch = Int8Sketch(rows)
    rng = np.random.default_rng(0)
    codes = (np.clip(np.rint(rows / (np.abs(rows).max(axis=1, keepdims=True) / CODE_MAX)),
                     -CODE_MAX, CODE_MAX)).astype(np.int64)
    for query_codes in (np.full(384, 127), np.full(384, -127),
                        np.where(np.arange(384) % 2, 127, -127),
                        rng.integers(-127, 128, 384)):
        got = sketch.integer_dots(query_codes)
        np.testing.assert_array_equal(got, codes @ query_codes)


@pytest.mark.parametrize("dim", [3, 64, 384])
def test_the_error_bound_holds_for_every_row(dim):
    rng = np.random.default_rng(dim)
    rows = _unit(rng, 2000, dim)
    rows[:50] *= rng.uniform(0.2, 3.0, (50, 1)).astype(np.float32)  # not unit
    rows[50] = 0.0  # an all-zero row
    sketch = Int8Sketch(rows)
    for query in list(_unit(rng, 30, dim)) + [rows[7], 2.5 * rows[8], np.zeros(dim, np.float32)]:
        approx, error = sketch.bounds(query)
        exact = rows.astype(np.float64) @ query.astype(np.float64)
        assert np.all(np.abs(exact - approx) <= error)
        assert np.all(np.abs(exact_scores(rows, np.arange(len(rows)), query) - approx) <= error)


def test_exact_scores_do_not_depend_on_where_a_row_sits():
    rng = np.random.default_rng(1)
    rows = _unit(rng, 500, 384)
    query = _unit(rng, 1, 384)[0]
    full = exact_scores(rows, np.arange(500), query)
    for _ in range(20):
        picked = np.sort(rng.choice(500, int(rng.integers(1, 60)), replace=False))
        np.testing.assert_array_equal(exact_scores(rows, picked, query), full[picked])
        np.testing.assert_array_equal(exact_scores(rows[picked], np.arange(len(picked)), query),
                                      full[picked])


@pytest.mark.parametrize("k", [1, 5, 20, 300])
def test_search_with_the_sketch_is_brute_force_exact(k):
    """Appends that cross the rebuild point, duplicated rows (ties), removed rows, and a
    ledger with fewer live rows than k: the same rows and similarities, bit for bit."""
    rng = np.random.default_rng(k)
    rows = _unit(rng, 1400, 48)
    rows[200:260] = rows[100:160]  # exact duplicates: ties broken by row
    sketched = ExactIndex(48, sketch_from=64)
    plain = ExactIndex(48, sketch_from=None)
    queries = np.vstack([_unit(rng, 40, 48), rows[100:110]])
    for start in range(0, 1400, 70):
        for index in (sketched, plain):
            index.add_many(rows[start : start + 70])
            for row in range(start, start + 70, 9):
                index.remove(row)
        for query in queries[start // 70 :: 7]:
            expected = _brute_force(plain, query, k)
            for index in (sketched, plain):
                got = index.search(query, k)
                np.testing.assert_array_equal(got[0], expected[0])
                np.testing.assert_array_equal(got[1], expected[1])
    assert sketched.nbytes > plain.nbytes  # the sketch is counted
    small = ExactIndex(48, sketch_from=4)
    small.add_many(rows[:10])
    for row in range(8):
        small.remove(row)
    rows_found, sims = small.search(rows[9], 5)  # 2 live rows: padded with removed ones
    assert rows_found.tolist() == [9, 8, 0, 1, 2] and np.isneginf(sims[2:]).all()


def test_sketch_from_must_be_a_positive_number_of_rows():
    with pytest.raises(ValueError, match="sketch_from"):
        ExactIndex(8, sketch_from=0)


def test_the_model_bytes_are_what_onnx_makes():
    from onnx import TensorProto, helper

    from ocrr.index.sketch import onnx_model

    codes = np.arange(-30, 30, dtype=np.int8).reshape(6, 10)
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["query", "codes", "zero"], ["dots"])],
        "int8_sketch",
        [helper.make_tensor_value_info("query", TensorProto.UINT8, [1, 6])],
        [helper.make_tensor_value_info("dots", TensorProto.INT32, [1, 10])],
        initializer=[helper.make_tensor("codes", TensorProto.INT8, [6, 10], codes.tobytes(),
                                        raw=True),
                     helper.make_tensor("zero", TensorProto.UINT8, [], bytes([128]), raw=True)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    assert onnx_model(codes) == model.SerializeToString()


def test_a_few_searches_do_not_build_the_sketch():
    rng = np.random.default_rng(3)
    index = ExactIndex(16, sketch_from=100)
    index.add_many(_unit(rng, 300, 16))
    bytes_without = index.nbytes
    for query in _unit(rng, 31, 16):
        index.search(query, 5)
    assert index.nbytes == bytes_without  # a one-off query (the CLI) never pays for it
    index.search(_unit(rng, 1, 16)[0], 5)
    assert index.nbytes > bytes_without
