"""The tamper-at-rest suite (``ocrr ledger bench --tamper``): alter a stored ledger the way
an attacker or a careless operator with access to the database would, and count where each
alteration is caught: refused by ``Ledger.open`` (the fast check), refused by a substrate
opening it (every entry re-hashed as it is read), or flagged by ``verify``. Then open a
genuine ledger many times between ordinary writes and count false alarms.

Why a command and a library, not only a test: the table in docs/architecture.md is printed
by it, over SQLite and PostgreSQL, and the tests run the same attacks (one implementation).
"""

from __future__ import annotations

import os
import random
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ocrr.errors import LedgerIntegrityError
from ocrr.ledger import REVOCATION, Entry, Ledger, LedgerError
from ocrr.ledger.head import StoredHead
from ocrr.ledger.rows import COLUMNS, encode
from ocrr.ledger.store import EntryStore
from ocrr.substrate import Substrate

SIZE = 30
DIM = 6


class RawTables:
    """A raw connection to a ledger's or a key store's tables (the attacker's access):
    ``where`` a SQLite file or a ``postgresql://`` URL; statements name tables as
    ``{table}`` and parameters as ``?``, which :meth:`_q` resolves for the store."""

    where: str
    postgres: bool
    _conn = None

    def _q(self, statement: str) -> str:
        raise NotImplementedError

    @property
    def conn(self):  # noqa: ANN201
        if self._conn is None:
            if self.postgres:
                import psycopg

                self._conn = psycopg.connect(self.where, autocommit=True)
            else:
                import sqlite3

                self._conn = sqlite3.connect(self.where, isolation_level=None)
        return self._conn

    def sql(self, statement: str, params: tuple = ()) -> None:
        self.conn.execute(self._q(statement), params)

    def query(self, statement: str, params: tuple = ()) -> list[tuple]:
        rows = self.conn.execute(self._q(statement), params).fetchall()
        return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in rows]

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class Target(RawTables):
    """One stored ledger and a raw connection to its tables (the attacker's access).

    ``where`` is a SQLite file path, or a ``postgresql://`` URL with ``schema``.

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.TemporaryDirectory()
    >>> target = Target.build(f"{folder.name}/l.db")
    >>> target.sql("UPDATE {entries} SET label = 'forged' WHERE seq = 4")
    >>> outcome(target).stage
    'substrate'
    >>> target.close(); folder.cleanup()
    """

    def __init__(self, where: str, schema: str | None = None, *, signer=None,  # noqa: ANN001
                 keys: bool = False) -> None:
        self.where, self.schema, self.signer = where, schema, signer
        self.postgres = where.startswith(("postgresql://", "postgres://"))
        self._conn = None
        self._saved: dict[str, list[tuple]] = {}
        self.keys = KeyPlace.beside(self) if keys else None
        """Where the subject keys live apart from the entries (None: beside them)."""

    @classmethod
    def build(cls, where: str, schema: str | None = None, *, signer=None,  # noqa: ANN001
              seed: int = 0, keys: bool = False) -> Target:
        """A genuine ledger of :data:`SIZE` entries of every shape (plain, with text,
        sealed, a revocation, an erasure) at ``where`` (with ``keys``, its subject keys in
        a separate key store), opened once by a substrate (so its head's checked mark
        covers every entry, as a served ledger's does), and snapshotted for
        :meth:`restore`."""
        target = cls(where, schema, signer=signer, keys=keys)
        ledger = Ledger(target.store(create=True))
        rng = np.random.default_rng(seed)
        for i in range(SIZE - 2):
            ledger.append(f"label-{i % 4}", rng.standard_normal(DIM),
                          text=f"text {i} — ünïcode" if i % 2 == 0 else None,
                          provenance={"source": "correction", "actor": f"agent-{i}"},
                          subject=f"person-{i % 5}" if i % 3 == 0 else None)
        ledger.append("label-1", None, kind=REVOCATION,
                      provenance={"source": "revocation", "revokes": "1", "reason": "wrong"})
        ledger.erase("person-0")
        ledger.close()
        with Ledger(target.store()) as opened:  # as a server would: the checked mark moves
            Substrate(ledger=opened, vote="band")
        target.snapshot()
        return target

    def store(self, *, create: bool = False) -> EntryStore:
        entries: EntryStore
        if self.postgres:
            from ocrr.ledger.postgres import PostgresStore

            entries = PostgresStore(self.where, schema=self.schema, create=create,
                                    signer=self.signer)
        else:
            from ocrr.ledger.sqlite import SQLiteStore

            entries = SQLiteStore(self.where, create=create, signer=self.signer)
        if self.keys is None:
            return entries
        from ocrr.ledger.split import SplitStore

        try:
            return SplitStore(entries, self.keys.open(create=create))
        except BaseException:
            entries.close()
            raise

    # -- raw access ------------------------------------------------------------------------

    def _q(self, statement: str) -> str:
        prefix = f'"{self.schema}".' if self.schema else ""
        tables = {t: prefix + t for t in ("entries", "subject_keys", "head", "meta")}
        statement = statement.format(**tables)
        return statement.replace("?", "%s") if self.postgres else statement


    def rows(self) -> list[dict]:
        found = self.query(f"SELECT {', '.join(COLUMNS)} FROM {{entries}} ORDER BY seq")
        return [dict(zip(COLUMNS, row, strict=True)) for row in found]

    def put_rows(self, rows: list[dict]) -> None:
        """Replace every stored entry row with ``rows`` (one transaction)."""
        self._replace("entries", [tuple(r[c] for c in COLUMNS) for r in rows])

    def _replace(self, table: str, rows: list[tuple]) -> None:
        with self._transaction():
            self.sql(f"DELETE FROM {{{table}}}")
            if rows:
                marks = ", ".join("?" * len(rows[0]))
                self.conn.cursor().executemany(
                    self._q(f"INSERT INTO {{{table}}} VALUES ({marks})"), rows)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        if self.postgres:
            with self.conn.transaction():
                yield
            return
        self.conn.execute("BEGIN")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def snapshot(self) -> None:
        self._saved = {t: self.query(f"SELECT * FROM {{{t}}}")
                       for t in ("entries", "subject_keys", "head", "meta")}
        if self.keys is not None:
            self.keys.snapshot()

    def restore(self) -> None:
        """Back to the genuine ledger (recreated first if an attack removed it), its key
        store first (a ledger opens only with its own)."""
        if self.keys is not None:
            self.keys.restore()
        if self.postgres:
            self.close()
            self.store(create=True).close()
        elif not Path(self.where).is_file() or Path(self.where).stat().st_size == 0:
            self.close()
            for suffix in ("", "-wal", "-shm"):
                Path(self.where + suffix).unlink(missing_ok=True)
            self.store(create=True).close()
        for table, rows in self._saved.items():
            self._replace(table, rows)

    def keys_sql(self, statement: str, params: tuple = ()) -> None:
        """``statement`` on the table of subject keys, wherever it lives."""
        (self.keys or self).sql(statement, params)

    def keys_query(self, statement: str, params: tuple = ()) -> list[tuple]:
        return (self.keys or self).query(statement, params)

    def close(self) -> None:
        super().close()
        if self.keys is not None:
            self.keys.close()


