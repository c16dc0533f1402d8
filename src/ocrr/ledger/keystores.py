"""Subject keys in their own SQLite file or PostgreSQL database, apart from the entries.

Why apart: an operator can then back up, withhold or destroy the keys without touching the
audited entries (a backup of the entries alone restores every label and vector, but no
sealed text). Both stores implement :class:`~ocrr.ledger.keys.KeyStore`; the split store
(:mod:`ocrr.ledger.split`) orders their commits around the entries' own.

The SQLite file has the ledger's settings (WAL, ``synchronous=FULL``, ``secure_delete=ON``,
a ``wal_checkpoint(TRUNCATE)`` after each destruction, so no destroyed key lingers in the
file or its log) and is created 0600. In PostgreSQL the keys are the ``ocrr_subject_keys``
table (named apart from a ledger's own ``subject_keys``, so a database can hold both) and
``ocrr_keys_meta``; a destroyed key is overwritten, deleted, then ``VACUUM FULL`` rewrites
the table. A key store that is missing is never made anew where the ledger expects one
(``create=False``): :class:`~ocrr.errors.LedgerMissingError` names it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ocrr.errors import LedgerIntegrityError, LedgerMissingError
from ocrr.ledger.keys import KeyStoreError, SubjectKey
from ocrr.ledger.pg import PgConnection, check_schema, destroy_keys, qualified

FORMAT = "ocrr-keys-1"
_MISSING = ("there is no key store there: it was deleted or moved. Restore it from the backup "
            "made with the ledger (without it no sealed entry can be read); never start an "
            "empty one in its place")


class SQLiteKeys:
    """Subject keys in one SQLite file of their own.

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.TemporaryDirectory()
    >>> keys = SQLiteKeys(f"{folder.name}/ns.keys.db")
    >>> alice = SubjectKey.new("alice")
    >>> keys.put_many([alice])
    >>> keys.close()
    >>> again = SQLiteKeys(f"{folder.name}/ns.keys.db", create=False)
    >>> again.find("alice") == alice, oct(Path(again.where).stat().st_mode & 0o777)
    (True, '0o600')
    >>> again.close(); folder.cleanup()
    """

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True,
                 timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.where = str(self.path)
        if self.path.is_file() and self.path.stat().st_size == 0:
            raise LedgerIntegrityError(self.where, None, "the key file is empty (0 bytes): it "
                                       "was truncated or replaced")
        if not self.path.is_file():
            if not create:
                raise LedgerMissingError(self.where, None, _MISSING)
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(self.path, isolation_level=None,
                                     check_same_thread=False, timeout=timeout)
        try:
            self._setup()
        except BaseException:
            self._conn.close()
            raise

    def _setup(self) -> None:
        conn = self._conn
        try:
            conn.execute("PRAGMA journal_mode=WAL")
        except sqlite3.DatabaseError as err:
            raise KeyStoreError(f"{self.where} is not an SQLite database: {err}") from None
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA secure_delete=ON")
        with self._transaction():
            tables = {r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not tables:
                conn.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
                conn.execute("CREATE TABLE subject_keys (key_id TEXT PRIMARY KEY, "
                             "subject TEXT NOT NULL UNIQUE, key BLOB NOT NULL)")
                conn.execute("INSERT INTO meta VALUES ('format', ?)", (FORMAT,))
            found = None
            if "meta" in tables or not tables:
                found = conn.execute("SELECT value FROM meta WHERE name = 'format'").fetchone()
            if found is None or found[0] != FORMAT:
                raise KeyStoreError(f"{self.where} is not an OCRR key store (format "
                                    f"{None if found is None else found[0]!r}, not "
                                    f"{FORMAT!r}): a ledger file, or another file, was "
                                    "given as the key store")

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _one(self, sql: str, args: tuple[Any, ...]) -> Any:
        with self._lock:
            return self._conn.execute(sql, args).fetchone()

    def find(self, subject: str) -> SubjectKey | None:
        row = self._one("SELECT key_id, key FROM subject_keys WHERE subject = ?", (subject,))
        return None if row is None else SubjectKey(row[0], subject, bytes(row[1]))

    def get(self, key_id: str) -> bytes | None:
        row = self._one("SELECT key FROM subject_keys WHERE key_id = ?", (key_id,))
        return None if row is None else bytes(row[0])

    def put_many(self, keys: Sequence[SubjectKey]) -> None:
        with self._transaction() as conn:
            conn.executemany("INSERT INTO subject_keys VALUES (?, ?, ?)",
                             [(k.key_id, k.subject, k.key) for k in keys])

    def destroy_many(self, key_ids: Iterable[str]) -> None:
        with self._transaction() as conn:
            for key_id in key_ids:
                conn.execute("DELETE FROM subject_keys WHERE key_id = ?", (key_id,))
        with self._lock:  # secure_delete zeroed the pages; no older copy stays in the log
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def live(self) -> dict[str, bytes]:
        with self._lock:
            return {r[0]: bytes(r[1]) for r in self._conn.execute(
                "SELECT key_id, key FROM subject_keys")}

    def export(self) -> list[SubjectKey]:
        with self._lock:
            return [SubjectKey(r[0], r[1], bytes(r[2])) for r in self._conn.execute(
                "SELECT key_id, subject, key FROM subject_keys ORDER BY key_id")]

    def ledger_id(self) -> str | None:
        row = self._one("SELECT value FROM meta WHERE name = 'ledger'", ())
        return None if row is None else str(row[0])

    def bind(self, ledger_id: str) -> None:
        with self._transaction() as conn:
            conn.execute("INSERT INTO meta VALUES ('ledger', ?)", (ledger_id,))

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                self._conn.close()
                self._conn = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"SQLiteKeys({self.where!r})"


class PostgresKeys(PgConnection):
    """Subject keys in a PostgreSQL database (``schema``: default the search path's).

    Examples
    --------
    Opening one needs a server (``Ledger.open(..., keys="postgresql://...")`` does it by
    URL); it implements the whole key-store protocol, as the SQLite one does:

    >>> methods = {"find", "get", "put_many", "destroy_many", "live", "export", "bind"}
    >>> sorted(methods - set(dir(PostgresKeys))), sorted(methods - set(dir(SQLiteKeys)))
    ([], [])
    """

    def __init__(self, dsn: str, *, schema: str | None = None, create: bool = True) -> None:
        check_schema(schema)
        self.dsn, self.schema = dsn, schema
        self.where = f"{dsn} (key tables, schema {schema or 'default'})"
        self._tables = qualified(schema, keys="ocrr_subject_keys", meta="ocrr_keys_meta")
        PgConnection.__init__(self, dsn, lambda: self._setup(create))

    def _q(self, sql: str) -> str:
        return sql.format(**self._tables)

    def _setup(self, create: bool) -> None:
        with self._conn.transaction(), self._conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (0x0C7218,))
            cur.execute("SELECT 1 FROM information_schema.tables WHERE table_name = "
                        "'ocrr_keys_meta' AND table_schema = COALESCE(%s, current_schema())",
                        (self.schema,))
            if cur.fetchone() is None:
                if not create:
                    raise LedgerMissingError(self.where, None, _MISSING)
                if self.schema is not None:
                    cur.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                cur.execute(self._q("CREATE TABLE {meta} (name TEXT PRIMARY KEY, "
                                    "value TEXT NOT NULL)"))
                cur.execute(self._q("CREATE TABLE {keys} (key_id TEXT PRIMARY KEY, "
                                    "subject TEXT NOT NULL UNIQUE, key BYTEA NOT NULL)"))
                cur.execute(self._q("INSERT INTO {meta} VALUES ('format', %s)"), (FORMAT,))
            cur.execute(self._q("SELECT value FROM {meta} WHERE name = 'format'"))
            found = cur.fetchone()
            if found is None or found[0] != FORMAT:
                raise KeyStoreError(f"{self.where} holds format {found}, not {FORMAT!r}")

    def _all(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        with self._lock, self._conn.cursor() as cur:
            cur.execute(self._q(sql), args)
            return cur.fetchall()

    def find(self, subject: str) -> SubjectKey | None:
        rows = self._all("SELECT key_id, key FROM {keys} WHERE subject = %s", (subject,))
        return SubjectKey(rows[0][0], subject, bytes(rows[0][1])) if rows else None

    def get(self, key_id: str) -> bytes | None:
        rows = self._all("SELECT key FROM {keys} WHERE key_id = %s", (key_id,))
        return bytes(rows[0][0]) if rows else None

    def put_many(self, keys: Sequence[SubjectKey]) -> None:
        with self._lock, self._conn.transaction(), self._conn.cursor() as cur:
            cur.executemany(self._q("INSERT INTO {keys} VALUES (%s, %s, %s)"),
                            [(k.key_id, k.subject, k.key) for k in keys])

    def destroy_many(self, key_ids: Iterable[str]) -> None:
        with self._lock:
            with self._conn.transaction(), self._conn.cursor() as cur:
                destroy_keys(cur, self._q("{keys}"), key_ids)
            with self._conn.cursor() as cur:
                cur.execute(self._q("VACUUM FULL {keys}"))

    def live(self) -> dict[str, bytes]:
        return {r[0]: bytes(r[1]) for r in self._all("SELECT key_id, key FROM {keys}")}

    def export(self) -> list[SubjectKey]:
        return [SubjectKey(r[0], r[1], bytes(r[2])) for r in
                self._all("SELECT key_id, subject, key FROM {keys} ORDER BY key_id")]

    def ledger_id(self) -> str | None:
        rows = self._all("SELECT value FROM {meta} WHERE name = 'ledger'")
        return str(rows[0][0]) if rows else None

    def bind(self, ledger_id: str) -> None:
        self._all("INSERT INTO {meta} VALUES ('ledger', %s) RETURNING name", (ledger_id,))

    def __repr__(self) -> str:
        return f"PostgresKeys({self.where!r})"
