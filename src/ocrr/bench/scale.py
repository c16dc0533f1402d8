"""The scale study (``ocrr scale``): what approximate search costs the substrate as it grows.

The substrate here is the paper's: k = 5 and the margin-band vote (``vote="band"``), not
the library's default hybrid rule. For each variant, noise level and size, the same ledger
is indexed exactly (:class:`~ocrr.index.ExactIndex`, or the GPU index) and by each
approximate index asked for (the inverted file at each ``nprobe``, HNSW at each ``ef``;
one build per index, the search setting swept on it), and the substrate's predictions
(k = 5, band vote) on held-out queries are compared: exact and approximate accuracy, their
gap, recall@5 of the approximate neighbours against the exact ones, agreement (share of
queries where both predict the same label), single-query ``predict_one`` latency, build
time and memory.

**Synthetic (the paper's setup).** ``classes`` (default 100) random unit centroids in
``dim`` dimensions; each entry is a centroid plus Gaussian noise N(0, sigma^2 I), then
L2-normalised; an equal number of entries per class. The ledger is class-incremental:
class 0's entries first, then class 1's, and so on, as a stream of corrections introducing
new classes would write it. Queries are drawn the same way from a generator seeded
``seed + 1``, with uniformly random classes. sigma is per dimension, so the noise vector's
norm is sigma * sqrt(dim) (7.8 at sigma = 0.4 in 384-d): at sigma = 0.1 the classes are
perfectly separable and any neighbour found is right; as sigma grows they overlap and both
exact accuracy and recall fall. The outcome is decided by sigma, so the study reports
accuracy against sigma as well as size.

**Banking77 with distractors (real vectors).** The labelled core is Banking77's training
set encoded by the default encoder (10,003 entries, 77 intents); the queries are its test
set. The ledger is filled up to the size with *distractor classes*, 130 entries each (the
core's density), drawn from a Gaussian model of the real classes: class means from the
between-class covariance of Banking77's class means, entries from the pooled within-class
covariance, L2-normalised. Distractors thus sit in the same region of embedding space as
the real intents; a query answered with a distractor's label counts as wrong.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from ocrr.index import IndexChoice
from ocrr.substrate import Substrate
from ocrr.substrate.vote import band_vote

VARIANTS = ("synthetic", "banking77")
DISTRACTOR_CLASS_SIZE = 130
CODECS = ("int8", "pq96", "pq48")


@dataclass(frozen=True)
class LabelledSet:
    """Ledger rows (in ledger order) and held-out queries."""

    X: np.ndarray
    y: list[str]
    Q: np.ndarray
    yq: list[str]
    classes: int


def _unit_inplace(x: np.ndarray) -> np.ndarray:
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def synthetic_set(
    size: int,
    dim: int = 384,
    sigma: float = 0.15,
    *,
    classes: int = 100,
    queries: int = 1000,
    seed: int = 0,
) -> LabelledSet:
    """The paper's synthetic setup (see the module docstring), class-incremental order."""
    if size < classes:
        raise ValueError(f"size {size} is smaller than the number of classes {classes}")
    rng = np.random.default_rng(seed)
    centroids = _unit_inplace(rng.standard_normal((classes, dim), dtype=np.float32))
    labels = np.repeat(np.arange(classes), -(-size // classes))[:size]  # class blocks
    X = np.empty((size, dim), dtype=np.float32)
    for at in range(0, size, 65_536):  # float32 chunks: memory stays ~ the output
        part = labels[at : at + 65_536]
        noise = rng.standard_normal((len(part), dim), dtype=np.float32)
        X[at : at + len(part)] = centroids[part] + sigma * noise
    _unit_inplace(X)
    qrng = np.random.default_rng(seed + 1)
    qlabels = qrng.integers(0, classes, queries)
    Q = centroids[qlabels] + sigma * qrng.standard_normal((queries, dim), dtype=np.float32)
    names = [f"class-{c}" for c in range(classes)]
    return LabelledSet(
        X, [names[c] for c in labels], _unit_inplace(Q), [names[c] for c in qlabels], classes
    )


def banking77_set(
    size: int,
    *,
    queries: int | None = None,
    seed: int = 0,
    encoder: str = "default",
    cache_dir: str | Path | None = None,
    core: tuple[np.ndarray, Sequence[str], np.ndarray, Sequence[str]] | None = None,
) -> LabelledSet:
    """Banking77's encoded training set plus Gaussian distractor classes up to ``size``.

    ``core`` = (X_train, y_train, X_test, y_test) replaces the encoded dataset (tests).
    """
    if core is None:
        from ocrr.bench import encode_dataset

        data = encode_dataset("banking77", encoder, cache_dir=cache_dir, progress=False)
        core = (data.X_train, data.y_train, data.X_test, data.y_test)
    x_core = np.asarray(core[0], dtype=np.float32)
    y_core = list(core[1])
    Q, yq = np.asarray(core[2], dtype=np.float32), list(core[3])
    if size < len(x_core):
        raise ValueError(f"size {size} is below the Banking77 core ({len(x_core)} entries)")
    rng = np.random.default_rng(seed)
    if queries is not None and queries < len(Q):
        pick = np.sort(rng.choice(len(Q), queries, replace=False))
        Q, yq = Q[pick], [yq[i] for i in pick]
    names = sorted(set(y_core))
    codes = np.array([names.index(v) for v in y_core])
    means = np.stack([x_core[codes == c].mean(axis=0) for c in range(len(names))])
    residual = x_core - means[codes]
    between = _psd_root(np.cov(means, rowvar=False))
    within = _psd_root(np.cov(residual, rowvar=False))
    centre = means.mean(axis=0)
    n_extra = size - len(x_core)
    n_classes = -(-n_extra // DISTRACTOR_CLASS_SIZE)
    dim = x_core.shape[1]
    X = np.empty((size, dim), dtype=np.float32)
    X[: len(x_core)] = x_core
    class_means = centre + rng.standard_normal((n_classes, dim), dtype=np.float32) @ between
    labels = np.repeat(np.arange(n_classes), DISTRACTOR_CLASS_SIZE)[:n_extra]
    for at in range(0, n_extra, 65_536):
        part = labels[at : at + 65_536]
        noise = rng.standard_normal((len(part), dim), dtype=np.float32) @ within
        rows = slice(len(x_core) + at, len(x_core) + at + len(part))
        X[rows] = _unit_inplace(class_means[part] + noise)
    y = y_core + [f"distractor-{c}" for c in labels]
    return LabelledSet(X, y, Q, yq, len(names) + n_classes)


def _psd_root(cov: np.ndarray) -> np.ndarray:
    """R with R.T @ R = cov (eigenvalues clipped at 0), so z @ R ~ N(0, cov)."""
    vals, vecs = np.linalg.eigh(cov.astype(np.float64))
    return (vecs * np.sqrt(np.clip(vals, 0, None))).T.astype(np.float32)


# -- measuring -----------------------------------------------------------------------------
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


def _rss_mb() -> float:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


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
    want_rows, _ = exact._index.search_many(data.Q, 5)  # type: ignore[union-attr]
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
            rss0 = _rss_mb()
            t0 = time.perf_counter()
            substrate = Substrate.from_ledger(exact.ledger, vote="band", index=choice)
            built[key] = (substrate, time.perf_counter() - t0, _rss_mb() - rss0)
            log(f"  {choice.kind} build: {built[key][1]:.1f} s")
        approx_sub, build_s, rss = built[key]
        index = approx_sub._index
        index.nprobe = choice.nprobe  # type: ignore[union-attr]  # the swept search setting
        index.ef_search = choice.ef_search  # type: ignore[union-attr]
        approx_pred = approx_sub.predict_many(data.Q)
        got_rows, _ = index.search_many(data.Q, 5)  # type: ignore[union-attr]
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
            index_mb=index.nbytes / 2**20,  # type: ignore[union-attr]
            index_rss_mb=rss,
            vectors_mb=size * dim * 4 / 2**20,
            exact_device=type(exact._index).__name__ + (f"@{device}" if device != "cpu" else ""),
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
        if variant == "synthetic":
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


def estimate_peak_bytes(size: int, dim: int) -> int:
    """Rough peak memory of one cell: generated rows, ledger entries (vector, hashes,
    Python objects), the exact index and the HNSW index."""
    vector = dim * 4
    return size * (vector + (vector + 700) + vector + (vector + 250))


def available_bytes() -> int | None:
    try:
        with open("/proc/meminfo") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


# -- reporting -----------------------------------------------------------------------------
def read_results(folder: str | Path) -> tuple[list[ScaleRow], list[CompressionRow]]:
    """The rows a run wrote to ``folder`` (``scale.csv``, ``compression.csv``)."""
    folder = Path(folder)
    out: list[list] = []
    for name, cls in (("scale.csv", ScaleRow), ("compression.csv", CompressionRow)):
        kinds = {f.name: str(f.type) for f in fields(cls)}
        rows = []
        if (folder / name).is_file():
            with open(folder / name, newline="") as f:
                for record in csv.DictReader(f):
                    rows.append(cls(**{k: _parse(v, kinds[k]) for k, v in record.items()}))
        out.append(rows)
    return out[0], out[1]


def _parse(value: str, kind: str) -> object:
    if value == "":
        return None
    if kind == "int":
        return int(value)
    if kind == "str":
        return value
    return float(value)


def _fmt(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def write_csv(rows: Sequence[object], path: Path) -> None:
    if not rows:
        return
    names = [f.name for f in fields(rows[0])]  # type: ignore[arg-type]
    with open(path, "w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=names)
        writer.writeheader()
        for row in rows:
            writer.writerow(asdict(row))  # type: ignore[call-overload]


_MAIN_COLUMNS = (
    ("variant", "variant"), ("sigma", "σ"), ("size", "entries"), ("index", "index"),
    ("exact_acc", "exact acc"), ("approx_acc", "approx acc"), ("gap", "gap"),
    ("recall_at_5", "recall@5"),
    ("agreement", "agreement"), ("approx_p50_ms", "p50 ms"), ("approx_p99_ms", "p99 ms"),
    ("exact_p50_ms", "exact p50 ms"), ("build_s", "build s"), ("index_mb", "index MB"),
    ("vectors_mb", "vectors MB"),
)
_COMP_COLUMNS = (
    ("variant", "variant"), ("sigma", "σ"), ("size", "entries"), ("codec", "code"),
    ("bytes_per_vector", "bytes/vector"), ("ratio", "smaller by"),
    ("exact_acc", "float32 acc"), ("compressed_acc", "compressed acc"), ("gap", "gap"),
    ("recall_at_5", "recall@5"), ("hnsw_mb_float32", "HNSW MB float32"),
    ("hnsw_mb_compressed", "HNSW MB compressed"),
)


def markdown_table(rows: Sequence[object], columns: Sequence[tuple[str, str]]) -> str:
    lines = [
        "| " + " | ".join(title for _, title in columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for row in rows:
        lines.append("| " + " | ".join(_fmt(getattr(row, name)) for name, _ in columns) + " |")
    return "\n".join(lines)


def write_report(
    rows: Sequence[ScaleRow],
    comp: Sequence[CompressionRow],
    out: Path,
    *,
    context: str = "",
) -> list[Path]:
    """``scale.csv``, ``compression.csv``, ``scale.md`` and ``scale.png`` under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    write_csv(rows, out / "scale.csv")
    write_csv(comp, out / "compression.csv")
    text = ["# Scale study", "", context, "", markdown_table(rows, _MAIN_COLUMNS), ""]
    if comp:
        text += ["## Compression (exact scan over decoded vectors)", "",
                 markdown_table(comp, _COMP_COLUMNS), ""]
    (out / "scale.md").write_text("\n".join(text))
    written = [out / "scale.csv", out / "scale.md"]
    if comp:
        written.append(out / "compression.csv")
    if rows:
        written.append(plot_scale(rows, out / "scale.png"))
    return written


def _default_settings(rows: Sequence[ScaleRow]) -> list[ScaleRow]:
    """The rows of one search setting per approximate kind: the library's default
    (``ivf nprobe=4``, ``hnsw ef=64``) when measured, else the first measured."""
    defaults = {"ivf": f"ivf nprobe={IndexChoice.nprobe}",
                "hnsw": f"hnsw ef={IndexChoice.ef_search}"}
    labels: dict[str, list[str]] = {}
    for row in rows:
        labels.setdefault(row.index.split()[0], []).append(row.index)
    keep = {defaults.get(kind) if defaults.get(kind) in found else found[0]
            for kind, found in labels.items()}
    return [row for row in rows if row.index in keep]


def plot_scale(rows: Sequence[ScaleRow], path: Path) -> Path:
    """Accuracy, recall, latency against size, and accuracy against σ, for one search
    setting per approximate kind (see ``_default_settings``; every setting is in the CSV)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, grid = plt.subplots(2, 2, figsize=(12, 8.5))
    axes = grid.ravel()
    rows = _default_settings(rows)
    series: dict[tuple[str, float | None, str], list[ScaleRow]] = {}
    for row in rows:
        series.setdefault((row.variant, row.sigma, row.index), []).append(row)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    exact_drawn: set[tuple[str, float | None]] = set()
    for i, ((variant, sigma, index), group) in enumerate(sorted(series.items(), key=str)):
        group = sorted(group, key=lambda r: r.size)
        size = [r.size for r in group]
        name = variant if sigma is None else f"{variant} σ={sigma}"
        colour = colours[i % len(colours)]
        if (variant, sigma) not in exact_drawn:
            exact_drawn.add((variant, sigma))
            axes[0].plot(size, [r.exact_acc for r in group], "-o", color=colour,
                         label=f"{name} exact")
            axes[2].plot(size, [r.exact_p50_ms for r in group], ":s", color=colour,
                         label=f"{name} exact p50")
        axes[0].plot(size, [r.approx_acc for r in group], "--x", color=colour,
                     label=f"{name} {index}")
        axes[1].plot(size, [r.recall_at_5 for r in group], "-o", color=colour,
                     label=f"{name} {index}")
        axes[2].plot(size, [r.approx_p50_ms for r in group], "-o", color=colour,
                     label=f"{name} {index} p50")
    # the σ panel: one approximate setting per size (the first measured)
    first = {(r.size, r.sigma): r.index for r in reversed(rows)}
    synthetic = [r for r in rows if r.variant == "synthetic" and r.sigma is not None
                 and first[(r.size, r.sigma)] == r.index]
    for i, size in enumerate(sorted({r.size for r in synthetic})):
        group = sorted((r for r in synthetic if r.size == size), key=lambda r: r.sigma)
        sigma = [r.sigma for r in group]
        colour = colours[i % len(colours)]
        axes[3].plot(sigma, [r.exact_acc for r in group], "-o", color=colour,
                     label=f"{size:,} exact")
        axes[3].plot(sigma, [r.approx_acc for r in group], "--x", color=colour,
                     label=f"{size:,} {group[0].index}")
        axes[3].plot(sigma, [r.recall_at_5 for r in group], ":s", color=colour,
                     label=f"{size:,} recall@5")
    axes[3].set_xlabel("synthetic noise σ (per dimension)")
    axes[3].set_title("synthetic: accuracy and recall@5 against σ")
    axes[3].set_ylim(-0.02, 1.02)
    axes[3].grid(alpha=0.3)
    axes[3].legend(fontsize=7)
    titles = ("substrate accuracy", "approximate recall@5 vs exact", "predict_one latency (ms)")
    for ax, title in zip(axes[:3], titles, strict=True):
        ax.set_xscale("log")
        ax.set_xlabel("ledger entries")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0].set_ylim(-0.02, 1.02)
    axes[1].set_ylim(-0.02, 1.02)
    axes[2].set_yscale("log")
    axes[0].legend(fontsize=7)
    axes[1].legend(fontsize=7)
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