class KeyPlace(RawTables):
    """A target's separate key store and a raw connection to its tables: a SQLite file
    beside the ledger's (``x.keys.db``), or the ``<schema>_keys`` schema."""

    def __init__(self, where: str, schema: str | None, postgres: bool) -> None:
        self.where, self.schema, self.postgres = where, schema, postgres
        self._conn = None
        self._saved: dict[str, list[tuple]] = {}

    @classmethod
    def beside(cls, target: Target) -> KeyPlace:
        if target.postgres:
            return cls(target.where, f"{target.schema}_keys", True)
        return cls(target.where.removesuffix(".db") + ".keys.db", None, False)

    def open(self, *, create: bool = False):  # noqa: ANN201 - a KeyStore
        from ocrr.ledger.keystores import PostgresKeys, SQLiteKeys

        if self.postgres:
            return PostgresKeys(self.where, schema=self.schema, create=create)
        return SQLiteKeys(self.where, create=create)


    def _q(self, statement: str) -> str:
        if self.postgres:
            prefix = f'"{self.schema}".'
            statement = statement.format(subject_keys=prefix + "ocrr_subject_keys",
                                         keys_meta=prefix + "ocrr_keys_meta")
            return statement.replace("?", "%s")
        return statement.format(subject_keys="subject_keys", keys_meta="meta")


    def snapshot(self) -> None:
        self._saved = {t: self.query(f"SELECT * FROM {{{t}}}")
                       for t in ("subject_keys", "keys_meta")}

    def restore(self) -> None:
        """Back to the genuine key store (made anew first if an attack removed it)."""
        self.close()
        if not self.postgres:
            for suffix in ("", "-wal", "-shm"):  # the file may have been swapped
                Path(self.where + suffix).unlink(missing_ok=True)
        else:
            self.sql("DROP TABLE IF EXISTS {subject_keys}, {keys_meta}")
            self.close()
        self.open(create=True).close()
        for table, rows in self._saved.items():
            self.sql(f"DELETE FROM {{{table}}}")
            for row in rows:
                self.sql(f"INSERT INTO {{{table}}} VALUES ({', '.join('?' * len(row))})", row)


