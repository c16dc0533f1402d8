"""The registry: which namespaces exist, their settings, and the API keys (hashed).

Why a small database of its own beside the ledgers: namespaces and keys are configuration,
not classifier state, and must not enter any tenant's hash chain. It lives where the ledgers
live, so a deployment has one thing to back up: with SQLite, ``DATA/registry.db`` beside
``DATA/namespaces/<name>.db``; with PostgreSQL, the schema ``ocrr_registry`` beside one
schema ``ocrr_ns_<name>`` per namespace. Several server processes (replicas) may share it.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ocrr.ledger.location import is_postgres
from ocrr.names import clean_name
from ocrr.server.errors import Conflict, NotFound
from ocrr.server.keys import ApiKey, check_scope, key_id_of, new_token, token_hash

REGISTRY_SCHEMA = "ocrr_registry"
NAMESPACE_SCHEMA_PREFIX = "ocrr_ns_"
_SETUP_LOCK = 0x0C7218  # advisory lock: replicas starting together create the tables once

_TABLES = (
    """CREATE TABLE IF NOT EXISTS {p}namespaces (
        name TEXT PRIMARY KEY,
        threshold DOUBLE PRECISION,
        vote TEXT NOT NULL,
        encoder TEXT,
        created_at_ns BIGINT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS {p}api_keys (
        key_id TEXT PRIMARY KEY,
        key_hash TEXT NOT NULL UNIQUE,
        scope TEXT NOT NULL,
        namespace TEXT,
        name TEXT,
        created_at_ns BIGINT NOT NULL,
        revoked_at_ns BIGINT)""",
)
MAX_KEY_NAME_CHARS = 256
NAMESPACE_RULE = re.compile("[a-z][a-z0-9_]{0,47}")
"""Namespace names (the wire models' ``NAMESPACE_PATTERN``): they name files and schemas."""
_KEY_COLUMNS = "key_id, scope, namespace, name, created_at_ns, revoked_at_ns"
_NS_COLUMNS = "name, threshold, vote, encoder, created_at_ns"


@dataclass(frozen=True)
class NamespaceRecord:
    name: str
    threshold: float | None
    vote: str
    encoder: str | None
    """The encoder identity the namespace's vectors come from (fixed when first served)."""
    created_at_ns: int


def _key(row: Sequence[Any]) -> ApiKey:
    return ApiKey(row[0], row[1], row[2], row[3], int(row[4]), row[5] is not None)


def _namespace(row: Sequence[Any]) -> NamespaceRecord:
    return NamespaceRecord(row[0], None if row[1] is None else float(row[1]), row[2], row[3],
                           int(row[4]))


PRIVATE_FILE, PRIVATE_FOLDER = 0o600, 0o700
"""The registry (key hashes), the ledgers (texts, vectors) and their subject keys are
readable by their owner only, whatever the umask."""


def private_folder(path: Path, *, tighten: bool = False) -> None:
    """Make ``path`` (0700) if missing; with ``tighten``, also narrow an existing one (a
    folder OCRR owns; not a data folder someone else made)."""
    if not path.is_dir():
        path.mkdir(parents=True, mode=PRIVATE_FOLDER, exist_ok=True)
        path.chmod(PRIVATE_FOLDER)  # mkdir's mode passes through the umask
    elif tighten and path.stat().st_mode & 0o077:
        path.chmod(PRIVATE_FOLDER)


def private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 if missing (SQLite then gives its -wal and -shm
    files the same mode), or narrow an existing one to 0600."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    if path.stat().st_mode & 0o077:
        path.chmod(PRIVATE_FILE)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists() and side.stat().st_mode & 0o077:
            side.chmod(PRIVATE_FILE)


def check_namespace_name(name: str) -> str:
    """``name`` if it is a valid namespace name, else ``ValueError`` saying the rule."""
    if not isinstance(name, str) or not NAMESPACE_RULE.fullmatch(name):
        raise ValueError(f"namespace name {name!r}: lower-case letters, digits and _, "
                         "starting with a letter (48 characters at most)")
    return name


def check_key_name(name: str | None) -> str | None:
    """A key's note by the rule for names (:mod:`ocrr.names`), at most 256 characters."""
    if name is None:
        return None
    if len(name) > MAX_KEY_NAME_CHARS:
        raise ValueError(f"key name is {len(name)} characters; the limit is "
                         f"{MAX_KEY_NAME_CHARS}")
    if not name.strip():
        raise ValueError("key name must not be empty")
    return clean_name("key name", name)


class Registry:
    """Namespaces and keys on SQLite (a data folder) or PostgreSQL (a URL)."""

    def __init__(self, where: str | os.PathLike[str], *,
                 keys_dir: str | os.PathLike[str] | None = None) -> None:
        self.where = os.fspath(where)
        self.keys_dir = None if keys_dir is None else Path(keys_dir)
        """Where each namespace's subject keys live apart from its ledger (``<ns>.keys.db``,
        0600, the folder 0700); None: beside the entries."""
        if self.keys_dir is not None:
            private_folder(self.keys_dir, tighten=True)
        self._lock = threading.Lock()
        self.postgres = is_postgres(self.where)
        self._conn: Any = None
        if not self.postgres:
            self.data_dir = Path(self.where)
            private_folder(self.data_dir)
            private_folder(self.data_dir / "namespaces", tighten=True)
        self._prefix = f"{REGISTRY_SCHEMA}." if self.postgres else ""
        with self._lock:
            self._connect()

    def _connect(self) -> Any:
        """Open the connection (again, after :meth:`close`) and make sure the tables exist."""
        if self._conn is not None:
            return self._conn
        if self.postgres:
            import psycopg

            self._integrity: tuple[type[BaseException], ...] = (psycopg.IntegrityError,)
            conn: Any = psycopg.connect(self.where, autocommit=True)
            with conn.transaction(), conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (_SETUP_LOCK,))
                cur.execute(f"CREATE SCHEMA IF NOT EXISTS {REGISTRY_SCHEMA}")
                for statement in _TABLES:
                    cur.execute(statement.format(p=self._prefix))
        else:
            self._integrity = (sqlite3.IntegrityError,)
            private_file(self.data_dir / "registry.db")
            conn = sqlite3.connect(self.data_dir / "registry.db", isolation_level=None,
                                   check_same_thread=False, timeout=30.0)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            for statement in _TABLES:
                conn.execute(statement.format(p=""))
        self._conn = conn
        return conn

    # -- plumbing --------------------------------------------------------------------------
    def _sql(self, sql: str) -> str:
        sql = sql.format(p=self._prefix)
        return sql.replace("?", "%s") if self.postgres else sql

    def _all(self, sql: str, args: Sequence[Any] = ()) -> list[Sequence[Any]]:
        with self._lock:
            conn = self._connect()
            if self.postgres:
                with conn.cursor() as cur:
                    cur.execute(self._sql(sql), args)
                    return cur.fetchall()
            return conn.execute(self._sql(sql), args).fetchall()

    def _run(self, sql: str, args: Sequence[Any] = ()) -> int:
        with self._lock:
            conn = self._connect()
            if self.postgres:
                with conn.cursor() as cur:
                    cur.execute(self._sql(sql), args)
                    return cur.rowcount
            return conn.execute(self._sql(sql), args).rowcount

    def close(self) -> None:
        """Close the connection; a later call opens it again."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # -- namespaces ------------------------------------------------------------------------
    def create_namespace(self, name: str, *, threshold: float | None = None,
                         vote: str = "hybrid", encoder: str | None = None) -> NamespaceRecord:
        """Register a namespace and create its (empty) ledger now: from then on a missing
        ledger is an error, never a fresh empty one (:meth:`open_store`)."""
        check_namespace_name(name)
        record = NamespaceRecord(name, threshold, vote, encoder, time.time_ns())
        try:
            self._run(f"INSERT INTO {{p}}namespaces ({_NS_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                      (name, threshold, vote, encoder, record.created_at_ns))
        except self._integrity:
            raise Conflict(f"namespace {name!r} already exists") from None
        self.create_ledger(name)
        return record

    def create_ledger(self, name: str) -> None:
        """Create a registered namespace's empty ledger (its file, 0600, or its schema);
        one that exists is left as it is. :meth:`create_namespace` calls this; so may an
        operator for a namespace registered before ledgers were made at creation."""
        where, schema = self.ledger_location(name)
        self.open_store(name, create=True).close()
        if schema is None:  # made by SQLite under the umask: narrowed now, while empty (a
            private_file(Path(where))  # zero-length file made first is no ledger to adopt)

    def get_namespace(self, name: str) -> NamespaceRecord | None:
        rows = self._all(f"SELECT {_NS_COLUMNS} FROM {{p}}namespaces WHERE name = ?", (name,))
        return _namespace(rows[0]) if rows else None

    def require_namespace(self, name: str) -> NamespaceRecord:
        record = self.get_namespace(name)
        if record is None:
            raise NotFound(f"no namespace {name!r}")
        return record

    def list_namespaces(self) -> list[NamespaceRecord]:
        rows = self._all(f"SELECT {_NS_COLUMNS} FROM {{p}}namespaces ORDER BY name")
        return [_namespace(r) for r in rows]

    def set_threshold(self, name: str, threshold: float | None) -> NamespaceRecord:
        if not self._run("UPDATE {p}namespaces SET threshold = ? WHERE name = ?",
                         (threshold, name)):
            raise NotFound(f"no namespace {name!r}")
        return self.require_namespace(name)

    def set_vote(self, name: str, vote: str) -> NamespaceRecord:
        """Record the namespace's vote rule name (the ledger holds the rule itself)."""
        if not self._run("UPDATE {p}namespaces SET vote = ? WHERE name = ?", (vote, name)):
            raise NotFound(f"no namespace {name!r}")
        return self.require_namespace(name)

    def claim_encoder(self, name: str, encoder: str) -> str:
        """Record the encoder a namespace is served with, the first time; return the one
        recorded (a different one means its vectors would not be comparable)."""
        self._run("UPDATE {p}namespaces SET encoder = ? WHERE name = ? AND encoder IS NULL",
                  (encoder, name))
        return self.require_namespace(name).encoder or encoder

    def set_encoder(self, name: str, encoder: str) -> NamespaceRecord:
        """Record that the namespace's vectors now come from ``encoder`` (after its ledger
        was moved to it: :mod:`ocrr.server.move`)."""
        if not self._run("UPDATE {p}namespaces SET encoder = ? WHERE name = ?",
                         (encoder, name)):
            raise NotFound(f"no namespace {name!r}")
        return self.require_namespace(name)

    def ledger_location(self, name: str) -> tuple[str, str | None]:
        """(where, schema): a SQLite file, or the PostgreSQL URL and the namespace's schema."""
        if self.postgres:
            return self.where, NAMESPACE_SCHEMA_PREFIX + name
        return str(self.data_dir / "namespaces" / f"{name}.db"), None

    def open_store(self, name: str, *, create: bool = False):  # noqa: ANN201 - a DurableStore
        """The namespace's ledger store. It must exist (made by :meth:`create_namespace`):
        a missing or empty file raises, so a deleted ledger is never silently replaced by
        an empty one; ``create=True`` is for :meth:`create_ledger`."""
        from ocrr.ledger.location import with_keys
        from ocrr.ledger.store import EntryStore

        where, schema = self.ledger_location(name)
        store: EntryStore
        if schema is not None:
            from ocrr.ledger.postgres import PostgresStore

            store = PostgresStore(where, schema=schema, create=create)
        else:
            from ocrr.ledger.sqlite import SQLiteStore

            store = SQLiteStore(where, create=create)
        return with_keys(store, self.keys_location(name))

    def keys_location(self, name: str) -> Path | None:
        """The namespace's separate key file (``--keys-dir``), or None: keys beside entries."""
        return None if self.keys_dir is None else self.keys_dir / f"{name}.keys.db"

    # -- keys ------------------------------------------------------------------------------
    def create_key(self, scope: str, namespace: str | None = None,
                   name: str | None = None) -> tuple[str, ApiKey]:
        """A new key: returns the secret (shown once, never stored) and its record."""
        check_scope(scope, namespace)
        name = check_key_name(name)
        if namespace is not None:
            self.require_namespace(namespace)
        token = new_token()
        digest = token_hash(token)
        key = ApiKey(key_id_of(digest), scope, namespace, name, time.time_ns())
        self._run(f"INSERT INTO {{p}}api_keys ({_KEY_COLUMNS}, key_hash) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?)",
                  (key.key_id, scope, namespace, name, key.created_at_ns, None, digest))
        return token, key

    def find_key(self, token: str) -> ApiKey | None:
        """The live key with this secret, or None (unknown or revoked)."""
        rows = self._all(f"SELECT {_KEY_COLUMNS} FROM {{p}}api_keys "
                         "WHERE key_hash = ? AND revoked_at_ns IS NULL", (token_hash(token),))
        return _key(rows[0]) if rows else None

    def list_keys(self) -> list[ApiKey]:
        rows = self._all(f"SELECT {_KEY_COLUMNS} FROM {{p}}api_keys "
                         "ORDER BY created_at_ns, key_id")
        return [_key(r) for r in rows]

    def revoke_key(self, key_id: str) -> ApiKey:
        self._run("UPDATE {p}api_keys SET revoked_at_ns = ? "
                  "WHERE key_id = ? AND revoked_at_ns IS NULL", (time.time_ns(), key_id))
        rows = self._all(f"SELECT {_KEY_COLUMNS} FROM {{p}}api_keys WHERE key_id = ?",
                         (key_id,))
        if not rows:
            raise NotFound(f"no key {key_id!r}")
        return _key(rows[0])
