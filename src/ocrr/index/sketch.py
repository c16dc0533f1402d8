"""An int8 copy of an exact index's rows that bounds every similarity, so one query's exact
top-k needs only a few exact dot products.

At 20,000 rows of dimension 384 the float32 rows are 30 MB: more than this machine's cache
holds, so an exact matrix-vector product is bound by memory bandwidth (about 1.5 ms). The
same rows as 7-bit integers are 7.7 MB, and ONNX Runtime's integer matrix product over
them (weights packed once) takes about 0.15 ms. Each approximate similarity comes with a
bound on its error, so the rows that can be among the k best are known for certain; only
those are scored exactly (:func:`exact_scores`). The answer is the exact top-k, ties
included, whichever rows the sketch covers.

Why 7 bits and not 8: on x86 without VNNI, ONNX Runtime's uint8 × int8 kernel adds pairs of
products in 16 bits and saturates at full range (measured: wrong sums of up to 6 million);
with codes in [-63, 63] a pair is at most 2 · 255 · 63 = 32,130, which fits, so the integer
products are exact (tested against int64 products).

The error bound, for a query q and a row x with codes c and scale s (x̂ = s·c), and the query
quantised the same way (q̂):

    q·x − q̂·x̂ = q·(x − x̂) + (q − q̂)·x̂,  so  |q·x − q̂·x̂| ≤ ‖q‖·‖x − x̂‖ + ‖q − q̂‖·‖x̂‖

(Cauchy–Schwarz twice; the largest ‖x − x̂‖ and ‖x̂‖ over the rows are kept), plus a margin
for float rounding (:data:`ROUNDING`) that covers the float32 products this bound is
compared with.
"""

from __future__ import annotations

from typing import Any

import numpy as np

CODE_MAX = 63
"""The largest code magnitude: 7 bits (see the module docstring for why not 8)."""

ROUNDING = 2.0**-20
"""Per unit of ‖q‖·‖x‖ and per dimension: twice float32's unit roundoff times the terms
of a float32 dot product, with room to spare (a sum of d products is off by at most about
d · 2**-24 · Σ|q_i x_i| ≤ d · 2**-24 · ‖q‖‖x‖)."""


def exact_scores(matrix: np.ndarray, rows: np.ndarray, query: np.ndarray) -> np.ndarray:
    """The exact similarities of the given rows: float64 products summed in a fixed order
    per row (numpy's pairwise sum over the row), rounded to float32.

    Unlike a BLAS matrix-vector product, whose last bit depends on where a row sits in the
    block (measured: 273 of 300 gathered blocks differ from the full product somewhere), a
    row's score here depends only on the row and the query, so two copies of a vector
    score the same and any way of finding the candidates gives the same answer.

    >>> m = np.array([[0.6, 0.8], [1.0, 0.0]], dtype=np.float32)
    >>> exact_scores(m, np.array([1, 0]), np.array([0.6, 0.8], np.float32)).tolist()
    [0.6000000238418579, 1.0]
    """
    picked = np.asarray(matrix[rows], dtype=np.float64)
    return (picked * np.asarray(query, dtype=np.float64)).sum(axis=1).astype(np.float32)


