"""One row of the scale study's tables: an approximate index against exact search
(:class:`ScaleRow`), or a compression code against float32 vectors (:class:`CompressionRow`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ScaleRow:
    variant: str
    sigma: float | None
    size: int
    dim: int
    classes: int
    queries: int
    exact_acc: float
    approx_acc: float
    gap: float
    recall_at_5: float
    agreement: float
    approx_p50_ms: float
    approx_p99_ms: float
    exact_p50_ms: float
    fit_s: float
    build_s: float
    index_mb: float
    index_rss_mb: float
    vectors_mb: float
    exact_device: str
    index: str = "hnsw ef=64"  # the approximate index and its search setting


@dataclass(frozen=True)
class CompressionRow:
    variant: str
    sigma: float | None
    size: int
    codec: str
    bytes_per_vector: int
    ratio: float
    exact_acc: float
    compressed_acc: float
    gap: float
    recall_at_5: float
    hnsw_mb_float32: float
    hnsw_mb_compressed: float