# -- the attacks --------------------------------------------------------------------------

Attack = Callable[[Target, random.Random], tuple[str, int | None]]
"""Alter the target; return (what was done, the sequence number to be named or None)."""


def _entries(target: Target) -> list[Entry]:
    with Ledger(target.store(), read_only=True) as ledger:
        return [e for e in ledger.store.read(0, len(ledger)) if isinstance(e, Entry)]


def _examples(target: Target) -> list[int]:
    return [e.seq for e in _entries(target) if e.kind == "example" and e.vector.size]


def forge_suffix(target: Target, seq: int, change: Callable[[Entry], Entry], *,
                 head: bool) -> None:
    """Change entry ``seq`` and re-hash it and every later entry so the chain holds (the
    whole suffix rewritten); with ``head``, write the matching head record too (unsigned:
    the attacker has no signing key)."""
    entries = _entries(target)
    forged, prev = list(entries[:seq]), entries[seq].prev_hash
    for entry in entries[seq:]:
        entry = change(entry) if entry.seq == seq else entry
        entry = replace(entry, prev_hash=prev, entry_hash=b"")
        entry = replace(entry, entry_hash=entry.compute_hash())
        forged.append(entry)
        prev = entry.entry_hash
    target.put_rows([dict(zip(COLUMNS, encode(e), strict=True)) for e in forged])
    if head:
        record = StoredHead.genesis().advance(e.entry_hash for e in forged)
        target._replace("head", [(1, *record.encode())])


def label_edit(target: Target, rng: random.Random) -> tuple[str, int | None]:
    seq = rng.choice(_examples(target))
    target.sql("UPDATE {entries} SET label = 'forged' WHERE seq = ?", (seq,))
    return f"label of {seq}", seq


def nan_vector(target: Target, rng: random.Random) -> tuple[str, int | None]:
    seq = rng.choice(_examples(target))
    target.sql("UPDATE {entries} SET vector = ? WHERE seq = ?",
               (np.full(DIM, np.nan, "<f4").tobytes(), seq))
    return f"NaN vector at {seq}", seq


def nan_vector_forged(target: Target, rng: random.Random) -> tuple[str, int | None]:
    seq = rng.choice(_examples(target))
    forge_suffix(target, seq, lambda e: replace(e, vector=np.full(DIM, np.inf, "<f4")),
                 head=True)
    return f"infinite vector at {seq}, hashes and head record recomputed", seq


def wrong_dimension(target: Target, rng: random.Random) -> tuple[str, int | None]:
    seq = rng.choice(_examples(target))
    if rng.random() < 0.5:
        target.sql("UPDATE {meta} SET value = ? WHERE name = 'dim'", (str(DIM + 2),))
        return "meta.dim edited", _examples(target)[0]
    forge_suffix(target, seq, lambda e: replace(e, vector=e.vector[:-1]), head=True)
    return f"vector of {seq} one shorter, hashes and head record recomputed", seq


