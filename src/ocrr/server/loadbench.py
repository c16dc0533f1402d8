"""Figures for filling and questioning namespaces (``ocrr namespace bench ...``):

- ``speed``: loading a CSV (``ocrr namespace load`` on a data folder) against encoding the
  same texts alone with the same encoder, in texts per second;
- ``memory``: peak RSS of a load of N rows of short texts on the TF-IDF encoder, each size
  in a fresh process, beside the bytes of what the namespace must hold (the index and its
  columns), to show that reading the file adds nothing that grows with it;
- ``reencode``: moving a namespace loaded from Banking77's training rows to another
  encoder (``ocrr namespace reencode``): entries moved and not, seconds, and the test
  split's accuracy (the namespace's rule, the hybrid = ``substrate_plus``) before and after;
- ``asof``: the latency of a prediction ``as_of`` a past ledger size on a ledger of N
  entries (the first at a size rebuilds the classifier from the prefix; later ones reuse it);
- ``predict``: what the server's event loop does for one prediction of ``ocrr load``
  (``Namespace.predict_now``: the substrate's search, vote and explanation, then the wire
  model), timed in-process on a namespace seeded as ``ocrr load`` seeds it, beside
  ``Substrate.predict`` alone: no HTTP and no encoding, so the figure holds still where a
  shared machine's predictions per second do not.

Each prints its figures and the machine's load average beside them.
"""

from __future__ import annotations

import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def _load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _write_csv(path: Path, texts: list[str], labels: list[str]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(zip(texts, labels, strict=True))


def _load_folder(data: Path, path: Path, encoder: Any, name: str = "bench") -> float:
    """Seconds to load ``path`` into a new namespace of data folder ``data``."""
    from ocrr.client import Client, _Local
    from ocrr.server.namespaces import Namespaces
    from ocrr.server.registry import Registry

    registry = Registry(data)
    namespaces = Namespaces(registry, encoder)
    namespaces.create(name)
    started = time.perf_counter()
    with Client(_Local(namespaces.get(name), owned=True)) as client:
        client.load_csv(path)
    return time.perf_counter() - started


def speed(rows: int = 10_000, encoder_name: str = "default",
          full: bool = True) -> dict[str, Any]:
    """Texts per second: encoding alone; a load whose vectors all come from the embedding
    cache (everything a load does besides encoding); and (``full``) a load that encodes
    (fresh encoders, no cache). Banking77's training queries (then CLINC150's) as texts."""
    from ocrr.datasets import load_dataset
    from ocrr.encoders import get_encoder
    from ocrr.server.app import resolve_encoder

    texts: list[str] = []
    labels: list[str] = []
    for name in ("banking77", "clinc150"):
        ds = load_dataset(name)
        texts += list(ds.train.texts)
        labels += list(ds.train.labels)
    texts, labels = texts[:rows], labels[:rows]
    print(f"{rows} rows, encoder {encoder_name}, load average {_load_average()}")
    encoder = resolve_encoder(encoder_name)
    encoder.encode(texts[:64])  # load the model before timing
    started = time.perf_counter()
    for i in range(0, len(texts), 1000):  # the chunks a load encodes
        encoder.encode(texts[i:i + 1000])
    alone = time.perf_counter() - started
    print(f"  encoding alone: {alone:.1f} s, {rows / alone:,.0f} texts/s "
          f"(load average {_load_average()})")
    out: dict[str, Any] = {"rows": rows, "encode_s": alone}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "train.csv"
        _write_csv(path, texts, labels)
        cached = get_encoder(encoder_name)  # the embedding cache in front of the encoder
        cached.encode(texts)  # every vector in the cache (encoded now if it was not)
        rest = _load_folder(Path(folder) / "cached", path, cached)
        print(f"  ocrr namespace load with every vector cached (all but the encoding): "
              f"{rest:.1f} s, {100 * rest / alone:.1f} % of encoding alone "
              f"(load average {_load_average()})")
        out["rest_s"] = rest
        if full:
            loader = resolve_encoder(encoder_name)
            loader.encode(texts[:64])
            loaded = _load_folder(Path(folder) / "data", path, loader)
            print(f"  ocrr namespace load: {loaded:.1f} s, {rows / loaded:,.0f} texts/s, "
                  f"{100 * (loaded / alone - 1):+.1f} % against encoding alone "
                  f"(load average {_load_average()})")
            out["load_s"] = loaded
    return out


def reencode(rows: int = 10_000, source: str = "default",
             target: str = "wordllama") -> dict[str, Any]:
    """Load ``rows`` of Banking77's training set into a namespace with ``source`` (its
    vectors from the embedding cache), then time ``ocrr namespace reencode`` to ``target``
    (no cache: every text encoded) and score Banking77's test split before and after."""
    from ocrr.datasets import load_dataset
    from ocrr.encoders import get_encoder
    from ocrr.server.app import resolve_encoder
    from ocrr.server.move import move_namespace
    from ocrr.server.namespaces import Namespaces
    from ocrr.server.registry import Registry

    ds = load_dataset("banking77")
    texts, labels = list(ds.train.texts)[:rows], list(ds.train.labels)[:rows]
    test_texts, test_labels = list(ds.test.texts), np.asarray(ds.test.labels)

    def accuracy(registry: Registry, encoder: Any) -> float:
        namespaces = Namespaces(registry, encoder)
        try:
            substrate = namespaces.get("bench").substrate
            predicted = substrate.predict_many(encoder.encode(test_texts))
        finally:
            namespaces.close()
        return float(np.mean(np.asarray(predicted) == test_labels))

    out: dict[str, Any] = {"rows": len(texts), "source": source, "target": target}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "train.csv"
        _write_csv(path, texts, labels)
        before_encoder = get_encoder(source)
        _load_folder(Path(folder) / "data", path, before_encoder)
        registry = Registry(Path(folder) / "data")
        out["before"] = accuracy(registry, before_encoder)
        print(f"{len(texts)} Banking77 training rows with {source}: test accuracy "
              f"{out['before']:.4f} (load average {_load_average()})")
        encoder = resolve_encoder(target)
        encoder.encode(texts[:16])  # load the model before timing
        started = time.perf_counter()
        moved = move_namespace(registry, "bench", encoder)
        out["seconds"] = time.perf_counter() - started
        out["moved"], out["not_moved"] = moved.report["moved"], moved.report["not_moved"]
        out["after"] = accuracy(registry, get_encoder(target))
        print(f"  ocrr namespace reencode --encoder {target}: {out['moved']} entries moved, "
              f"{out['not_moved']} not moved, {out['seconds']:.1f} s "
              f"({len(texts) / out['seconds']:,.0f} entries/s); check ok: "
              f"{moved.check['ok']}; test accuracy after {out['after']:.4f} "
              f"(load average {_load_average()})")
        registry.close()
    return out


def _short_rows_csv(folder: Path, rows: int) -> Path:
    """``rows.csv`` in ``folder``: ``rows`` short texts over 50 labels (the memory study's)."""
    path = folder / "rows.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for i in range(rows):
            writer.writerow([f"order {i} item {i % 977} colour {i % 13}", f"c{i % 50}"])
    return path


def _reader_child(rows: int) -> dict[str, Any]:
    """Peak RSS of reading a file of ``rows`` rows as upload chunks (the loader alone)."""
    from ocrr.server.csvload import read_chunks

    with tempfile.TemporaryDirectory() as folder:
        path = _short_rows_csv(Path(folder), rows)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        count = sum(len(chunk.texts) for chunk in read_chunks(path))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"rows": count, "rss_before": before, "peak_rss": peak}


