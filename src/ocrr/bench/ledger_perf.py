"""Durable-store figures (``ocrr ledger bench``): acknowledged corrections per second, one at a
time and batched, and the time to open a large ledger and rebuild the substrate from it.

Why a command and not a test: the figures depend on the disk (an fsync per commit) and the
machine, so they are measured and printed where they matter, not asserted.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from ocrr.ledger import Ledger
from ocrr.substrate import Substrate


@dataclass
class StoreReport:
    store: str
    dim: int
    lines: list[str] = field(default_factory=list)

    def add(self, line: str) -> None:
        self.lines.append(line)


class _Clock:
    def __init__(self) -> None:
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def lap(self) -> str:
        wall, cpu = time.perf_counter(), time.process_time()
        text = f"{wall - self._wall:.2f} s (CPU {cpu - self._cpu:.2f} s)"
        self._wall, self._cpu = wall, cpu
        return text


def measure_checks(where: str, *, progress: Callable[[str], None] | None = None
                   ) -> StoreReport:
    """Only the check at open (full, fast, fast with 10,000 entries to re-hash), on an
    existing ledger: ``ocrr ledger bench --open-only --path LEDGER``."""
    report = StoreReport(where, 0)
    _measure_checks(where, report, progress or (lambda _line: None))
    return report


def _measure_checks(where: str, report: StoreReport, say: Callable[[str], None]) -> None:
    """The check at open: a full re-hash of every entry (``check="full"``, which moves the
    head's checked mark), then the fast check (head, links, keys; nothing left to re-hash),
    then the fast check with the newest 10,000 entries to re-hash."""
    clock = _Clock()
    with Ledger.open(where, create=False, check="full") as ledger:
        size = len(ledger)
    report.add(f"Ledger.open, full check (every entry re-hashed, {size:,}): {clock.lap()}")
    say(report.lines[-1])
    clock = _Clock()
    with Ledger.open(where, create=False) as ledger:
        report.add(f"Ledger.open, fast check (head record, {size:,} links and numbers, "
                   f"subject keys): {clock.lap()}")
        say(report.lines[-1])
        head = ledger.store.head_record()
        recent = min(10_000, size)
        if head is not None:
            ledger.store.put_head(replace(head, checked=size - recent))
    clock = _Clock()
    with Ledger.open(where, create=False) as ledger:
        report.add(f"Ledger.open, fast check with the newest {recent:,} entries re-hashed: "
                   f"{clock.lap()}")
        say(report.lines[-1])
        ledger.store.mark_checked(size)


def _unit_rows(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    x = rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def measure_store(
    where: str,
    *,
    dim: int = 384,
    single: int = 300,
    batch: int = 100,
    batches: int = 30,
    entries: int = 0,
    subjects: bool = False,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> StoreReport:
    """Run the figures against the (fresh) store at ``where``.

    ``single`` corrections through ``Substrate.correct``, each its own durable commit;
    ``batches`` calls of ``correct_many`` with ``batch`` rows each; then, if ``entries`` is
    larger than what is there, fill the ledger to ``entries`` and time a fresh
    ``Substrate.open`` (open + rebuild of the index and label table).
    """
    say = progress or (lambda _line: None)
    rng = np.random.default_rng(seed)
    report = StoreReport(where, dim)
    clf = Substrate.open(where)
    seed_rows = _unit_rows(rng, 200, dim)
    clf.correct_many(seed_rows, [f"class-{i % 20}" for i in range(200)])

    queries = _unit_rows(rng, single, dim)
    subject = (lambda i: f"person-{i % 50}") if subjects else (lambda i: None)
    latencies = np.empty(single)
    started = time.perf_counter()
    for i in range(single):
        t0 = time.perf_counter()
        clf.correct(queries[i], f"class-{i % 20}", subject=subject(i))
        latencies[i] = time.perf_counter() - t0
    elapsed = time.perf_counter() - started
    if single:
        report.add(
            f"single corrections (Substrate.correct, one commit each): "
            f"{single / elapsed:8.0f} /s   p50 {np.percentile(latencies, 50) * 1e3:.2f} ms"
            f"   p99 {np.percentile(latencies, 99) * 1e3:.2f} ms"
        )
        say(report.lines[-1])

    rows = _unit_rows(rng, batch, dim)
    labels = [f"class-{i % 20}" for i in range(batch)]
    subject_rows = [subject(i) for i in range(batch)] if subjects else None
    started = time.perf_counter()
    for _ in range(batches):
        clf.correct_many(rows, labels, subjects=subject_rows)
    elapsed = time.perf_counter() - started
    if batches:
        report.add(
            f"batched corrections (correct_many, {batch} per commit): "
            f"{batch * batches / elapsed:8.0f} /s   {elapsed / batches * 1e3:.1f} ms per batch"
        )
        say(report.lines[-1])

    have = len(clf.ledger)
    if entries > have:
        fill = 10_000
        started = time.perf_counter()
        ledger = clf.ledger
        while have < entries:
            n = min(fill, entries - have)
            ledger.append_many([f"class-{i % 100}" for i in range(n)], _unit_rows(rng, n, dim))
            have += n
            say(f"  filled {have:,} / {entries:,} entries")
        report.add(f"filled to {have:,} entries with append_many in "
                   f"{time.perf_counter() - started:.1f} s")
        say(report.lines[-1])
    clf.ledger.close()
    del clf

    # wall time, and this process's CPU time: on a machine shared with other jobs the
    # second is what the wall time would be on an idle one (the work is single-threaded)
    _measure_checks(where, report, say)
    clock = _Clock()
    ledger = Ledger.open(where, create=False)
    opened = clock.lap()
    count = sum(1 for _ in ledger)
    read = clock.lap()
    report.add(f"open {len(ledger):,} entries: Ledger.open {opened}; reading and decoding "
               f"all {count:,} entries {read}")
    say(report.lines[-1])
    # the open-time figure is the ledger's: read every entry, rebuild the exact index and
    # the label table (an approximate index, where chosen, adds its own build time)
    params = {"exact": True} if "exact" in inspect.signature(Substrate).parameters else {}
    clock = _Clock()
    reopened = Substrate.from_ledger(Ledger.open(where, create=False), **params)
    report.add(f"Substrate.open of {len(ledger):,} entries (open, read, rebuild of the exact "
               f"index and derived state): {clock.lap()}")
    say(report.lines[-1])
    clock = _Clock()
    head = ledger.tree_head()
    report.add(f"Merkle tree head over {head.size:,} entries (first call): {clock.lap()}")
    say(report.lines[-1])
    assert reopened.predict_one(seed_rows[0]) is not None
    reopened.ledger.close()
    ledger.close()
    return report
