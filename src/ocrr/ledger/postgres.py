"""The shared store: PostgreSQL, for several processes or hosts appending to one ledger.

Why PostgreSQL beside SQLite: SQLite serialises writers on one machine's file; a ledger that
several hosts correct needs a server. Each write takes ``LOCK TABLE entries IN EXCLUSIVE
MODE`` (other writers wait, readers do not), reads the real head, inserts and commits, so the
chain stays one line however many writers there are. With the server's default
``synchronous_commit=on`` an append is durable when ``correct`` returns.

Erasure deletes the subject key inside the tombstone's transaction (after overwriting it with
zeros) and then runs ``VACUUM FULL`` on the key table, which rewrites it without the dead
rows. PostgreSQL's write-ahead log and any base backups still hold the key until they are
recycled: where that matters, keep them on a short retention (see docs/architecture.md).

The head record (:mod:`ocrr.ledger.head`) is one row of the ``head`` table, rewritten in each
write's transaction; ``entries_links`` covers (seq, prev_hash, entry_hash) so the check at
open walks the chain from the index.

Needs the ``psycopg`` driver: ``pip install 'ocrr[postgres]'``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ocrr.errors import LedgerMissingError
from ocrr.ledger import rows
from ocrr.ledger.entry import GENESIS_HASH, Entry
from ocrr.ledger.head import COLUMNS as HEAD_COLUMNS
from ocrr.ledger.head import StoredHead, next_head
from ocrr.ledger.keys import SubjectKey
from ocrr.ledger.pg import PgConnection, check_schema, destroy_keys, import_psycopg, qualified
from ocrr.ledger.sqlreads import SQLReads
from ocrr.ledger.store import (
    Batch,
    Link,
    Tip,
    WriteView,
    extending,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

FORMAT = "ocrr-ledger-1"
_SETUP_LOCK = 0x0C7217  # advisory lock id: concurrent first opens create the schema once
_HEAD_SELECT = "SELECT " + ", ".join(HEAD_COLUMNS) + " FROM {head}"
_HEAD_PUT = ("INSERT INTO {head} VALUES (1, " + ", ".join(["%s"] * len(HEAD_COLUMNS))
             + ") ON CONFLICT (id) DO UPDATE SET "
             + ", ".join(f"{c} = EXCLUDED.{c}" for c in HEAD_COLUMNS))


class _View:
    def __init__(self, store: PostgresStore, cur, tip: Tip, dim: int | None) -> None:  # noqa: ANN001
        self._store = store
        self._cur = cur
        self.tip = tip
        self.dim = dim

    def find_key(self, subject: str) -> SubjectKey | None:
        self._cur.execute(self._store._q("SELECT key_id, key FROM {keys} WHERE subject = %s"),
                          (subject,))
        row = self._cur.fetchone()
        return None if row is None else SubjectKey(row[0], subject, bytes(row[1]))

    def seqs_for_key(self, key_id: str) -> list[int]:
        self._cur.execute(
            self._store._q("SELECT seq FROM {entries} WHERE key_id = %s ORDER BY seq"), (key_id,)
        )
        return [r[0] for r in self._cur.fetchall()]


class PostgresStore(SQLReads, PgConnection):
    """Entries, subject keys and metadata in three tables of one PostgreSQL schema.

    ``schema`` (default: the connection's search path, usually ``public``) lets one database
    hold several ledgers.

    Examples
    --------
    Opening one needs a server (``Ledger.open("postgresql://...")`` does it by URL); like
    SQLite, it is a shared, numbered store:

    >>> PostgresStore.shared, PostgresStore.numbered
    (True, True)
    """

    shared = True
    numbered = True
    durable = True

    def __init__(self, dsn: str, *, schema: str | None = None, create: bool = True,
                 vacuum_after_erase: bool = True,
                 signer: Ed25519PrivateKey | None = None) -> None:
        check_schema(schema)
        self.dsn = dsn
        self.schema = schema
        self.signer = signer
        self.vacuum_after_erase = vacuum_after_erase
        self._tables = {**qualified(schema, entries="entries", keys="subject_keys", meta="meta",
                                    head="head"), "p": "%s"}
        PgConnection.__init__(self, dsn, lambda: self._setup(create))
        self._size = 0
        self.tip()

    def _q(self, sql: str) -> str:
        return sql.format(**self._tables)

    def _fetch(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        with self._lock, self._conn.cursor(binary=True) as cur:  # bytea as raw bytes
            cur.execute(sql, args)
            return cur.fetchall()

    def _setup(self, create: bool) -> None:
        with self._conn.transaction(), self._conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_SETUP_LOCK,))
            cur.execute(
                "SELECT 1 FROM information_schema.tables WHERE table_name = 'meta' AND "
                "table_schema = COALESCE(%s, current_schema())",
                (self.schema,),
            )
            fresh = cur.fetchone() is None
            if fresh:
                if not create:
                    raise LedgerMissingError(self._where(), None, "there is no ledger "
                                               "there: its schema was dropped or never made "
                                               "(open with create=True only to start one)")
                if self.schema is not None:
                    cur.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                for statement in (
                    """CREATE TABLE IF NOT EXISTS {entries} (
                        seq BIGINT PRIMARY KEY,
                        created_at_ns BIGINT NOT NULL,
                        kind TEXT NOT NULL,
                        label TEXT NOT NULL,
                        vector BYTEA NOT NULL,
                        text TEXT,
                        provenance TEXT NOT NULL,
                        prev_hash BYTEA NOT NULL,
                        entry_hash BYTEA NOT NULL,
                        key_id TEXT)""",
                    "CREATE INDEX IF NOT EXISTS entries_by_key ON {entries} (key_id) "
                    "WHERE key_id IS NOT NULL",
                    """CREATE TABLE IF NOT EXISTS {keys} (
                        key_id TEXT PRIMARY KEY,
                        subject TEXT NOT NULL UNIQUE,
                        key BYTEA NOT NULL)""",
                    "CREATE TABLE IF NOT EXISTS {meta} (name TEXT PRIMARY KEY, "
                    "value TEXT NOT NULL)",
                ):
                    cur.execute(self._q(statement))
                cur.execute(self._q("INSERT INTO {meta} VALUES ('format', %s) "
                                    "ON CONFLICT DO NOTHING"), (FORMAT,))
            cur.execute(self._q("SELECT value FROM {meta} WHERE name = 'format'"))
            found = cur.fetchone()
            if found is None or found[0] != FORMAT:
                raise ValueError(f"{self._where()} holds format {found}, not {FORMAT!r}")
            for statement in (
                """CREATE TABLE IF NOT EXISTS {head} (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    size BIGINT NOT NULL,
                    last_hash BYTEA NOT NULL,
                    root BYTEA NOT NULL,
                    frontier BYTEA NOT NULL,
                    timestamp_ns BIGINT NOT NULL,
                    checked BIGINT NOT NULL,
                    imported BIGINT NOT NULL,
                    signature BYTEA,
                    public_key BYTEA)""",
                "CREATE INDEX IF NOT EXISTS entries_links ON {entries} (seq) "
                "INCLUDE (prev_hash, entry_hash)",
                "CREATE INDEX IF NOT EXISTS entries_by_kind ON {entries} (kind) "
                "WHERE kind <> 'example'",
            ):
                cur.execute(self._q(statement))
            if fresh:  # a new ledger's head (one made before head records gets it by adopt)
                cur.execute(self._q(_HEAD_PUT), StoredHead.genesis(self.signer).encode())

    def _where(self) -> str:
        return f"{self.dsn} (schema {self.schema or 'default'})"

    # -- reading (the queries shared with SQLite are in SQLReads) -------------------------
    def tip(self) -> Tip:
        with self._lock, self._conn.cursor() as cur:
            return self._read_tip(cur)

    def _read_tip(self, cur) -> Tip:  # noqa: ANN001
        cur.execute(self._q("SELECT seq, entry_hash FROM {entries} ORDER BY seq DESC LIMIT 1"))
        row = cur.fetchone()
        tip = Tip(0, GENESIS_HASH) if row is None else Tip(row[0] + 1, bytes(row[1]))
        self._size = tip.size
        return tip

    def set_meta(self, name: str, value: str) -> None:
        with self._lock, self._conn.cursor() as cur:
            cur.execute(self._q("INSERT INTO {meta} VALUES (%s, %s) ON CONFLICT (name) DO "
                                "UPDATE SET value = EXCLUDED.value"), (name, value))

    def _select(self) -> str:
        return self._q("SELECT " + ", ".join(rows.COLUMNS) + " FROM {entries}")

    def head_record(self) -> StoredHead | None:
        with self._lock, self._conn.cursor(binary=True) as cur:
            cur.execute(self._q(_HEAD_SELECT))
            row = cur.fetchone()
        return None if row is None else StoredHead.decode(row)

    def links(self) -> Iterator[list[Link]]:
        """(seq, prev_hash, entry_hash) of every row in sequence order, from the index."""
        start = -(2**63)
        while True:
            with self._lock, self._conn.cursor(binary=True) as cur:
                cur.execute(self._q("SELECT seq, prev_hash, entry_hash FROM {entries} "
                                    "WHERE seq >= %s ORDER BY seq LIMIT %s"), (start, 65_536))
                page = cur.fetchall()
            yield page
            if len(page) < 65_536:
                return
            start = page[-1][0] + 1

    def mark_checked(self, size: int) -> None:
        """Note that the first ``size`` entries were re-hashed (best effort: a reader
        without write access leaves the mark where it was)."""
        psycopg = import_psycopg()
        with self._lock, self._conn.cursor() as cur, contextlib.suppress(psycopg.Error):
            cur.execute(self._q("UPDATE {head} SET checked = %s WHERE checked < %s "
                                "AND size >= %s"), (size, size, size))

    def put_head(self, head: StoredHead) -> None:
        with self._lock, self._conn.cursor() as cur:
            cur.execute(self._q(_HEAD_PUT), head.encode())

    # -- writing ---------------------------------------------------------------------------
    def write(self, prepare: Callable[[WriteView], Batch]) -> Batch:
        """Run ``prepare`` on the current head under the table lock; commit what it returns."""
        with self._lock:
            with self._conn.transaction(), self._conn.cursor() as cur:
                cur.execute(self._q("LOCK TABLE {entries} IN EXCLUSIVE MODE"))
                tip = self._read_tip(cur)
                cur.execute(self._q("SELECT value FROM {meta} WHERE name = 'dim'"))
                dim_row = cur.fetchone()
                batch = prepare(_View(self, cur, tip, None if dim_row is None
                                      else int(dim_row[0])))
                cur.execute(self._q(_HEAD_SELECT))
                old = cur.fetchone()
                head = next_head(None if old is None else StoredHead.decode(old), *tip,
                                 (e.entry_hash for e in batch.entries), self.signer,
                                 self._where(), imported=batch.imported)
                if batch.new_keys:
                    cur.executemany(
                        self._q("INSERT INTO {keys} (key_id, subject, key) VALUES (%s, %s, %s)"),
                        [(k.key_id, k.subject, k.key) for k in batch.new_keys],
                    )
                with cur.copy(self._q("COPY {entries} (" + ", ".join(rows.COLUMNS)
                                      + ") FROM STDIN")) as copy:
                    for entry in batch.entries:
                        copy.write_row(rows.encode(entry))
                if batch.dim is not None and dim_row is None:
                    cur.execute(self._q("INSERT INTO {meta} VALUES ('dim', %s)"),
                                (str(batch.dim),))
                destroy_keys(cur, self._q("{keys}"), batch.destroyed)
                cur.execute(self._q(_HEAD_PUT), head.encode())
            self._size = tip.size + len(batch.entries)
            if batch.destroyed and self.vacuum_after_erase:
                self.scrub()
        return batch

    def append(self, entry: Entry) -> None:
        """Append one already-built entry (import): it must extend the current head."""
        self.write(extending(entry))

    def scrub(self) -> None:
        """Rewrite the key table without its dead rows (destroyed keys)."""
        with self._lock, self._conn.cursor() as cur:
            cur.execute(self._q("VACUUM FULL {keys}"))

    def __repr__(self) -> str:
        return f"PostgresStore({self._where()!r})"