def bad_provenance(target: Target, rng: random.Random) -> tuple[str, int | None]:
    seq = rng.randrange(SIZE)
    target.sql("UPDATE {entries} SET provenance = ?, key_id = NULL WHERE seq = ?",
               ("{bad", seq))
    return f"provenance of {seq} undecodable", seq


def deleted(target: Target, rng: random.Random) -> tuple[str, int | None]:
    target.close()
    if target.postgres:
        target.sql(f'DROP SCHEMA "{target.schema}" CASCADE')
        return "schema dropped", None
    for suffix in ("", "-wal", "-shm"):
        Path(target.where + suffix).unlink(missing_ok=True)
    return "file deleted", None


def emptied(target: Target, rng: random.Random) -> tuple[str, int | None]:
    target.close()
    if target.postgres:
        target.sql("DELETE FROM {entries}")
        target.sql("DELETE FROM {head}")
        return "entries and head record emptied", None
    for suffix in ("-wal", "-shm"):
        Path(target.where + suffix).unlink(missing_ok=True)
    os.truncate(target.where, 0)
    return "file truncated to 0 bytes", None


def _a_live_key(target: Target, rng: random.Random) -> tuple[str, int]:
    live = [r[0] for r in target.keys_query("SELECT key_id FROM {subject_keys} "
                                            "ORDER BY key_id")]
    key_id = rng.choice(live)
    return key_id, target.query("SELECT MIN(seq) FROM {entries} WHERE key_id = ?",
                                (key_id,))[0][0]


def key_deleted(target: Target, rng: random.Random) -> tuple[str, int | None]:
    key_id, first = _a_live_key(target, rng)
    target.keys_sql("DELETE FROM {subject_keys} WHERE key_id = ?", (key_id,))
    return f"key of {first} deleted", first


def key_overwritten(target: Target, rng: random.Random) -> tuple[str, int | None]:
    key_id, first = _a_live_key(target, rng)
    target.keys_sql("UPDATE {subject_keys} SET key = ? WHERE key_id = ?",
                    (rng.randbytes(32), key_id))
    return f"key of {first} overwritten", first


def key_store_deleted(target: Target, rng: random.Random) -> tuple[str, int | None]:
    place = target.keys
    assert place is not None, "a target with a separate key store"
    target.close()
    if place.postgres:
        place.sql("DROP TABLE {subject_keys}, {keys_meta}")
        return "key tables dropped", None
    for suffix in ("", "-wal", "-shm"):
        Path(place.where + suffix).unlink(missing_ok=True)
    return "key file deleted", None


def key_store_swapped(target: Target, rng: random.Random) -> tuple[str, int | None]:
    """The key store replaced by another genuine ledger's (built once, kept beside)."""
    place = target.keys
    assert place is not None, "a target with a separate key store"
    target.close()
    other_where = (target.where if target.postgres
                   else target.where.removesuffix(".db") + "-other.db")
    other = Target(other_where, f"{target.schema}_other" if target.postgres else None,
                   keys=True)
    assert other.keys is not None
    if not other.keys.postgres and not Path(other.keys.where).is_file() or \
            other.keys.postgres and not other.keys.query(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = ?",
                (other.keys.schema,)):
        Target.build(other.where, other.schema, keys=True, seed=1).close()
    other.keys.snapshot()
    other.close()
    place._saved, saved = other.keys._saved, place._saved
    place.restore()  # its tables now hold the other ledger's keys and binding
    place._saved = saved
    return "key store swapped for another ledger's", None


