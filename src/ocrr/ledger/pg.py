"""What the PostgreSQL ledger store and key store share: the driver, one connection, the
rule for schema names and how a subject key is destroyed.

Both :class:`~ocrr.ledger.postgres.PostgresStore` and
:class:`~ocrr.ledger.keystores.PostgresKeys` hold one autocommit connection behind a lock
(:class:`PgConnection`), and destroy a key the same way (:func:`destroy_keys`): overwrite it
with zeros, then delete the row, in the caller's transaction; ``VACUUM FULL`` afterwards
rewrites the table without the dead rows.

Needs the ``psycopg`` driver: ``pip install 'ocrr[postgres]'``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any


def import_psycopg() -> Any:
    """The ``psycopg`` module, or an ImportError that says how to install it."""
    try:
        import psycopg
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "PostgreSQL ledgers need the psycopg driver: pip install 'ocrr[postgres]'"
        ) from err
    return psycopg


def check_schema(schema: str | None) -> None:
    """Refuse a schema name that could not be quoted safely into SQL.

    >>> check_schema("ledger_2"); check_schema(None)
    >>> check_schema('x"; DROP')
    Traceback (most recent call last):
    ...
    ValueError: schema name 'x"; DROP': use letters, digits and _
    """
    if schema is not None and not schema.replace("_", "").isalnum():
        raise ValueError(f"schema name {schema!r}: use letters, digits and _")


def qualified(schema: str | None, **tables: str) -> dict[str, str]:
    """Each table's name as SQL names it: inside ``schema`` (quoted; a name
    :func:`check_schema` let through), or as it is on the search path without one.

    >>> qualified("ledger_2", keys="subject_keys"), qualified(None, keys="subject_keys")
    ({'keys': '"ledger_2".subject_keys'}, {'keys': 'subject_keys'})
    """
    prefix = "" if schema is None else f'"{schema}".'
    return {field: prefix + name for field, name in tables.items()}


def destroy_keys(cur: Any, table: str, key_ids: Iterable[str]) -> None:
    """Overwrite each key in ``table`` with zeros and delete its row, with cursor ``cur``."""
    for key_id in key_ids:
        cur.execute(f"UPDATE {table} SET key = %s, subject = key_id WHERE key_id = %s",
                    (bytes(32), key_id))
        cur.execute(f"DELETE FROM {table} WHERE key_id = %s", (key_id,))


class PgConnection:
    """One autocommit connection to ``dsn`` behind a lock, closed once.

    Parameters
    ----------
    dsn : str
        The server's connection string (``postgresql://...``).
    setup : callable
        Run once connected (create or check the tables); if it raises, the connection is
        closed and the error goes on.

    Examples
    --------
    Connecting needs a server; both PostgreSQL stores are such connections:

    >>> from ocrr.ledger.keystores import PostgresKeys
    >>> from ocrr.ledger.postgres import PostgresStore
    >>> issubclass(PostgresStore, PgConnection), issubclass(PostgresKeys, PgConnection)
    (True, True)
    """

    def __init__(self, dsn: str, setup: Callable[[], None]) -> None:
        self._lock = threading.RLock()
        self._conn = import_psycopg().connect(dsn, autocommit=True)
        try:
            setup()
        except BaseException:
            self._conn.close()
            raise

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