def _quantise(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes in [-CODE_MAX, CODE_MAX] and one scale per row (an all-zero row: scale 1)."""
    peak = np.abs(rows).max(axis=1)
    scale = np.where(peak > 0, peak / np.float32(CODE_MAX), np.float32(1)).astype(np.float32)
    codes = np.clip(np.rint(rows / scale[:, None]), -CODE_MAX, CODE_MAX).astype(np.int8)
    return codes, scale


class Int8Sketch:
    """7-bit codes of the first ``len(rows)`` rows of an index, and a bound on the error of
    every similarity computed from them.

    Derived state like the index it belongs to: built from the stored rows, never saved.
    An index keeps one and rebuilds it as rows are appended (see
    :class:`~ocrr.index.exact.ExactIndex`).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> rows = rng.standard_normal((500, 64)).astype(np.float32)
    >>> rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    >>> sketch = Int8Sketch(rows)
    >>> q = rows[3]
    >>> approx, error = sketch.bounds(q)
    >>> bool(np.all(np.abs(rows.astype(np.float64) @ q - approx) <= error)), error < 0.05
    (True, True)
    """

    def __init__(self, rows: np.ndarray) -> None:
        import onnxruntime as ort
        from onnx import TensorProto, helper

        rows = np.asarray(rows, dtype=np.float32)
        n, dim = rows.shape
        self.rows = n
        self.dim = dim
        codes, self._scale = _quantise(rows)
        decoded = codes.astype(np.float64) * self._scale[:, None].astype(np.float64)
        norms = np.linalg.norm(rows.astype(np.float64), axis=1)
        # the largest of each per-row term: one error bound for every row (see bounds)
        self._residual = float(np.linalg.norm(rows - decoded, axis=1).max(initial=0.0))
        self._decoded_norm = float(np.linalg.norm(decoded, axis=1).max(initial=0.0))
        self._rounding = dim * ROUNDING * float(norms.max(initial=0.0))
        self.nbytes = codes.nbytes * 2 + self._scale.nbytes  # codes, the packed copy, scales
        weights = helper.make_tensor("codes", TensorProto.INT8, [dim, n],
                                     np.ascontiguousarray(codes.T).tobytes(), raw=True)
        zero = helper.make_tensor("zero", TensorProto.UINT8, [], [128])
        graph = helper.make_graph(
            [helper.make_node("MatMulInteger", ["query", "codes", "zero"], ["dots"])],
            "int8_sketch",
            [helper.make_tensor_value_info("query", TensorProto.UINT8, [1, dim])],
            [helper.make_tensor_value_info("dots", TensorProto.INT32, [1, n])],
            initializer=[weights, zero],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 8
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        self._session: Any = ort.InferenceSession(
            model.SerializeToString(), options, providers=["CPUExecutionProvider"])

    def integer_dots(self, query_codes: np.ndarray) -> np.ndarray:
        """Exact int32 products of the rows' codes with ``query_codes`` (integers in
        [-127, 127]), one per row."""
        return self._dots(np.asarray(query_codes, dtype=np.float64))

    def _dots(self, query_codes: np.ndarray) -> np.ndarray:
        fed = (query_codes + 128).astype(np.uint8)[None, :]  # the graph's zero point: 128
        return self._session.run(None, {"query": fed})[0][0]

    def bounds(self, query: np.ndarray) -> tuple[np.ndarray, float]:
        """(approximate similarities, error bound): the exact similarity of every row to
        ``query``, and its float32 product, lie within ``error`` of ``approx``.

        One bound for all rows (the largest per-row terms), so a search compares one array
        with one number. A bound per row would keep fewer candidates for an extra pass over
        the rows; not measured side by side.
        """
        query64 = np.asarray(query, dtype=np.float64)
        peak = float(np.abs(query64).max())
        step = peak / 127 if peak > 0 else 1.0
        query_codes = np.rint(query64 * (1 / step))  # in [-127, 127]: the peak maps to 127
        query_error = float(np.linalg.norm(query64 - query_codes * step))
        # float32 products (codes' sums are below 2**24, so exact as floats): a relative
        # rounding of a few 2**-24, well inside the margin
        approx = np.multiply(self._dots(query_codes), self._scale * np.float32(step),
                             dtype=np.float32, casting="unsafe")
        norm = float(np.linalg.norm(query64))
        error = norm * (self._residual + self._rounding) + query_error * self._decoded_norm
        return approx, error


def sketch_available() -> bool:
    """Whether ONNX Runtime (a dependency of the default install) can be imported."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


__all__ = ["CODE_MAX", "Int8Sketch", "exact_scores", "sketch_available"]
