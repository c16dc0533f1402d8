"""The embedded on-disk store: one SQLite file in WAL mode.

Why these settings:

- ``journal_mode=WAL``: readers (another process verifying, say) never block the writer, and
  a commit is one sequential write to the log.
- ``synchronous=FULL``: the log is fsynced at every commit, so an append is durable — it
  survives a power cut, not just a crash — when ``correct`` returns. ``correct_many`` puts
  many entries in one commit, which is how throughput scales.
- ``secure_delete=ON`` and a ``wal_checkpoint(TRUNCATE)`` after an erasure: a destroyed
  subject key is overwritten with zeros in the file and no old copy lingers in the log.
- ``BEGIN IMMEDIATE`` around each write: several processes may share the file; each write
  takes the lock, re-reads the head and appends after it.
- The ``head`` table holds the head record (:mod:`ocrr.ledger.head`), rewritten in each
  write's transaction; ``entries_links`` (sequence number, both hashes) lets the check at
  open walk the chain without reading the vectors, and ``entries_by_kind`` finds the few
  entries that are not examples (tombstones) without a scan.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ocrr.errors import LedgerIntegrityError, LedgerMissingError
from ocrr.ledger import rows
from ocrr.ledger.entry import GENESIS_HASH, Entry
from ocrr.ledger.head import COLUMNS as HEAD_COLUMNS
from ocrr.ledger.head import StoredHead, next_head
from ocrr.ledger.keys import SubjectKey
from ocrr.ledger.sqlreads import SQLReads
from ocrr.ledger.store import (
    Batch,
    Link,
    Run,
    Tip,
    WriteView,
    extending,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

FORMAT = "ocrr-ledger-1"
_SELECT = (  # text as bytes: rows.decode checks it is UTF-8 (a corrupt row is reported)
    "SELECT seq, created_at_ns, CAST(kind AS BLOB), CAST(label AS BLOB), vector, "
    "CAST(text AS BLOB), CAST(provenance AS BLOB), prev_hash, entry_hash, key_id FROM entries"
)
_TABLES = {"entries": "entries", "keys": "subject_keys", "meta": "meta", "head": "head",
           "p": "?"}
_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    seq INTEGER PRIMARY KEY,
    created_at_ns INTEGER NOT NULL,
    kind TEXT NOT NULL,
    label TEXT NOT NULL,
    vector BLOB NOT NULL,
    text TEXT,
    provenance TEXT NOT NULL,
    prev_hash BLOB NOT NULL,
    entry_hash BLOB NOT NULL,
    key_id TEXT
);
CREATE INDEX IF NOT EXISTS entries_by_key ON entries (key_id) WHERE key_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS subject_keys (
    key_id TEXT PRIMARY KEY,
    subject TEXT NOT NULL UNIQUE,
    key BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
# also added to a ledger made before head records (its head is then recorded by 'adopt')
_CHECKS = """
CREATE TABLE IF NOT EXISTS head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    size INTEGER NOT NULL,
    last_hash BLOB NOT NULL,
    root BLOB NOT NULL,
    frontier BLOB NOT NULL,
    timestamp_ns INTEGER NOT NULL,
    checked INTEGER NOT NULL,
    imported INTEGER NOT NULL,
    signature BLOB,
    public_key BLOB
);
CREATE INDEX IF NOT EXISTS entries_links ON entries (seq, prev_hash, entry_hash);
CREATE INDEX IF NOT EXISTS entries_by_kind ON entries (kind) WHERE kind <> 'example';
"""
_PUT_HEAD = f"INSERT OR REPLACE INTO head VALUES (1, {', '.join('?' * len(HEAD_COLUMNS))})"


class LedgerFileError(OSError):
    """The path holds no OCRR ledger (or one of another format)."""


def _statements(script: str) -> list[str]:
    return [statement for statement in script.split(";") if statement.strip()]


class _View:
    def __init__(self, conn: sqlite3.Connection, tip: Tip, dim: int | None) -> None:
        self._conn = conn
        self.tip = tip
        self.dim = dim

    def find_key(self, subject: str) -> SubjectKey | None:
        row = self._conn.execute(
            "SELECT key_id, key FROM subject_keys WHERE subject = ?", (subject,)
        ).fetchone()
        return None if row is None else SubjectKey(row[0], subject, bytes(row[1]))

    def seqs_for_key(self, key_id: str) -> list[int]:
        cur = self._conn.execute("SELECT seq FROM entries WHERE key_id = ? ORDER BY seq",
                                 (key_id,))
        return [r[0] for r in cur]


class SQLiteStore(SQLReads):
    """Entries, subject keys and a little metadata in one SQLite database file.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from ocrr.ledger import Ledger
    >>> folder = tempfile.TemporaryDirectory()
    >>> with Ledger(SQLiteStore(f"{folder.name}/ledger.db")) as ledger:
    ...     entry = ledger.append("greeting", np.ones(3))
    >>> with Ledger.open(f"{folder.name}/ledger.db", create=False) as reopened:
    ...     reopened.head().entry_hash == entry.entry_hash and reopened.verify().ok
    True
    >>> folder.cleanup()
    """

    shared = True
    numbered = True
    durable = True

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True,
                 timeout: float = 30.0, signer: Ed25519PrivateKey | None = None) -> None:
        self.path = Path(path)
        self.signer = signer
        if self.path.is_file() and self.path.stat().st_size == 0:
            raise LedgerIntegrityError(str(self.path), None, "the file is empty (0 bytes), "
                                       "not a ledger: it was truncated or replaced")
        if not create and not self.path.is_file():
            raise LedgerMissingError(str(self.path), None, "there is no ledger file: it "
                                       "was deleted or moved (open with create=True only "
                                       "to start a new ledger)")
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=timeout
        )
        try:
            self._setup(create)
        except BaseException:
            self._conn.close()
            raise
        self._size = 0
        self.tip()

    def _setup(self, create: bool) -> None:
        conn = self._conn
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        except sqlite3.DatabaseError as err:
            raise LedgerFileError(f"{self.path} is not an SQLite database: {err}") from None
        if mode.lower() != "wal":
            raise LedgerFileError(f"{self.path}: could not switch to WAL mode (got {mode})")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA secure_delete=ON")
        conn.execute("BEGIN IMMEDIATE")
        try:
            has_meta = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
            ).fetchone()
            if has_meta is None:
                if not create:
                    raise LedgerFileError(f"{self.path} holds no OCRR ledger")
                for statement in _statements(_SCHEMA + _CHECKS):  # executescript would commit
                    conn.execute(statement)
                conn.execute(_PUT_HEAD, StoredHead.genesis(self.signer).encode())  # new ledger
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('format', ?)", (FORMAT,))
            for statement in _statements(_CHECKS):  # a ledger made before head records
                conn.execute(statement)
            found = conn.execute("SELECT value FROM meta WHERE name = 'format'").fetchone()[0]
            if found != FORMAT:
                raise LedgerFileError(f"{self.path} holds format {found!r}, not {FORMAT!r}")
            if conn.in_transaction:
                conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    # -- reading (the queries shared with PostgreSQL are in SQLReads) -----------------------
    def _q(self, sql: str) -> str:
        return sql.format(**_TABLES)

    def _fetch(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    def _select(self) -> str:
        return _SELECT

    def tip(self) -> Tip:
        with self._lock:
            return self._read_tip()

    def _read_tip(self) -> Tip:
        row = self._conn.execute(
            "SELECT seq, entry_hash FROM entries ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        tip = Tip(0, GENESIS_HASH) if row is None else Tip(row[0] + 1, bytes(row[1]))
        self._size = tip.size
        return tip

    def set_meta(self, name: str, value: str) -> None:
        with self._lock:
            self._conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (name, value))

    def head_record(self) -> StoredHead | None:
        with self._lock:
            row = self._conn.execute(f"SELECT {', '.join(HEAD_COLUMNS)} FROM head").fetchone()
        return None if row is None else StoredHead.decode(row)

    def links(self) -> Iterator[list[Link] | Run]:
        """Every row's links in sequence order, from the covering index: a range of
        numbers that holds as many rows as numbers has no gap (numbers are unique), so it
        comes as a :class:`Run` of two columns; any other range as rows."""
        with self._lock:
            low, high = self._conn.execute("SELECT MIN(seq), MAX(seq) FROM entries").fetchone()
        if low is None:
            return
        page = 65_536
        for start in range(min(low, 0), high + 1, page):
            stop = min(start + page, high + 1)
            with self._lock:
                found = self._conn.execute(
                    "SELECT prev_hash, entry_hash FROM entries INDEXED BY entries_links "
                    "WHERE seq >= ? AND seq < ? ORDER BY seq", (start, stop)).fetchall()
                if start >= 0 and len(found) == stop - start:
                    prevs, digests = zip(*found, strict=True)
                    yield Run(start, prevs, digests)
                    continue
                yield self._conn.execute(
                    "SELECT seq, prev_hash, entry_hash FROM entries WHERE seq >= ? AND "
                    "seq < ? ORDER BY seq", (start, stop)).fetchall()

    def mark_checked(self, size: int) -> None:
        """Record that the first ``size`` entries were re-hashed in full (never lowers it;
        a no-op on a read-only file)."""
        with self._lock, contextlib.suppress(sqlite3.OperationalError):
            self._conn.execute("UPDATE head SET checked = ? WHERE checked < ? AND size >= ?",
                               (size, size, size))

    def put_head(self, head: StoredHead) -> None:
        """Replace the head record (``Ledger.adopt`` after a full verification)."""
        with self._lock:
            self._conn.execute(_PUT_HEAD, head.encode())

    # -- writing ---------------------------------------------------------------------------
    def write(self, prepare: Callable[[WriteView], Batch]) -> Batch:
        """Run ``prepare`` on the current head under the write lock; commit what it returns."""
        conn = self._conn
        with self._lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                tip = self._read_tip()
                dim_row = conn.execute("SELECT value FROM meta WHERE name = 'dim'").fetchone()
                batch = prepare(_View(conn, tip, None if dim_row is None else int(dim_row[0])))
                old = conn.execute(f"SELECT {', '.join(HEAD_COLUMNS)} FROM head").fetchone()
                head = next_head(None if old is None else StoredHead.decode(old), *tip,
                                 (e.entry_hash for e in batch.entries), self.signer,
                                 str(self.path), imported=batch.imported)
                if batch.new_keys:
                    conn.executemany("INSERT INTO subject_keys VALUES (?, ?, ?)",
                                     [(k.key_id, k.subject, k.key) for k in batch.new_keys])
                conn.executemany("INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                 [rows.encode(e) for e in batch.entries])
                if batch.dim is not None and dim_row is None:
                    conn.execute("INSERT INTO meta VALUES ('dim', ?)", (str(batch.dim),))
                for key_id in batch.destroyed:
                    conn.execute("DELETE FROM subject_keys WHERE key_id = ?", (key_id,))
                conn.execute(_PUT_HEAD, head.encode())
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            self._size = tip.size + len(batch.entries)
            if batch.destroyed:
                self.scrub()
        return batch

    def append(self, entry: Entry) -> None:
        """Append one already-built entry (import): it must extend the current head."""
        self.write(extending(entry))

    def scrub(self) -> bool:
        """Fold the log into the database file and truncate it, so freed (zeroed) pages
        leave no older copy behind. False if readers held it open (retried on close)."""
        with self._lock:
            busy = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        return busy == 0

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self.scrub()
                self._conn.close()
                self._conn = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"
