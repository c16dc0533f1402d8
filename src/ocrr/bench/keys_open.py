"""What keeping subject keys in a separate key store costs at open (``ocrr ledger bench
--keys-open N``): the same ledger, keys beside the entries and keys apart, each opened once
with the full check (which moves the head's checked mark, as a served ledger's is), then
with the fast check (head record, links, numbers, keys against tombstones) a few times.

Why a command: the figure depends on the disk and the machine; it is printed, not asserted.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ocrr.ledger import Ledger


def fill(ledger: Ledger, size: int, *, dim: int, seed: int = 0) -> None:
    """``size`` entries in batches of 1,000: one in ten sealed under one of ``size // 100``
    subjects, and one subject in ten of those erased at the end."""
    rng = np.random.default_rng(seed)
    subjects = max(1, size // 100)
    done = 0
    while done < size - subjects // 10:
        n = min(1000, size - subjects // 10 - done)
        vectors = rng.standard_normal((n, dim)).astype(np.float32)
        labels = [f"label-{(done + i) % 20}" for i in range(n)]
        plain = [i for i in range(n) if (done + i) % 10]
        sealed = [i for i in range(n) if not (done + i) % 10]
        ledger.append_many([labels[i] for i in plain], vectors[plain])
        for i in sealed:
            ledger.append(labels[i], vectors[i], text=f"text {done + i}",
                          subject=f"subject-{(done + i) // 10 % subjects}")
        done += n
    for s in range(0, subjects, 10):
        ledger.erase(f"subject-{s}")


def time_opens(where: str, keys: str | None, repeats: int) -> list[float]:
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        with Ledger.open(where, create=False, keys=keys):
            seconds.append(time.perf_counter() - started)
    return seconds


def measure(size: int, folder: str, *, dim: int = 384, repeats: int = 5,
            say: Callable[[str], None] = print) -> dict[str, float]:
    """Build the ledger twice in ``folder`` (keys beside, keys apart); print and return the
    median fast-check open time of each."""
    medians = {}
    for name, keys in (("keys beside the entries", None),
                       ("keys in a separate file", str(Path(folder) / "apart.keys.db"))):
        where = str(Path(folder) / ("beside.db" if keys is None else "apart.db"))
        started = time.perf_counter()
        with Ledger.open(where, keys=keys) as ledger:
            fill(ledger, size, dim=dim)
            count = len(ledger)
        built = time.perf_counter() - started
        started = time.perf_counter()  # re-hashes every entry and moves the checked mark,
        Ledger.open(where, create=False, keys=keys, check="full").close()  # as served
        full = time.perf_counter() - started
        seconds = time_opens(where, keys, repeats)
        medians[name] = statistics.median(seconds)
        say(f"{name}: {count:,} entries (dim {dim}, built in {built:.1f} s); Ledger.open "
            f"full check {full:.2f} s; fast check (nothing left to re-hash), median of "
            f"{repeats}: {medians[name]:.3f} s (min {min(seconds):.3f}, "
            f"max {max(seconds):.3f})")
    return medians
