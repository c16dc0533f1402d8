"""Tamper detection, randomised, on every store: flip a byte in any stored field, delete a row,
swap two rows, insert a row, truncate the tail — ``verify`` catches every case and names the
right sequence number.

The tampering is done the way an attacker with write access to the database would: raw SQL
on the stored rows (for the memory store, on the stored entry objects). Each case starts from
the same genuine ledger and is undone before the next.
"""

from __future__ import annotations

import dataclasses
import random
from types import MappingProxyType

import numpy as np
import pytest

from ocrr.ledger import REVOCATION, Ledger
from ocrr.ledger.rows import COLUMNS

pytest_plugins = ["stores_fixtures"]  # the pg_server and ledger_factory fixtures
BACKENDS = ["memory", "sqlite", "postgresql"]

CASES_PER_BACKEND = 240
DIM = 6
N = 30

ENTRY_FIELDS = ["seq", "created_at_ns", "kind", "label", "vector", "text", "provenance",
                "prev_hash", "entry_hash"]


def build(ledger: Ledger) -> Ledger:
    """Thirty entries of every shape: plain, with text, sealed, erased, a revocation."""
    rng = np.random.default_rng(0)
    for i in range(N - 2):
        ledger.append(
            f"label-{i % 4}",
            rng.standard_normal(DIM),
            text=f"text {i} — ünïcode" if i % 2 == 0 else None,
            provenance={"source": "correction", "actor": f"agent-{i}"},
            subject=f"person-{i % 5}" if i % 3 == 0 else None,
        )
    ledger.append("label-1", None, kind=REVOCATION,
                  provenance={"source": "revocation", "revokes": "1", "reason": "wrong"})
    ledger.erase("person-0")
    assert len(ledger) == N
    return ledger


# -- byte flips -----------------------------------------------------------------------------


def flip_bytes(data: bytes, rng: random.Random, text_safe: bool) -> bytes:
    """One byte changed. ``text_safe``: an ASCII byte stays ASCII and non-NUL (PostgreSQL
    TEXT accepts nothing else); otherwise any byte, any change."""
    positions = [i for i, b in enumerate(data) if b < 0x80] if text_safe else range(len(data))
    at = rng.choice(list(positions))
    while True:
        new = data[at] ^ rng.randrange(1, 0x80 if text_safe else 0x100)
        if not text_safe or new != 0:
            return data[:at] + bytes([new]) + data[at + 1 :]


def flip_int(value: int, rng: random.Random) -> int:
    raw = value.to_bytes(8, "little", signed=True)
    return int.from_bytes(flip_bytes(raw, rng, text_safe=False), "little", signed=True)


# -- the two ways to reach stored rows --------------------------------------------------------


class MemoryRows:
    """The memory store's entry objects, as rows of fields."""

    fields = ENTRY_FIELDS
    text_safe = False

    def __init__(self, ledger: Ledger) -> None:
        self.store = ledger.store
        self.genuine = list(self.store.entries)

    def rows(self) -> list[dict]:
        return [{f: getattr(e, f) for f in ENTRY_FIELDS} for e in self.genuine]

    def write(self, rows: list[dict]) -> None:
        self.store.entries = [
            dataclasses.replace(self.genuine[0], **{
                **row, "provenance": MappingProxyType(dict(row["provenance"]))})
            for row in rows
        ]

    def flip(self, row: dict, field: str, rng: random.Random) -> bool:
        value = row[field]
        if field in ("seq", "created_at_ns"):
            row[field] = flip_int(value, rng)
        elif field == "vector":
            if not len(value):
                return False
            row[field] = np.frombuffer(flip_bytes(value.tobytes(), rng, False), dtype="<f4")
        elif field in ("prev_hash", "entry_hash"):
            row[field] = flip_bytes(value, rng, False)
        elif field == "provenance":
            if not value:
                return False
            key = rng.choice(sorted(value))
            flipped = dict(value)
            if rng.random() < 0.5:
                flipped[key] = _flip_str(value[key], rng)
            else:
                flipped[_flip_str(key, rng)] = flipped.pop(key)
            row[field] = flipped
        else:  # kind, label, text
            if value is None:
                return False
            row[field] = _flip_str(value, rng)
        return True

    def restore(self) -> None:
        self.store.entries = list(self.genuine)


def _flip_str(value: str, rng: random.Random) -> str:
    return flip_bytes(value.encode(), rng, False).decode("utf-8", errors="surrogateescape")


