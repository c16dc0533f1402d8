"""One ledger entry and the canonical bytes its hash covers.

The hash must be reproducible by anyone, in any language, from the stored fields alone, so
the encoding is a fixed binary layout (little-endian integers, length-prefixed UTF-8, the
vector as raw little-endian float32) rather than JSON, whose float formatting varies.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NoReturn

import numpy as np

GENESIS_HASH = bytes(32)
"""The ``prev_hash`` of entry 0."""

SEALED_KEY = "ocrr.key"
SEALED_BLOB = "ocrr.sealed"
"""A sealed entry (one about a subject, see :mod:`ocrr.ledger.sealing`) is stored and hashed
with no vector, no text and exactly these two provenance keys: the subject key's id and the
base64 ciphertext of the vector, text and provenance. Keys starting ``ocrr.`` are reserved."""
RESERVED_PREFIX = "ocrr."

EXAMPLE = "example"
"""A labelled vector: the only kind that votes."""
REVOCATION = "revocation"
"""Withdraws an earlier example (``provenance["revokes"]`` = its sequence number) from
voting and from derived statistics; the example itself stays in the ledger for audit."""
ERASURE = "erasure"
"""The tombstone of an erased subject: ``provenance["erases"]`` is the destroyed key's id and
``provenance["seqs"]`` the comma-separated sequence numbers sealed under it, which leave the
index and every derived statistic. Appended only by :meth:`Ledger.erase`."""
RELABEL = "relabel"
"""Renames a label: ``provenance["from"]`` is the old label, ``label`` the new one. From then
on every example taught under the old label votes under the new one (joining the new label's
class if it already has examples); the examples themselves are unchanged, so the history
stays auditable. Carries no vector."""
RETIRE = "retire"
"""Retires a label (``label``): every example taught under it until now stops voting and
leaves the derived statistics, as a revocation of each would, in one entry. Used when the
taxonomy is refined (an intent split in two): the coarse class must go while corrections
teach the fine ones. A later correction under the same label teaches a new class. Carries
no vector."""
ENTRY_KINDS = (EXAMPLE, REVOCATION, ERASURE, RELABEL, RETIRE)

ENCODING_VERSION = b"OCRR-ENTRY\x01"

_HEADER = struct.Struct("<Qq")  # seq, created_at_ns
_LEN = struct.Struct("<I")


# Most encoded strings repeat (kinds, labels, provenance keys and values): their encodings are
# kept, so an append encodes only what is new. Long strings (texts) are encoded each time.
_FIELDS: dict[str, bytes] = {}
_FIELDS_LIMIT = 8_192
_FIELD_CACHEABLE = 128  # characters


def _text_field(value: str | None) -> bytes:
    """Length-prefixed UTF-8; ``None`` is distinct from the empty string."""
    if value is None:
        return b"\x00"
    found = _FIELDS.get(value)
    if found is None:
        data = value.encode("utf-8")
        found = b"\x01" + _LEN.pack(len(data)) + data
        if len(value) <= _FIELD_CACHEABLE and len(_FIELDS) < _FIELDS_LIMIT:
            _FIELDS[value] = found
    return found


def canonical_provenance(provenance: Mapping[str, str]) -> bytes:
    """Pair count, then each (key, value) sorted by key, both length-prefixed UTF-8."""
    parts = [_LEN.pack(len(provenance))]
    for key in sorted(provenance):
        parts.append(_text_field(key))
        parts.append(_text_field(provenance[key]))
    return b"".join(parts)


def canonical_bytes(
    *,
    seq: int,
    created_at_ns: int,
    kind: str,
    label: str,
    vector_bytes: bytes,
    text: str | None,
    provenance: Mapping[str, str],
    prev_hash: bytes,
) -> bytes:
    """The exact bytes ``entry_hash`` is the SHA-256 of (documented in docs/architecture.md)."""
    prov = canonical_provenance(provenance)
    return b"".join(
        (
            ENCODING_VERSION,
            _HEADER.pack(seq, created_at_ns),
            _text_field(kind),
            _text_field(label),
            _LEN.pack(len(vector_bytes) // 4),
            vector_bytes,
            _text_field(text),
            prov,
            prev_hash,
        )
    )


@dataclass(frozen=True, slots=True)
class Sealed:
    """How a sealed entry is stored: the subject key's id and the base64 ciphertext."""

    key_id: str
    ciphertext: str
    readable: bool
    """Whether the entry's plaintext fields hold the decrypted contents (False once the
    subject is erased, or where the key store does not hold the key)."""

    def provenance(self) -> Mapping[str, str]:
        return {SEALED_KEY: self.key_id, SEALED_BLOB: self.ciphertext}


