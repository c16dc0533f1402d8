"""Crash safety: a writer process is killed with SIGKILL at random moments, over and over, on
one SQLite ledger. After every kill the ledger reopens, verifies, holds every acknowledged
correction and erasure exactly as acknowledged, and holds no partial write (no half batch, no
sealed entry without its key or tombstone, no torn row)."""

from __future__ import annotations

import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from crash_writer import BATCH, run_writer, subject_for, vector_for
from ocrr import Substrate
from ocrr.ledger import ERASURE, EXAMPLE, Ledger

# CI's run kills 22 times (about a third of the time of 60: each check replays the whole
# ledger); the full study of 60 is `OCRR_CRASH_KILLS=60 python -m pytest tests/test_crash.py -s`
# (docs/architecture.md, "CI time")
KILLS = int(os.environ.get("OCRR_CRASH_KILLS", "22"))
INTERPRETER_KILLS = 2 if KILLS < 40 else 5  # the first few: a fresh interpreter, not a fork
LABEL = re.compile(r"^c(\d+)(?:-b(\d+)x(\d+))?$")

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork and SIGKILL")


def _start_forked(db: Path, first: int, write_fd: int, read_fd: int) -> int:
    pid = os.fork()
    if pid == 0:  # the child: write until killed, never return into pytest
        code = 0
        try:
            os.close(read_fd)
            run_writer(str(db), first, write_fd)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    return pid


def _collect(read_fd: int) -> str:
    chunks = []
    while chunk := os.read(read_fd, 65536):
        chunks.append(chunk)
    os.close(read_fd)
    return b"".join(chunks).decode()


def _check(db: Path, acked: dict[int, int], erased: dict[str, int]) -> int:
    """Everything acknowledged is there as acknowledged; nothing is partial. Returns the
    next free correction id."""
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    ledger = Ledger.open(db, create=False)
    try:
        result = ledger.verify()
        assert result.ok, result
        entries = list(ledger)
        by_id: dict[int, object] = {}
        batches: dict[int, list[int]] = {}
        tombstones = {e.provenance["erases"]: e for e in entries if e.kind == ERASURE}
        for entry in entries:
            if entry.kind != EXAMPLE:
                continue
            match = LABEL.match(entry.label)
            assert match, entry.label
            n = int(match.group(1))
            assert n not in by_id, f"correction {n} stored twice"
            by_id[n] = entry
            if match.group(2):
                batches.setdefault(int(match.group(2)), []).append(n)
            if entry.readable:
                np.testing.assert_array_equal(entry.vector, vector_for(n))
                assert entry.text == f"text of {n}"
                assert entry.provenance.get("subject") == subject_for(n)
            else:  # unreadable only because its subject was erased, by a tombstone
                assert entry.key_id in tombstones, f"entry {entry.seq} lost its key"
                tomb = tombstones[entry.key_id]
                assert str(entry.seq) in tomb.provenance["seqs"].split(",")
            assert (entry.key_id is not None) == (subject_for(n) is not None)
        for first, members in batches.items():
            assert sorted(members) == list(range(first, first + BATCH)), (
                f"batch {first} is partial: {sorted(members)}")
            seqs = [by_id[m].seq for m in sorted(members)]
            assert seqs == list(range(seqs[0], seqs[0] + BATCH))
        for n, seq in acked.items():
            assert n in by_id, f"acknowledged correction {n} is missing"
            assert by_id[n].seq == seq
        for key_id, seq in erased.items():
            assert ledger[seq].kind == ERASURE and ledger[seq].provenance["erases"] == key_id
        for key_id in tombstones:  # a destroyed key never comes back
            assert ledger.store.key(key_id) is None
        Substrate.from_ledger(ledger)  # derived state rebuilds from what is there
        return max(by_id, default=-1) + 1
    finally:
        ledger.close()


def test_sigkill_at_random_moments_loses_nothing_acknowledged(tmp_path: Path):
    db = tmp_path / "crash.db"
    Ledger.open(db).close()
    rng = random.Random(20260101)
    acked: dict[int, int] = {}
    erased: dict[str, int] = {}
    next_id = 0
    kills = 0
    here = Path(__file__).parent
    run = 0
    # past KILLS only while no erasure was acknowledged yet (a loaded machine writes less
    # before each kill), up to three times as many kills
    while run < KILLS or (not erased and run < 3 * KILLS):
        run += 1
        read_fd, write_fd = os.pipe()
        if run > INTERPRETER_KILLS:
            pid = _start_forked(db, next_id, write_fd, read_fd)
            delay = rng.uniform(0.005, 0.12)
        else:
            proc = subprocess.Popen(
                [sys.executable, str(here / "crash_writer.py"), str(db), str(next_id),
                 str(write_fd)],
                pass_fds=(write_fd,),
                env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
            )
            pid = proc.pid
            delay = rng.uniform(0.6, 1.2)  # the interpreter takes a while to start
        os.close(write_fd)
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, (
            "the writer died before it was killed")
        kills += 1
        for line in _collect(read_fd).splitlines():
            kind, a, b = line.split()
            if kind == "A":
                acked[int(a)] = int(b)
            else:
                erased[a] = int(b)
        next_id = _check(db, acked, erased)
    assert kills == run >= KILLS
    assert len(acked) > 40 and erased, (len(acked), len(erased))
    print(f"\n{kills} SIGKILLs, {len(acked)} acknowledged corrections and {len(erased)} "
          f"erasures, all present after every restart; {len(Ledger.open(db))} entries")
