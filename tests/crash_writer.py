"""The writer that tests/test_crash.py kills: corrections, batches and erasures on a SQLite
ledger, each acknowledged on a pipe only after the call returned (i.e. after its commit).

Run as ``python crash_writer.py DB FIRST_ID FD`` (a fresh interpreter) or call
:func:`run_writer` in a forked child. Every correction ``n`` is fully determined by ``n``:
label ``c{n}`` (batches append ``-b{first}x{size}``), vector :func:`vector_for`, subject
:func:`subject_for`, so the checker can tell what each stored entry must hold.
"""

from __future__ import annotations

import os
import sys

import numpy as np

DIM = 8
BATCH = 5


def vector_for(n: int) -> np.ndarray:
    return np.random.default_rng(n).standard_normal(DIM).astype("<f4")


def subject_for(n: int) -> str | None:
    return f"subject-{n % 7}" if n % 3 == 0 else None


def run_writer(path: str, first: int, fd: int) -> None:
    from ocrr.ledger import Ledger, LedgerError

    ledger = Ledger.open(path)
    n = first
    step = 0
    while True:
        step += 1
        if step % 9 == 0:  # early enough that most short-lived writers erase once
            subject = f"subject-{step % 7}"
            try:
                tomb = ledger.erase(subject)
            except LedgerError:
                continue
            os.write(fd, f"E {tomb.provenance['erases']} {tomb.seq}\n".encode())
        elif step % 4 == 0:
            ids = range(n, n + BATCH)
            entries = ledger.append_many(
                [f"c{i}-b{n}x{BATCH}" for i in ids],
                np.stack([vector_for(i) for i in ids]),
                texts=[f"text of {i}" for i in ids],
                subjects=[subject_for(i) for i in ids],
            )
            os.write(fd, "".join(f"A {i} {e.seq}\n" for i, e in zip(ids, entries,
                                                                     strict=True)).encode())
            n += BATCH
        else:
            entry = ledger.append(f"c{n}", vector_for(n), text=f"text of {n}",
                                  provenance={"source": "correction"}, subject=subject_for(n))
            os.write(fd, f"A {n} {entry.seq}\n".encode())
            n += 1


if __name__ == "__main__":
    run_writer(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
