"""Latency of the substrate's two calls at a given ledger size (``ocrr perf``)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ocrr.index import ExactIndex
from ocrr.index.sketch import Int8Sketch
from ocrr.ledger import Ledger
from ocrr.substrate import Substrate
from ocrr.vectors import normalise


@dataclass(frozen=True)
class LatencyReport:
    entries: int
    dim: int
    vote: str
    append_us: np.ndarray
    correct_us: np.ndarray
    predict_us: np.ndarray
    scan_us: np.ndarray
    """The index's exact top-k search alone (its bounds, exact rescoring and top-k), for the
    same queries: what ``predict_one`` costs beyond it is the vote and its bookkeeping."""
    source: str = "random unit vectors"
    plain_us: np.ndarray | None = None
    """The same search over the float32 rows alone (an exact index without its int8 sketch):
    what the sketch saves. ``None`` where the substrate's index is not an exact one."""
    sketch_build_s: float | None = None
    """Seconds to build the exact index's int8 sketch of every row (ONNX Runtime already
    imported), ``None`` where it keeps none."""
    index_bytes: int = 0

    def lines(self) -> list[str]:
        def stats(name: str, us: np.ndarray) -> str:
            return (
                f"{name:<34} mean {us.mean():8.1f} µs   p50 {np.percentile(us, 50):8.1f} µs"
                f"   p99 {np.percentile(us, 99):8.1f} µs"
            )

        return [
            f"substrate ({self.vote} vote) latency at {self.entries:,} entries of dimension "
            f"{self.dim}, {self.source} "
            f"(one process, {len(self.predict_us)} calls each)",
            stats("ledger append (hash + chain)", self.append_us),
            stats("Substrate.correct (append + index)", self.correct_us),
            *([stats("scan without the sketch (float32)", self.plain_us)]
              if self.plain_us is not None else []),
            stats("index scan alone (search, top-k)", self.scan_us),
            stats(f"Substrate.predict_one ({self.vote} vote)", self.predict_us),
            f"predict_one / scan alone (p50): "
            f"{np.percentile(self.predict_us, 50) / np.percentile(self.scan_us, 50):.2f}",
            f"index memory {self.index_bytes / 2**20:,.1f} MiB"
            + (f"; its int8 sketch built in {self.sketch_build_s * 1e3:,.0f} ms"
               if self.sketch_build_s is not None else "; no int8 sketch"),
        ]


WARM_UP = 64
"""Predictions made before timing: an exact index builds its int8 sketch after 32 searches
(``ocrr.index.exact``), and the figures are for the index in use, not its first queries."""


def _unit_rows(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    return normalise(rng.standard_normal((n, dim)).astype(np.float32), floor=None)


def encoded_rows(datasets: list[str], entries: int, repeats: int, *, seed: int = 0,
                 encoder: str = "default") -> tuple[np.ndarray, list[str], np.ndarray]:
    """(rows, labels, queries) from the datasets' encoded texts (train and test, through
    the encoder's cache), shuffled with ``seed``: ``entries`` rows to index and ``repeats``
    other texts to query with. Real sentence vectors cluster; random ones do not, and an
    index that bounds similarities before scoring them exactly is slowest on random ones."""
    from ocrr.bench.encoded import encode_dataset

    vectors, labels = [], []
    for name in datasets:
        encoded = encode_dataset(name, encoder, progress=False)
        vectors += [encoded.X_train, encoded.X_test]
        labels += [f"{encoded.name}:{y}" for y in encoded.y_train + encoded.y_test]
    matrix = np.vstack(vectors)
    if entries + repeats > len(matrix):
        raise ValueError(f"{' and '.join(datasets)} have {len(matrix):,} texts; "
                         f"{entries:,} entries and {repeats:,} queries need {entries + repeats:,}:"
                         " lower --entries or --repeats, or add a dataset")
    order = np.random.default_rng(seed).permutation(len(matrix))
    rows = order[:entries]
    return (matrix[rows], [labels[i] for i in rows],
            matrix[order[entries : entries + repeats]])


def measure_latency(
    entries: int, dim: int = 384, *, repeats: int = 2000, seed: int = 0, vote: str = "band",
    datasets: list[str] | None = None, exact: bool = False,
) -> LatencyReport:
    """Latency of the ledger append, ``correct`` and ``predict_one`` at ``entries`` entries,
    under the paper's band vote by default (``vote="hybrid"`` for the recommended rule).
    Random unit vectors of ``dim`` by default; with ``datasets``, their encoded texts
    (:func:`encoded_rows`). ``exact=True`` keeps the index exact past 50,000 entries
    (``Substrate(exact=True)``), where the default switches to an inverted file."""
    rng = np.random.default_rng(seed)
    if datasets:
        base, labels, queries = encoded_rows(datasets, entries, repeats, seed=seed)
        dim, source = base.shape[1], f"{' + '.join(datasets)} sentence vectors"
    else:
        base = _unit_rows(rng, entries, dim)
        labels = [f"class-{i % 100}" for i in range(entries)]
        queries = _unit_rows(rng, repeats, dim)
        source = "random unit vectors"

    ledger = Ledger()
    append_us = np.empty(repeats)
    for i in range(repeats):
        t0 = time.perf_counter()
        ledger.append("label", queries[i], provenance={"source": "correction"})
        append_us[i] = (time.perf_counter() - t0) * 1e6

    substrate = Substrate(vote=vote, exact=True if exact else None).fit(base, labels)
    index, k = substrate.index, substrate.rule.k
    assert index is not None
    predict_us, scan_us = np.empty(repeats), np.empty(repeats)
    for query in queries[:WARM_UP]:  # what the index builds on use (its int8 sketch) is built
        substrate.predict_one(query)
    plain, sketch_build_s = None, None
    if isinstance(index, ExactIndex):
        plain = ExactIndex(dim, len(index), sketch_from=None)
        plain.add_many(index.vectors)
        if index.nbytes > plain.nbytes:  # it keeps a sketch: time building another
            t0 = time.perf_counter()
            Int8Sketch(index.vectors)
            sketch_build_s = time.perf_counter() - t0
    plain_us = np.empty(repeats) if plain is not None else None
    for i in range(repeats):  # predictions first, so they run at exactly `entries`
        t0 = time.perf_counter()  # the calls alternate, so all see the same load
        index.search(queries[i], k)
        t1 = time.perf_counter()
        substrate.predict_one(queries[i])
        t2 = time.perf_counter()
        scan_us[i], predict_us[i] = (t1 - t0) * 1e6, (t2 - t1) * 1e6
    if plain is not None and plain_us is not None:  # apart: its 4 bytes a value would
        for i in range(repeats):  # push the sketch out of the cache between the calls above
            t0 = time.perf_counter()
            plain.search(queries[i], k)
            plain_us[i] = (time.perf_counter() - t0) * 1e6
    index_bytes = index.nbytes
    del plain
    correct_us = np.empty(repeats)
    for i in range(repeats):
        t0 = time.perf_counter()
        substrate.correct(queries[i], labels[i])
        correct_us[i] = (time.perf_counter() - t0) * 1e6
    return LatencyReport(entries, dim, vote, append_us, correct_us, predict_us, scan_us,
                         source, plain_us, sketch_build_s, index_bytes)
