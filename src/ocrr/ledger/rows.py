"""One entry as one SQL row, for the SQLite and PostgreSQL stores.

Why columns and not one blob: an auditor can read the ledger with ``sqlite3`` or ``psql``
(labels, times, provenance as JSON) and the Merkle tree reads the ``entry_hash`` column alone.
Every column is either hashed (re-checked by ``verify``) or derived from hashed ones and
cross-checked on read (``key_id``), so a change to any stored byte is caught.

Decoding never raises: a row whose bytes were altered into something that is not an entry
(invalid UTF-8, broken JSON, wrong types) decodes to :class:`CorruptRow` naming its sequence
number, so verification reports it like any other mismatch.
"""

from __future__ import annotations

import json
from types import MappingProxyType

import numpy as np

from ocrr.ledger.entry import SEALED_BLOB, SEALED_KEY, Entry
from ocrr.ledger.store import CorruptRow

COLUMNS = (
    "seq",
    "created_at_ns",
    "kind",
    "label",
    "vector",
    "text",
    "provenance",
    "prev_hash",
    "entry_hash",
    "key_id",
)

Row = tuple[int, int, str, str, bytes, "str | None", str, bytes, bytes, "str | None"]


def provenance_json(provenance: object) -> str:
    return json.dumps(dict(provenance), ensure_ascii=False, sort_keys=True,  # type: ignore
                      separators=(",", ":"))


def encode(entry: Entry) -> Row:
    """The row of an entry's stored form (sealed entries without their plaintext)."""
    stored = entry.stored()
    return (
        stored.seq,
        stored.created_at_ns,
        stored.kind,
        stored.label,
        stored.vector.tobytes(),
        stored.text,
        provenance_json(stored.provenance),
        stored.prev_hash,
        stored.entry_hash,
        stored.provenance.get(SEALED_KEY) if SEALED_BLOB in stored.provenance else None,
    )


def _text(value: object) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8")
    if isinstance(value, str):
        return value
    raise TypeError(f"expected text, found {type(value).__name__}")


def _bytes(value: object) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"expected bytes, found {type(value).__name__}")


def decode(row: tuple) -> Entry | CorruptRow:
    """An entry from a row in :data:`COLUMNS` order, or :class:`CorruptRow`."""
    seq = row[0]
    try:
        if not isinstance(row[1], int):
            raise TypeError("created_at_ns is not an integer")
        vector_bytes = _bytes(row[4])
        if len(vector_bytes) % 4:
            raise ValueError("the vector's length is not a multiple of 4 bytes")
        provenance = json.loads(_text(row[6]))
        if not isinstance(provenance, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in provenance.items()
        ):
            raise ValueError("provenance is not a JSON object of strings")
        key_id = row[9]
        expected = provenance.get(SEALED_KEY) if SEALED_BLOB in provenance else None
        if key_id != expected:
            raise ValueError("the key_id column does not match the entry's sealed key")
        vector = np.frombuffer(vector_bytes, dtype="<f4")
        return Entry(
            seq,
            row[1],
            _text(row[2]),
            _text(row[3]),
            vector,
            None if row[5] is None else _text(row[5]),
            MappingProxyType(provenance),
            _bytes(row[7]),
            _bytes(row[8]),
        )
    except (TypeError, ValueError, UnicodeDecodeError) as err:
        return CorruptRow(seq if isinstance(seq, int) else -1, f"row does not decode: {err}")
