"""From a location string to a store: the one place that knows the URL forms.

Why one function: the CLI, ``Ledger.open`` and ``Substrate.open`` all take "where the ledger
lives" from users, so they should all read it the same way; ``keys`` names a separate key
store in the same forms (:mod:`ocrr.ledger.split`).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ocrr.errors import LedgerMissingError
from ocrr.ledger.keys import KeyStore, MemoryKeys
from ocrr.ledger.memory import MemoryStore
from ocrr.ledger.store import EntryStore

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

POSTGRES_PREFIXES = ("postgresql://", "postgres://")


def is_postgres(where: str) -> bool:
    return where.startswith(POSTGRES_PREFIXES)


def sqlite_path(text: str) -> str:
    """A SQLite location without its optional ``sqlite:///`` prefix.

    >>> sqlite_path("sqlite:///data/ns.db"), sqlite_path("sqlite:////abs/ns.db")
    ('data/ns.db', '/abs/ns.db')
    """
    return text[len("sqlite:///"):] if text.startswith("sqlite:///") else text


def open_store(where: str | os.PathLike[str], *, create: bool = True,
               signer: Ed25519PrivateKey | None = None,
               keys: str | os.PathLike[str] | None = None,
               read_only: bool = False) -> EntryStore:
    """``":memory:"``, a ``postgresql://`` (or ``postgres://``) URL, or a SQLite file path
    (``sqlite:///`` prefix optional). ``create=False`` refuses a path with no ledger;
    ``signer`` signs every head record a durable store writes. ``keys`` keeps the subject
    keys in a separate key store (same forms); without it, a ledger whose keys were kept
    apart is refused, unless opened ``read_only``."""
    text = os.fspath(where)
    store: EntryStore
    if text == ":memory:":
        store = MemoryStore()
    elif is_postgres(text):
        from ocrr.ledger.postgres import PostgresStore

        store = PostgresStore(text, create=create, signer=signer)
    else:
        from ocrr.ledger.sqlite import SQLiteStore

        store = SQLiteStore(sqlite_path(text), create=create, signer=signer)
    return with_keys(store, keys, read_only=read_only)


def with_keys(store: EntryStore, keys: str | os.PathLike[str] | None, *,
              read_only: bool = False) -> EntryStore:
    """``store`` with its subject keys in the key store at ``keys`` (None: beside its
    entries, refused for a ledger whose keys are kept apart unless ``read_only``). A key
    store is made only for a ledger that never kept its keys apart. ``store`` is closed
    if this raises."""
    from ocrr.ledger.split import SplitStore, binding, refuse_if_split

    if keys is None:
        if not read_only:
            refuse_if_split(store)  # closes it
        return store
    try:
        key_store = open_keys(keys, create=binding(store) is None and not read_only)
        return SplitStore(store, key_store, read_only=read_only)
    except LedgerMissingError as err:
        store.close()
        raise LedgerMissingError(repr(store), None, f"its key store {err.where}: "
                                 f"{err.reason}") from None
    except BaseException:
        store.close()
        raise


def open_keys(where: str | os.PathLike[str], *, create: bool = True) -> KeyStore:
    """A key store by location, read as a ledger's is: ``":memory:"``, a ``postgresql://``
    (or ``postgres://``) URL, or a SQLite file path (``sqlite:///`` prefix optional)."""
    text = os.fspath(where)
    if text == ":memory:":
        return MemoryKeys()
    if is_postgres(text):
        from ocrr.ledger.keystores import PostgresKeys

        return PostgresKeys(text, create=create)
    from ocrr.ledger.keystores import SQLiteKeys

    return SQLiteKeys(sqlite_path(text), create=create)