def field_edit(target: Target, rng: random.Random) -> tuple[str, int | None]:
    seq = rng.randrange(SIZE)
    column, value = rng.choice([("kind", "relabel"), ("text", "edited"),
                                ("label", "label-0x"), ("provenance", '{"source":"edited"}'),
                                ("created_at_ns", 1)])
    if column == "created_at_ns":
        target.sql("UPDATE {entries} SET created_at_ns = created_at_ns + 1 WHERE seq = ?",
                   (seq,))
    else:
        target.sql(f"UPDATE {{entries}} SET {column} = ? WHERE seq = ?", (value, seq))
    if column == "provenance":  # the key_id column follows what is sealed
        target.sql("UPDATE {entries} SET key_id = NULL WHERE seq = ?", (seq,))
    return f"{column} of {seq} edited", seq


def byte_flip(target: Target, rng: random.Random) -> tuple[str, int | None]:
    rows = target.rows()
    while True:
        seq, column = rng.randrange(SIZE), rng.choice(COLUMNS[1:])
        value = rows[seq][column]
        if isinstance(value, int):
            rows[seq][column] = value ^ (1 << rng.randrange(62))
        elif isinstance(value, bytes) and value:
            at = rng.randrange(len(value))
            rows[seq][column] = value[:at] + bytes([value[at] ^ 0x01]) + value[at + 1:]
        elif isinstance(value, str) and value:
            at = rng.randrange(len(value))
            rows[seq][column] = value[:at] + chr(ord(value[at]) ^ 0x01 or 0x41) + value[at + 1:]
        else:
            continue
        break
    target.put_rows(rows)
    return f"bit flipped in {column} of {seq}", seq


def delete(target: Target, rng: random.Random) -> tuple[str, int | None]:
    seq = rng.randrange(SIZE)
    target.sql("DELETE FROM {entries} WHERE seq = ?", (seq,))
    return f"entry {seq} deleted", seq


def reorder(target: Target, rng: random.Random) -> tuple[str, int | None]:
    s, t = sorted(rng.sample(range(SIZE), 2))
    rows = target.rows()
    rows[s], rows[t] = {**rows[t], "seq": s}, {**rows[s], "seq": t}
    target.put_rows(rows)
    return f"entries {s} and {t} swapped", s


def insert(target: Target, rng: random.Random) -> tuple[str, int | None]:
    s = rng.randrange(SIZE)
    rows = target.rows()
    copy = {**rows[rng.choice([r for r in range(SIZE) if r != s])], "seq": s}
    target.put_rows(rows[:s] + [copy] + [{**r, "seq": r["seq"] + 1} for r in rows[s:]])
    return f"a copy inserted at {s}", s


def truncate(target: Target, rng: random.Random) -> tuple[str, int | None]:
    m = rng.randrange(SIZE)
    target.sql("DELETE FROM {entries} WHERE seq >= ?", (m,))
    return f"truncated to {m}", m


def suffix_rewrite(target: Target, rng: random.Random) -> tuple[str, int | None]:
    seq = rng.randrange(SIZE - 1)
    forge_suffix(target, seq, lambda e: replace(e, label="forged"), head=False)
    return f"suffix from {seq} rewritten, hashes recomputed", SIZE - 1


def suffix_and_head_rewrite(target: Target, rng: random.Random) -> tuple[str, int | None]:
    seq = rng.randrange(SIZE - 1)
    forge_suffix(target, seq, lambda e: replace(e, label="forged"), head=True)
    return f"suffix from {seq} and the head record rewritten", None


ATTACKS: dict[str, Attack] = {
    "label edit (issue 1)": label_edit,
    "NaN vector (issue 1)": nan_vector,
    "inf vector, hashes + head recomputed": nan_vector_forged,
    "wrong dimension / meta.dim (issue 2)": wrong_dimension,
    "undecodable provenance (issue 2)": bad_provenance,
    "deleted file / dropped schema (issue 3)": deleted,
    "zero-length file / emptied tables (issue 3)": emptied,
    "key deletion (issue 4)": key_deleted,
    "key overwrite (issue 4)": key_overwritten,
    "field edit": field_edit,
    "byte flip": byte_flip,
    "delete": delete,
    "reorder": reorder,
    "insert": insert,
    "truncate": truncate,
    "suffix rewrite": suffix_rewrite,
    "suffix + head record rewrite (signed ledger)": suffix_and_head_rewrite,
}
SIGNED_ONLY = {"suffix + head record rewrite (signed ledger)"}
KEY_STORE_ATTACKS: dict[str, Attack] = {
    "separate key store: key row deleted": key_deleted,
    "separate key store: key overwritten": key_overwritten,
    "separate key store: key file deleted / key tables dropped": key_store_deleted,
    "separate key store: swapped for another ledger's": key_store_swapped,
}
"""Run on a ledger whose subject keys live in a separate key store."""