def _memory_child(rows: int, dim: int) -> dict[str, Any]:
    """One load of ``rows`` short texts (in this process): peak RSS and the held bytes."""
    from ocrr.encoders import TfidfEncoder

    with tempfile.TemporaryDirectory() as folder:
        path = _short_rows_csv(Path(folder), rows)
        file_bytes = path.stat().st_size
        corpus = [f"order {i} item {i % 977} colour {i % 13}" for i in range(2000)]
        encoder = TfidfEncoder(dim=dim).fit(corpus)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        seconds = _load_folder(Path(folder) / "data", path, encoder)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    held = rows * (dim * 4 + 3 * 8)  # the index's vectors, and its three int64 columns
    return {"rows": rows, "file_bytes": file_bytes, "seconds": seconds,
            "rss_before": before, "peak_rss": peak, "held_bytes": held}


def _in_child(call: str) -> dict[str, Any]:
    """``call`` (a function of this module) in a fresh Python process, so its peak RSS is
    its own; the JSON it returns."""
    done = subprocess.run(
        [sys.executable, "-c", "import json; import ocrr.server.loadbench as bench; "
         f"print(json.dumps(bench.{call}))"],
        capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def memory(sizes: tuple[int, ...] = (10_000, 100_000, 1_000_000),
           dim: int = 16) -> list[dict[str, Any]]:
    """Peak RSS of reading growing files as chunks, then of loading them into a namespace,
    each in a fresh process."""
    mib = 1 << 20
    for rows in sizes:
        got = _in_child(f"_reader_child({rows})")
        print(f"  reading {rows:>9,} rows as chunks: peak RSS {got['peak_rss'] / mib:,.0f} MiB"
              f" (before reading {got['rss_before'] / mib:,.0f} MiB)")
    print(f"TF-IDF encoder (dimension {dim}); load average {_load_average()}")
    results = []
    for rows in sizes:
        got = _in_child(f"_memory_child({rows}, {dim})")
        held, peak = got["held_bytes"] / mib, got["peak_rss"] / mib
        print(f"  {rows:>9,} rows ({got['file_bytes'] / mib:,.1f} MiB file): peak RSS "
              f"{peak:,.0f} MiB, of which held state {held:,.0f} MiB; rest "
              f"{peak - held:,.0f} MiB; "
              f"{got['seconds']:.0f} s, {rows / got['seconds']:,.0f} rows/s "
              f"(load average {_load_average()})")
        results.append(got)
    return results


def asof(entries: int = 20_000, dim: int = 384, points: int = 5) -> dict[str, Any]:
    """Latency of ``predict`` as of past sizes on a SQLite ledger of ``entries`` entries
    (half fit examples, half corrections, 77 classes, random unit vectors)."""
    from ocrr.ledger import Ledger
    from ocrr.server.namespace import Namespace
    from ocrr.substrate import Substrate

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(77, dim))

    def rows(n: int) -> tuple[np.ndarray, list[str]]:
        codes = rng.integers(0, 77, n)
        x = centres[codes] + rng.normal(scale=2.0, size=(n, dim))
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), [
            f"c{c}" for c in codes]

    with tempfile.TemporaryDirectory() as folder:
        substrate = Substrate(ledger=Ledger.open(Path(folder) / "ns.db"))
        x, y = rows(entries // 2)
        substrate.partial_fit(x, y)
        x, y = rows(entries - entries // 2)
        for i in range(0, len(x), 500):
            substrate.correct_many(x[i:i + 500], y[i:i + 500])
        namespace = Namespace("bench", substrate)
        probes, _ = rows(20)
        print(f"{len(substrate.ledger)} entries, dimension {dim}; load average "
              f"{_load_average()}")
        started = time.perf_counter()
        namespace.predict_vectors([""] * len(probes), probes)
        now = (time.perf_counter() - started) / len(probes)
        print(f"  predict now: {1000 * now:.2f} ms")
        out: dict[str, Any] = {"entries": entries, "now_ms": 1000 * now, "points": []}
        for size in sorted(rng.choice(np.arange(1000, entries + 1), points, replace=False)):
            started = time.perf_counter()
            namespace.predict_as_of(probes[:1], int(size))
            cold = time.perf_counter() - started
            started = time.perf_counter()
            namespace.predict_as_of(probes, int(size))
            warm = (time.perf_counter() - started) / len(probes)
            print(f"  as_of {int(size):>6}: first {1000 * cold:,.0f} ms (rebuild), then "
                  f"{1000 * warm:.2f} ms a prediction (load average {_load_average()})")
            out["points"].append({"size": int(size), "first_ms": 1000 * cold,
                                  "then_ms": 1000 * warm})
        substrate.ledger.close()
    return out


def predict(seed: int = 1500, encoder: Any = "default",
            predictions: int = 2000) -> dict[str, Any]:
    """Microseconds of the server's work for one prediction (p50 and p99 over
    ``predictions`` of CLINC150's test texts, each vector encoded beforehand):
    ``Namespace.predict_now`` beside ``Substrate.predict`` alone, alternating per text so
    both see the same load, after an untimed pass over the same texts (a server that has
    been answering a while: its index's sketch built, its neighbours' provenance cached;
    before that, each neighbour seen for the first time is read from the ledger's store).
    The namespace holds ``seed`` CLINC150 training queries on a SQLite ledger, as
    ``ocrr load`` seeds its server (the hybrid rule, no threshold).
    ``encoder``: a name (as ``ocrr serve --encoder``) or an encoder object."""
    from ocrr.ledger import Ledger
    from ocrr.server.app import resolve_encoder
    from ocrr.server.loadtest import workload
    from ocrr.server.namespace import Namespace
    from ocrr.substrate import Substrate

    taught, texts, _ = workload(seed)
    texts = texts[:predictions]
    model = resolve_encoder(encoder)
    vectors = model.encode(texts)
    with tempfile.TemporaryDirectory() as folder:
        substrate = Substrate(ledger=Ledger.open(Path(folder) / "ns.db"), encoder=model)
        substrate.correct_many([t for t, _ in taught], [label for _, label in taught],
                               actor="ocrr-load-seed")
        namespace = Namespace("bench", substrate)
        for i in range(len(texts)):  # an untimed pass first: the index's sketch is built
            namespace.predict_now(texts[i : i + 1], vectors[i : i + 1])  # and the
            # neighbours' provenance cached, as in a server that has been answering a while
        alone, answered = np.empty(len(texts)), np.empty(len(texts))
        for i, vector in enumerate(vectors):
            started = time.perf_counter()
            substrate.predict(vector)
            middle = time.perf_counter()
            namespace.predict_now(texts[i : i + 1], vectors[i : i + 1])
            alone[i], answered[i] = middle - started, time.perf_counter() - middle
        substrate.ledger.close()
    out = {"entries": len(taught), "dim": int(vectors.shape[1]), "predictions": len(texts),
           **{f"{name}_{q}_us": float(np.percentile(times, q) * 1e6)
              for name, times in (("substrate", alone), ("namespace", answered))
              for q in (50, 99)}}
    print(f"{out['entries']} entries of dimension {out['dim']} ({getattr(model, 'identity', '')}), "
          f"{len(texts)} predictions; load average {_load_average()}")
    print(f"  Substrate.predict (search, vote, explanation): p50 {out['substrate_50_us']:,.0f} µs"
          f", p99 {out['substrate_99_us']:,.0f} µs")
    print(f"  Namespace.predict_now (and the wire model):     p50 {out['namespace_50_us']:,.0f} µs"
          f", p99 {out['namespace_99_us']:,.0f} µs")
    return out
