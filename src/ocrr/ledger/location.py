"""From a location string to a store: the one place that knows the URL forms.

Why one function: the CLI, ``Ledger.open`` and ``Substrate.open`` all take "where the ledger
lives" from users, so they should all read it the same way.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ocrr.ledger.memory import MemoryStore
from ocrr.ledger.store import EntryStore

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

POSTGRES_PREFIXES = ("postgresql://", "postgres://")


def is_postgres(where: str) -> bool:
    return where.startswith(POSTGRES_PREFIXES)


def open_store(where: str | os.PathLike[str], *, create: bool = True,
               signer: Ed25519PrivateKey | None = None) -> EntryStore:
    """``":memory:"``, a ``postgresql://`` (or ``postgres://``) URL, or a SQLite file path
    (``sqlite:///`` prefix optional). ``create=False`` refuses a path with no ledger;
    ``signer`` signs every head record a durable store writes."""
    text = os.fspath(where)
    if text == ":memory:":
        return MemoryStore()
    if is_postgres(text):
        from ocrr.ledger.postgres import PostgresStore

        return PostgresStore(text, create=create, signer=signer)
    if text.startswith("sqlite:///"):
        text = text[len("sqlite:///") - 1 :] if text.startswith("sqlite:////") else text[10:]
    from ocrr.ledger.sqlite import SQLiteStore

    return SQLiteStore(text, create=create, signer=signer)