# -- where an alteration is caught ---------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """Where an altered ledger was caught: ``open`` (``Ledger`` refused it), ``substrate``
    (refused while its entries were re-hashed), ``verify``, or ``missed``; and the
    sequence number named (None where the ledger as a whole was refused)."""

    stage: str
    seq: int | None


def outcome(target: Target) -> Outcome:
    """Open the target as a server would, then as a substrate, then verify it."""
    try:
        ledger = Ledger(target.store())
    except LedgerIntegrityError as err:
        return Outcome("open", err.first_bad_seq)
    try:
        Substrate(ledger=ledger, vote="band")
    except LedgerIntegrityError as err:
        return Outcome("substrate", err.first_bad_seq)
    finally:
        ledger.close()
    with Ledger(target.store(), read_only=True) as forensic:
        result = forensic.verify()
    return Outcome("missed" if result.ok else "verify", result.first_bad_seq)


def truncated_export(target: Target, rng: random.Random, fresh: Callable[[], Ledger]
                     ) -> Outcome:
    """Issue 5: an export cut short imports nothing (``open`` here means refused)."""
    import io

    from ocrr.ledger.transfer import export_jsonl, import_jsonl

    with Ledger(target.store(), read_only=True) as ledger:
        out = io.StringIO()
        export_jsonl(ledger, out)
    lines = out.getvalue().splitlines()
    cut = lines[: rng.randrange(1, len(lines) - 1)]
    with fresh() as copy:
        try:
            import_jsonl(copy, cut)
        except LedgerError:
            return Outcome("open" if len(copy) == 0 else "missed", None)
        return Outcome("missed", None)


@dataclass
class SuiteRow:
    attack: str
    backend: str
    trials: int = 0
    stages: dict[str, int] = field(default_factory=dict)
    right_seq: int = 0
    examples: list[str] = field(default_factory=list)

    @property
    def caught(self) -> int:
        return self.trials - self.stages.get("missed", 0)


def run_attacks(target: Target | None, backend: str, trials: int, *, seed: int = 0,
                fresh: Callable[[], Ledger] | None = None, signed: Target | None = None,
                split: Target | None = None) -> list[SuiteRow]:
    """Every attack ``trials`` times on ``target`` (restored after each), the signed-only
    ones on ``signed``, the key-store ones on ``split`` (each only where given); the
    truncated export into ``fresh`` ledgers."""
    rng = random.Random(f"tamper-{backend}-{seed}")
    table = []
    for name, attack in {**ATTACKS, **KEY_STORE_ATTACKS}.items():
        on = signed if name in SIGNED_ONLY else split if name in KEY_STORE_ATTACKS else target
        if on is None:
            continue
        row = SuiteRow(name, backend)
        for _ in range(trials):
            what, expected = attack(on, rng)
            on.close()
            result = outcome(on)
            on.restore()
            _count(row, what, expected, result)
        table.append(row)
    if target is None or fresh is None:
        return table
    row = SuiteRow("truncated export (issue 5)", backend)
    for _ in range(trials):
        result = truncated_export(target, rng, fresh)
        _count(row, "export cut short, imported", None, result)
    table.append(row)
    return table


def _count(row: SuiteRow, what: str, expected: int | None, result: Outcome) -> None:
    row.trials += 1
    row.stages[result.stage] = row.stages.get(result.stage, 0) + 1
    row.right_seq += result.stage != "missed" and result.seq == expected
    if len(row.examples) < 2 or result.stage == "missed":
        row.examples.append(f"{what}: {result.stage} at {result.seq}")


def clean_opens(target: Target, opens: int, *, seed: int = 0) -> int:
    """Open a genuine ledger ``opens`` times, an ordinary write (a correction, a batch, a
    revocation, an erasure) before each; every tenth open rebuilds a substrate too.
    Returns the false alarms: opens refused."""
    rng = np.random.default_rng(seed)
    alarms = 0
    for i in range(opens):
        try:
            with Ledger(target.store()) as ledger:
                _ordinary_write(ledger, rng, i)
            with Ledger(target.store()) as ledger:
                if i % 10 == 0:
                    Substrate(ledger=ledger, vote="band")
        except LedgerIntegrityError:
            alarms += 1
    return alarms


def _ordinary_write(ledger: Ledger, rng: np.random.Generator, i: int) -> None:
    op = i % 4
    if op == 0:
        ledger.append(f"label-{i % 4}", rng.standard_normal(DIM), subject=f"p{i}")
    elif op == 1:
        ledger.append_many([f"label-{j % 4}" for j in range(5)], rng.standard_normal((5, DIM)))
    elif op == 2:
        ledger.append("label-1", None, kind=REVOCATION,
                      provenance={"source": "revocation", "revokes": "1"})
    else:
        ledger.erase(f"p{i - 3}")


def format_table(rows: list[SuiteRow]) -> list[str]:
    lines = ["| alteration | store | trials | refused at Ledger.open | refused at "
             "Substrate.open | flagged by verify | missed | right seq |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        s = r.stages
        lines.append(f"| {r.attack} | {r.backend} | {r.trials} | {s.get('open', 0)} | "
                     f"{s.get('substrate', 0)} | {s.get('verify', 0)} | "
                     f"{s.get('missed', 0)} | {r.right_seq} |")
    return lines


Places = Callable[[str], tuple[str, str | None]]
"""A backend's places for ledgers: tag -> (where, schema), a new one per tag."""


