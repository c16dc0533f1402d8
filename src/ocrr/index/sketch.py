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


_CHUNK = 65_536  # rows quantised at a time


def largest_norm(rows: np.ndarray) -> float:
    """The largest row norm, rounded up past any float32 rounding of the squares' sums (a
    sum of d terms is off by at most d · 2**-24 of itself): an upper bound for the error
    bounds here and in :class:`~ocrr.index.exact.ExactIndex`. One pass of ``einsum``:
    ``np.linalg.norm(rows, axis=1)`` took 30 ms of a 20,000-row sketch's 220 ms build.

    >>> largest_norm(np.array([[3.0, 4.0], [1.0, 0.0]], dtype=np.float32)) >= 5.0
    True
    """
    if not rows.size:
        return 0.0
    squares = np.einsum("ij,ij->i", rows, rows)
    return float(np.sqrt(float(squares.max()))) * (1.0 + rows.shape[1] * 2.0**-23)


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
    """Codes in [-CODE_MAX, CODE_MAX] and one float32 scale per row (an all-zero row:
    scale 1)."""
    peak = np.abs(rows).max(axis=1)
    scale = np.where(peak > 0, peak / np.float32(CODE_MAX), np.float32(1)).astype(np.float32)
    codes = np.clip(np.rint(rows / scale[:, None]), -CODE_MAX, CODE_MAX).astype(np.int8)
    return codes, scale


# -- the ONNX graph, written as protobuf bytes -------------------------------------------
# Building it with the onnx package would import it (0.8 s); the graph is one node, so its
# few fields are written here (tests/test_index_sketch.py holds the bytes equal to what
# onnx.helper makes). Field numbers from onnx.proto.

def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, value: int | bytes | str) -> bytes:
    """One protobuf field: an integer (varint) or bytes / a string (length-delimited)."""
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    data = value.encode() if isinstance(value, str) else value
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _message(number: int, parts: list[bytes]) -> list[bytes]:
    """A length-delimited field holding ``parts``, kept as pieces: the codes (up to
    hundreds of MB) are copied once, when the model's pieces are joined."""
    return [_varint(number << 3 | 2) + _varint(sum(map(len, parts)))] + parts


def _value_info(name: str, elem_type: int, dims: list[int]) -> bytes:
    """ValueInfoProto: name (1), type (2) = TypeProto.tensor_type (1) = elem_type (1),
    shape (2) = TensorShapeProto.dim (1) = dim_value (1)."""
    shape = b"".join(_field(1, _field(1, d)) for d in dims)
    return _field(1, name) + _field(2, _field(1, _field(1, elem_type) + _field(2, shape)))


_UINT8, _INT8, _INT32 = 2, 3, 6  # TensorProto.DataType


def onnx_model(codes: np.ndarray) -> bytes:
    """The ONNX model (IR 8, opset 13) of ``dots = MatMulInteger(query, codes, 128)``:
    ``query`` uint8 (1, dim), ``codes`` the int8 (dim, rows) initializer, ``dots`` int32
    (1, rows)."""
    dim, rows = codes.shape
    node = (b"".join(_field(1, i) for i in ("query", "codes", "zero")) + _field(2, "dots")
            + _field(4, "MatMulInteger"))
    # TensorProto: dims (1), data_type (2), name (8), raw_data (9)
    weights = [_field(1, dim) + _field(1, rows) + _field(2, _INT8) + _field(8, "codes"),
               *_message(9, [np.ascontiguousarray(codes).tobytes()])]
    zero = _field(2, _UINT8) + _field(8, "zero") + _field(9, bytes([128]))
    graph = [_field(1, node) + _field(2, "int8_sketch"), *_message(5, weights),
             _field(5, zero) + _field(11, _value_info("query", _UINT8, [1, dim]))
             + _field(12, _value_info("dots", _INT32, [1, rows]))]
    return b"".join([_field(1, 8), *_message(7, graph),
                     _field(8, _field(1, "") + _field(2, 13))])


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

        rows = np.asarray(rows, dtype=np.float32)
        n, dim = rows.shape
        self.rows = n
        self.dim = dim
        codes = np.empty((n, dim), dtype=np.int8)
        self._scale = np.empty(n, dtype=np.float32)
        residual = decoded_norm = norm = 0.0
        for lo in range(0, n, _CHUNK):  # temporaries of one chunk at a time
            chunk = rows[lo : lo + _CHUNK]
            codes[lo : lo + _CHUNK], self._scale[lo : lo + _CHUNK] = _quantise(chunk)
            # float32 arithmetic: its rounding (a few 2**-24 of a row's norm) is far inside
            # the margin the bound adds
            decoded = codes[lo : lo + _CHUNK] * self._scale[lo : lo + _CHUNK, None]
            residual = max(residual, largest_norm(chunk - decoded))
            decoded_norm = max(decoded_norm, largest_norm(decoded))
            norm = max(norm, largest_norm(chunk))
        # the largest of each per-row term: one error bound for every row (see bounds)
        self._residual, self._decoded_norm = residual, decoded_norm
        self._rounding = dim * ROUNDING * norm
        self.nbytes = codes.nbytes * 2 + self._scale.nbytes  # codes, the packed copy, scales
        model = onnx_model(codes.T)
        del codes
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        self._session: Any = ort.InferenceSession(
            model, options, providers=["CPUExecutionProvider"])

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
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


__all__ = [
    "CODE_MAX", "Int8Sketch", "exact_scores", "largest_norm", "onnx_model", "sketch_available",
]