class SqlRows:
    """The stored rows of an SQLite or PostgreSQL ledger, through a raw connection."""

    fields = list(COLUMNS)

    def __init__(self, factory) -> None:  # noqa: ANN001
        self.backend = factory.backend
        self.text_safe = factory.backend == "postgresql"
        if self.backend == "sqlite":
            import sqlite3

            self.conn = sqlite3.connect(factory.where, isolation_level=None)
            self.param, self.table = "?", "entries"
        else:
            import psycopg

            self.conn = psycopg.connect(factory.where, autocommit=True)
            self.param, self.table = "%s", f'"{factory.schema}".entries'
        self.genuine = self._read()

    def _read(self) -> list[dict]:
        cur = self.conn.execute(f"SELECT {', '.join(COLUMNS)} FROM {self.table} ORDER BY seq")
        return [dict(zip(COLUMNS, (bytes(v) if isinstance(v, memoryview) else v
                                   for v in row), strict=True)) for row in cur.fetchall()]

    def rows(self) -> list[dict]:
        return [dict(r) for r in self.genuine]

    def write(self, rows: list[dict]) -> None:
        marks = ", ".join([self.param] * len(COLUMNS))
        if self.backend == "sqlite":
            self.conn.execute("BEGIN")
        with _maybe_transaction(self.conn, self.backend):
            self.conn.execute(f"DELETE FROM {self.table}")
            cur = self.conn.cursor()
            cur.executemany(f"INSERT INTO {self.table} ({', '.join(COLUMNS)}) VALUES ({marks})",
                            [tuple(r[c] for c in COLUMNS) for r in rows])
        if self.backend == "sqlite":
            self.conn.execute("COMMIT")

    def flip(self, row: dict, field: str, rng: random.Random) -> bool:
        value = row[field]
        if value is None or (isinstance(value, (bytes, str)) and not len(value)):
            return False
        if isinstance(value, int):
            row[field] = flip_int(value, rng)
        elif isinstance(value, bytes):
            row[field] = flip_bytes(value, rng, False)
        else:
            flipped = flip_bytes(value.encode(), rng, self.text_safe)
            # SQLite keeps whatever bytes it is given (invalid UTF-8 included)
            row[field] = flipped.decode() if self.text_safe else flipped
        return True

    def restore(self) -> None:
        self.write(self.genuine)

    def close(self) -> None:
        self.conn.close()


class _maybe_transaction:
    def __init__(self, conn, backend: str) -> None:  # noqa: ANN001
        self.tx = conn.transaction() if backend == "postgresql" else None

    def __enter__(self) -> None:
        if self.tx is not None:
            self.tx.__enter__()

    def __exit__(self, *exc: object) -> None:
        if self.tx is not None:
            self.tx.__exit__(*exc)


# -- the randomised test ----------------------------------------------------------------------


def tamper(rows_of, rng: random.Random) -> tuple[str, int, bool]:  # noqa: ANN001
    """Apply one random tampering; return (what, the sequence number verify must name,
    whether the check needs the kept head)."""
    rows = rows_of.rows()
    op = rng.choices(["flip", "delete", "swap", "insert", "truncate"], [6, 1, 1, 1, 1])[0]
    if op == "flip":
        while True:
            s, field = rng.randrange(N), rng.choice(rows_of.fields)
            candidate = [dict(r) for r in rows]
            if not rows_of.flip(candidate[s], field, rng):
                continue
            if field == "seq" and candidate[s]["seq"] in {r["seq"] for r in rows}:
                continue  # the database would refuse a duplicate key: not a tampering
            rows_of.write(candidate)
            return f"flip {field} of {s}", s, False
    if op == "delete":
        s = rng.randrange(N)
        rows_of.write(rows[:s] + rows[s + 1 :])
        return f"delete {s}", s, False
    if op == "swap":
        s, t = sorted(rng.sample(range(N), 2))
        swapped = [dict(r) for r in rows]
        for field in rows_of.fields:
            if field != "seq":
                swapped[s][field], swapped[t][field] = rows[t][field], rows[s][field]
        if isinstance(rows_of, MemoryRows):  # a list has positions, not numbered rows
            swapped[s]["seq"], swapped[t]["seq"] = rows[t]["seq"], rows[s]["seq"]
        rows_of.write(swapped)
        return f"swap {s} {t}", s, False
    if op == "insert":
        s = rng.randrange(N)
        source = rng.choice([r for r in range(N) if r != s])
        copy = dict(rows[source])
        if isinstance(rows_of, SqlRows):  # rows after s are renumbered, the copy takes s
            copy["seq"] = s
            later = [{**r, "seq": r["seq"] + 1} for r in rows[s:]]
        else:
            later = rows[s:]
        rows_of.write(rows[:s] + [copy] + later)
        return f"insert at {s} (copy of {source})", s, False
    m = rng.randrange(N)
    rows_of.write(rows[:m])
    return f"truncate to {m}", m, True


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_tampering_is_caught_at_the_right_entry(backend, ledger_factory):
    ledger = build(ledger_factory.open())
    chain_head, tree_head = ledger.head(), ledger.tree_head()
    verifier = ledger_factory.open()
    assert verifier.verify(chain_head).ok and verifier.verify(tree_head).ok
    if backend == "memory":
        rows_of, verifier = MemoryRows(ledger), ledger
    else:
        rows_of = SqlRows(ledger_factory)
    rng = random.Random(f"tamper-{backend}")
    kinds: dict[str, int] = {}
    for case in range(CASES_PER_BACKEND):
        what, expected, _ = tamper(rows_of, rng)
        head = chain_head if case % 2 else tree_head
        result = verifier.verify(head)
        assert not result.ok, f"case {case}: {what} went unnoticed"
        assert result.first_bad_seq == expected, f"case {case}: {what}: {result}"
        assert result.reason
        rows_of.restore()
        kind = " ".join(what.split()[:2]) if what.startswith("flip") else what.split()[0]
        kinds[kind] = kinds.get(kind, 0) + 1
    assert verifier.verify(chain_head).ok and verifier.verify(tree_head).ok
    # every kind of tampering and every stored field was exercised
    assert {"delete", "swap", "insert", "truncate"} <= set(kinds)
    assert {f"flip {f}" for f in rows_of.fields} <= set(kinds), kinds
    if isinstance(rows_of, SqlRows):
        rows_of.close()
    print(f"{backend}: {CASES_PER_BACKEND} tamperings, all caught at the right entry: {kinds}")