def run_suite(backends: dict[str, Places], *, trials: int, opens: int,
              say: Callable[[str], None], key_store_only: bool = False) -> bool:
    """The suite on each backend; prints the table and the false alarms; True if every
    alteration was caught and no genuine open was refused. ``key_store_only``: only the
    attacks on, and the genuine opens of, a ledger with a separate key store."""
    from ocrr.ledger.signing import generate_key

    rows: list[SuiteRow] = []
    alarms: dict[str, int] = {}
    for name, place in backends.items():
        if key_store_only:
            split = Target.build(*place("split"), keys=True)
            rows += run_attacks(None, name, trials, split=split)
            split_clean = Target.build(*place("splitclean"), keys=True)
            alarms[f"{name}, separate key store"] = clean_opens(split_clean, opens)
            for t in (split, split_clean):
                t.close()
            continue
        target = Target.build(*place("plain"))
        signed = Target.build(*place("signed"), signer=generate_key())

        def fresh(place: Places = place) -> Ledger:
            return Ledger(Target(*place(uuid.uuid4().hex[:8])).store(create=True))

        split = Target.build(*place("split"), keys=True)
        rows += run_attacks(target, name, trials, fresh=fresh, signed=signed, split=split)
        clean = Target.build(*place("clean"))
        alarms[name] = clean_opens(clean, opens)
        split_clean = Target.build(*place("splitclean"), keys=True)
        alarms[f"{name}, separate key store"] = clean_opens(split_clean, opens)
        for t in (target, signed, clean, split, split_clean):
            t.close()
    for line in format_table(rows):
        say(line)
    for name, count in alarms.items():
        say(f"{name}: {opens} genuine opens between ordinary writes, {count} false alarms")
    return all(r.caught == r.trials for r in rows) and not any(alarms.values())


def sqlite_places(folder: str | None = None) -> Places:
    root = folder or tempfile.mkdtemp(prefix="ocrr-tamper-")
    return lambda tag: (str(Path(root) / f"{tag}.db"), None)


def postgres_places(dsn: str) -> Places:
    run = uuid.uuid4().hex[:8]
    return lambda tag: (dsn, f"tamper_{run}_{tag}")
