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

import numpy as np

from ocrr.ledger.entry import SEALED_BLOB, SEALED_KEY, Entry, Provenance
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
    if value.__class__ is bytes:
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"expected bytes, found {type(value).__name__}")


# Opening a ledger decodes every row; most rows repeat a few kinds, labels and provenances,
# so their decoded (immutable) values are shared rather than decoded again.
_CACHE_LIMIT = 65_536
_CACHEABLE = 512  # bytes: sealed provenance (ciphertext) is unique per row, never cached
_texts: dict[object, str] = {}
_provenances: dict[object, Provenance] = {}


def _cached_text(raw: object) -> str:
    found = _texts.get(raw)
    if found is None:
        found = _text(raw)
        if len(_texts) < _CACHE_LIMIT and len(found) < _CACHEABLE:
            _texts[raw] = found
    return found


def _provenance(raw: object) -> Provenance:
    found = _provenances.get(raw)
    if found is not None:
        return found
    provenance = json.loads(_text(raw))
    if not isinstance(provenance, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in provenance.items()
    ):
        raise ValueError("provenance is not a JSON object of strings")
    found = Provenance(provenance)
    if len(_provenances) < _CACHE_LIMIT and len(raw) < _CACHEABLE:  # type: ignore[arg-type]
        _provenances[raw] = found
    return found


def decode(row: tuple) -> Entry | CorruptRow:
    """An entry from a row in :data:`COLUMNS` order, or :class:`CorruptRow`."""
    seq, created, kind, label, vector_bytes, text, raw_provenance, prev, digest, key_id = row
    try:
        if not isinstance(created, int):
            raise TypeError("created_at_ns is not an integer")
        if vector_bytes.__class__ is not bytes:
            vector_bytes = _bytes(vector_bytes)
        if len(vector_bytes) % 4:
            raise ValueError("the vector's length is not a multiple of 4 bytes")
        provenance = _provenance(raw_provenance)
        expected = provenance.get(SEALED_KEY) if SEALED_BLOB in provenance else None
        if key_id != expected:
            raise ValueError("the key_id column does not match the entry's sealed key")
        return Entry(
            seq,
            created,
            _cached_text(kind),
            _cached_text(label),
            np.frombuffer(vector_bytes, dtype="<f4"),
            None if text is None else _text(text),
            provenance,
            prev if prev.__class__ is bytes else _bytes(prev),
            digest if digest.__class__ is bytes else _bytes(digest),
        )
    except (TypeError, ValueError, UnicodeDecodeError) as err:
        return CorruptRow(seq if isinstance(seq, int) else -1, f"row does not decode: {err}")
