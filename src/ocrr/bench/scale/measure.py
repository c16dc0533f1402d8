"""Measuring one scale cell: a ledger indexed exactly and by each approximate choice, the
substrate's accuracy, recall@5, agreement, latency, build time and memory on each, and the
compression codes; :func:`run_scale` walks every (variant, sigma, size) cell."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ocrr.bench.scale.data import VARIANTS, LabelledSet, banking77_set, synthetic_set
from ocrr.bench.scale.probes import rss_mb
from ocrr.bench.scale.rows import CompressionRow, ScaleRow
from ocrr.index import IndexChoice
from ocrr.substrate import Substrate
from ocrr.substrate.vote import band_vote

CODECS = ("int8", "pq96", "pq48")


def _recall(got: np.ndarray, want: np.ndarray) -> float:
    k = want.shape[1]
    return float(np.mean([len(set(g) & set(w)) / k for g, w in zip(got, want, strict=True)]))


def _latencies_ms(predict: Callable[[np.ndarray], object], queries: np.ndarray) -> np.ndarray:
    """Single-query wall time, with one BLAS thread: a lone query's product gains nothing
    from threads, and on a loaded machine waiting threads cost milliseconds."""
    from threadpoolctl import threadpool_limits

    out = np.empty(len(queries))
    with threadpool_limits(1):
        for i, q in enumerate(queries):
            t0 = time.perf_counter()
            predict(q)
            out[i] = (time.perf_counter() - t0) * 1e3
    return out


def approximate_label(choice: IndexChoice) -> str:
    """How a row names its approximate index: the kind and its search setting."""
    if choice.kind == "ivf":
        return f"ivf nprobe={choice.nprobe}"
    return f"hnsw ef={choice.ef_search}"


def _build_key(choice: IndexChoice) -> tuple:
    """Choices that differ only in their search setting (nprobe, ef) share one build."""
    return (choice.kind, choice.M, choice.ef_construction, choice.threads, choice.flush_at)


def measure(
    data: LabelledSet,
    *,
    variant: str,
    sigma: float | None,
    approx: IndexChoice | Sequence[IndexChoice],
    device: str = "cpu",
    latency_queries: int = 1000,
    exact_latency_queries: int = 100,
    codecs: Sequence[str] = (),
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> tuple[list[ScaleRow], list[CompressionRow]]:
    """One ledger, indexed exactly and by each approximate choice (``kind`` "ivf" or
    "hnsw"); the substrate's figures on each, one row per choice."""
    choices = [approx] if isinstance(approx, IndexChoice) else list(approx)
    size, dim = data.X.shape
    t0 = time.perf_counter()
    # the paper's rule (k = 5, band vote), whatever the library's default classifier is
    exact = Substrate(vote="band", index=IndexChoice(kind="exact", device=device))
    exact.fit(data.X, data.y)
    fit_s = time.perf_counter() - t0
    log(f"  ledger + exact index: {fit_s:.1f} s")
    exact_pred = exact.predict_many(data.Q)
    exact_index = exact.index
    assert exact_index is not None  # fitted on at least one row
    want_rows, _ = exact_index.search_many(data.Q, 5)
    hnsw_m = next((c.M for c in choices if c.kind == "hnsw"), 16)
    compression = [
        _compression_row(data, name, exact_pred, want_rows, variant, sigma, hnsw_m, seed, log)
        for name in codecs
    ]
    exact_ms = _latencies_ms(exact.predict_one, data.Q[:exact_latency_queries])
    truth = np.array(data.yq, dtype=object)
    exact_acc = float(np.mean(np.array(exact_pred, dtype=object) == truth))

    rows = []
    built: dict[tuple, tuple[Substrate, float, float]] = {}
    for choice in choices:
        key = _build_key(choice)
        if key not in built:
            built.clear()  # one approximate index in memory at a time
            rss0 = rss_mb()
            t0 = time.perf_counter()
            substrate = Substrate.from_ledger(exact.ledger, vote="band", index=choice)
            built[key] = (substrate, time.perf_counter() - t0, rss_mb() - rss0)
            log(f"  {choice.kind} build: {built[key][1]:.1f} s")
        approx_sub, build_s, rss = built[key]
        index = approx_sub.index
        assert index is not None
        index.nprobe = choice.nprobe  # type: ignore[attr-defined]  # the swept search setting
        index.ef_search = choice.ef_search  # type: ignore[attr-defined]
        approx_pred = approx_sub.predict_many(data.Q)
        got_rows, _ = index.search_many(data.Q, 5)
        reps = max(1, -(-latency_queries // len(data.Q)))
        approx_ms = _latencies_ms(
            approx_sub.predict_one, np.tile(data.Q, (reps, 1))[:latency_queries]
        )
        approx_acc = float(np.mean(np.array(approx_pred, dtype=object) == truth))
        rows.append(ScaleRow(
            variant=variant,
            sigma=sigma,
            size=size,
            dim=dim,
            classes=data.classes,
            queries=len(data.Q),
            exact_acc=exact_acc,
            approx_acc=approx_acc,
            gap=exact_acc - approx_acc,
            recall_at_5=_recall(got_rows, want_rows),
            agreement=float(np.mean([a == b for a, b in zip(exact_pred, approx_pred,
                                                            strict=True)])),
            approx_p50_ms=float(np.percentile(approx_ms, 50)),
            approx_p99_ms=float(np.percentile(approx_ms, 99)),
            exact_p50_ms=float(np.percentile(exact_ms, 50)),
            fit_s=fit_s,
            build_s=build_s,
            index_mb=index.nbytes / 2**20,
            index_rss_mb=rss,
            vectors_mb=size * dim * 4 / 2**20,
            exact_device=type(exact_index).__name__ + (f"@{device}" if device != "cpu" else ""),
            index=approximate_label(choice),
        ))
    return rows, compression


def _compression_row(
    data: LabelledSet,
    name: str,
    exact_pred: list[str | None],
    want_rows: np.ndarray,
    variant: str,
    sigma: float | None,
    hnsw_m: int,
    seed: int,
    log: Callable[[str], None],
) -> CompressionRow:
    from ocrr.bench.compression import compressed_search, make_codec

    t0 = time.perf_counter()
    codec = make_codec(name, data.X, seed=seed)
    rows, sims = compressed_search(codec, data.X, data.Q, 5)
    names = sorted(set(data.y))
    code_of = {v: i for i, v in enumerate(names)}
    codes = np.array([code_of[v] for v in data.y])
    winners = band_vote(sims, codes[rows], rows, 0.05)
    pred = np.array([names[c] for c in winners], dtype=object)
    truth = np.array(data.yq, dtype=object)
    exact_acc = float(np.mean(np.array(exact_pred, dtype=object) == truth))
    acc = float(np.mean(pred == truth))
    size, dim = data.X.shape
    links = (2 * hnsw_m) * 4 + 4 + 8 + 4 + 8 + 40 + 64  # per-row HNSW overhead (see nbytes)
    log(f"  {name}: accuracy {acc:.3f} (exact float32 {exact_acc:.3f}), "
        f"{time.perf_counter() - t0:.1f} s")
    return CompressionRow(
        variant=variant,
        sigma=sigma,
        size=size,
        codec=name,
        bytes_per_vector=codec.bytes_per_vector,
        ratio=dim * 4 / codec.bytes_per_vector,
        exact_acc=exact_acc,
        compressed_acc=acc,
        gap=exact_acc - acc,
        recall_at_5=_recall(rows, want_rows),
        hnsw_mb_float32=size * (dim * 4 + links) / 2**20,
        hnsw_mb_compressed=size * (codec.bytes_per_vector + links) / 2**20,
    )


def run_scale(
    sizes: Sequence[int],
    *,
    dim: int = 384,
    sigmas: Sequence[float] = (0.1, 0.15, 0.2),
    variants: Sequence[str] = VARIANTS,
    classes: int = 100,
    queries: int = 1000,
    latency_queries: int = 1000,
    approx: Sequence[IndexChoice] | None = None,
    device: str = "cpu",
    codecs: Sequence[str] = CODECS,
    seed: int = 0,
    encoder: str = "default",
    cache_dir: str | Path | None = None,
    log: Callable[[str], None] = print,
    on_row: Callable[[list[ScaleRow], list[CompressionRow]], None] | None = None,
) -> tuple[list[ScaleRow], list[CompressionRow]]:
    """Every (variant, sigma, size) cell, each with the compression ``codecs``. ``sigma``
    does not apply to the Banking77 variant, whose sizes at or below its core (10,003
    entries) are measured once, on the core alone."""
    approx = approx or [IndexChoice(kind="ivf")]
    rows: list[ScaleRow] = []
    comp: list[CompressionRow] = []
    core = None
    cells = [
        (variant, sigma, size)
        for variant in variants
        for sigma in (sigmas if variant == "synthetic" else [None])
        for size in sizes
    ]
    for variant, sigma, size in cells:
        log(f"{variant} size={size:,}" + (f" sigma={sigma}" if sigma is not None else ""))
        if variant == "synthetic" and sigma is not None:
            data = synthetic_set(size, dim, sigma, classes=classes, queries=queries, seed=seed)
        else:
            if core is None:
                from ocrr.bench import encode_dataset

                enc = encode_dataset("banking77", encoder, cache_dir=cache_dir, progress=False)
                core = (enc.X_train, enc.y_train, enc.X_test, enc.y_test)
            if size <= len(core[0]):  # the core alone, measured once
                if any(r.variant == "banking77" and r.size == len(core[0]) for r in rows):
                    continue
                log(f"  the Banking77 core alone ({len(core[0]):,} entries)")
                size = len(core[0])
            data = banking77_set(size, queries=queries, seed=seed, core=core)
        cell_rows, crows = measure(
            data, variant=variant, sigma=sigma, approx=approx, device=device,
            latency_queries=latency_queries, codecs=codecs, seed=seed, log=log,
        )
        del data
        for row in cell_rows:
            log(
                f"  {row.index}: exact {row.exact_acc:.3f} approx {row.approx_acc:.3f} "
                f"recall@5 {row.recall_at_5:.3f} p50 {row.approx_p50_ms:.3f} ms p99 "
                f"{row.approx_p99_ms:.3f} ms (exact p50 {row.exact_p50_ms:.2f} ms) build "
                f"{row.build_s:.1f} s index {row.index_mb:.0f} MB"
            )
        rows.extend(cell_rows)
        comp.extend(crows)
        if on_row is not None:
            on_row(cell_rows, crows)
    return rows, comp