@dataclass(frozen=True, slots=True)
class Entry:
    """An immutable ledger record.

    ``kind`` is ``"example"`` for a labelled vector (what votes). Later entry kinds
    (revocations, tombstones, relabels) reuse the same hashed layout.

    A *sealed* entry (``sealed`` is set) is hashed in its stored form (see ``SEALED_KEY``):
    its ``vector``, ``text`` and ``provenance`` fields are the decrypted plaintext when the
    key is at hand, and empty once the subject is erased (``readable`` is then False).

    Examples
    --------
    A ledger makes entries; each one's ``prev_hash`` is its predecessor's ``entry_hash``:

    >>> import numpy as np
    >>> from ocrr.ledger import Ledger
    >>> ledger = Ledger()
    >>> first = ledger.append("card_arrival", np.ones(4), text="where is my card?")
    >>> second = ledger.append("exchange_rate", -np.ones(4))
    >>> second.seq, second.kind, second.prev_hash == first.entry_hash, second.readable
    (1, 'example', True, True)
    >>> first.vector  # stored as given, in float32 (the substrate normalises before)
    array([1., 1., 1., 1.], dtype=float32)
    """

    seq: int
    created_at_ns: int
    kind: str
    label: str
    vector: np.ndarray = field(repr=False)
    text: str | None
    provenance: Mapping[str, str]
    prev_hash: bytes = field(repr=False)
    entry_hash: bytes
    sealed: Sealed | None = field(default=None, repr=False, compare=False)

    @property
    def readable(self) -> bool:
        """False only for a sealed entry whose key is gone: its contents are unrecoverable."""
        return self.sealed is None or self.sealed.readable

    @property
    def key_id(self) -> str | None:
        """The subject key a sealed entry is encrypted under (None if not sealed)."""
        return None if self.sealed is None else self.sealed.key_id

    def stored(self) -> Entry:
        """The entry as stores keep it and hashes cover it: sealed ones without plaintext."""
        if self.sealed is None:
            return self
        return Entry(
            self.seq,
            self.created_at_ns,
            self.kind,
            self.label,
            NO_VECTOR,
            None,
            Provenance(self.sealed.provenance()),
            self.prev_hash,
            self.entry_hash,
        )

    @property
    def source(self) -> str | None:
        return self.provenance.get("source")

    @property
    def actor(self) -> str | None:
        return self.provenance.get("actor")

    def canonical(self) -> bytes:
        if self.sealed is not None:
            return canonical_bytes(
                seq=self.seq,
                created_at_ns=self.created_at_ns,
                kind=self.kind,
                label=self.label,
                vector_bytes=b"",
                text=None,
                provenance=self.sealed.provenance(),
                prev_hash=self.prev_hash,
            )
        return canonical_bytes(
            seq=self.seq,
            created_at_ns=self.created_at_ns,
            kind=self.kind,
            label=self.label,
            vector_bytes=vector_le_bytes(self.vector),
            text=self.text,
            provenance=self.provenance,
            prev_hash=self.prev_hash,
        )

    def compute_hash(self) -> bytes:
        """Recompute the hash from the fields, as a verifier does."""
        return hashlib.sha256(self.canonical()).digest()

    @property
    def nbytes(self) -> int:
        """Bytes this entry occupies in its canonical form, plus its own hash."""
        return len(self.canonical()) + len(self.entry_hash)


def vector_le_bytes(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, dtype="<f4").tobytes()


NO_VECTOR = np.zeros(0, dtype="<f4")
NO_VECTOR.flags.writeable = False


class Provenance(dict[str, str]):
    """An entry's provenance: a read-only ``str -> str`` mapping that pickles.

    Why not :class:`types.MappingProxyType`: a proxy cannot be pickled, and the benchmark
    ships fitted substrates (their ledgers' entries) to worker processes. This is a ``dict``
    whose mutating methods raise ``TypeError``, as a proxy's do, so reads stay as fast as a
    dict's and the canonical bytes (hence every hash) are those of the same pairs.

    Examples
    --------
    >>> import pickle
    >>> provenance = Provenance({"source": "correction", "actor": "agent-7"})
    >>> provenance["source"]
    'correction'
    >>> provenance["actor"] = "mallory"
    Traceback (most recent call last):
    ...
    TypeError: an entry's provenance is read-only
    >>> pickle.loads(pickle.dumps(provenance)) == provenance
    True
    >>> canonical_provenance(provenance) == canonical_provenance(dict(provenance))
    True
    """

    __slots__ = ()

    def _read_only(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError("an entry's provenance is read-only")

    __setitem__ = __delitem__ = __ior__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only

    def __reduce__(self) -> tuple[type[Provenance], tuple[dict[str, str]]]:
        return Provenance, (dict(self),)

    def __repr__(self) -> str:
        return f"Provenance({dict.__repr__(self)})"


def frozen_provenance(
    provenance: Mapping[str, str] | Iterable[tuple[str, str]] | None,
) -> Provenance:
    """``provenance`` as an entry keeps it: a read-only copy (empty for ``None``)."""
    return Provenance(provenance or {})
