"""The append-only, SHA-256 hash-chained ledger: the classifier's whole state."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ocrr.ledger.entry import (
    GENESIS_HASH,
    Entry,
    canonical_bytes,
    frozen_provenance,
)

MAX_LABEL_CHARS = 256
MAX_TEXT_CHARS = 20_000
EXAMPLE = "example"
"""A labelled vector: the only kind that votes."""
REVOCATION = "revocation"
"""Withdraws an earlier example (``provenance["revokes"]`` = its sequence number) from
voting and from derived statistics; the example itself stays in the ledger for audit."""
ENTRY_KINDS = (EXAMPLE, REVOCATION)


class LedgerError(ValueError):
    """An append was refused; nothing was written."""


class EntryStore(Protocol):
    """Where entries live. The ledger owns hashing and validation; a store only keeps order.

    This issue ships :class:`MemoryStore`; on-disk stores implement the same four methods.
    """

    def append(self, entry: Entry) -> None: ...
    def __len__(self) -> int: ...
    def __getitem__(self, seq: int) -> Entry: ...
    def __iter__(self) -> Iterator[Entry]: ...


class MemoryStore:
    """Entries in a Python list (the test suite tampers with ``entries`` directly)."""

    def __init__(self) -> None:
        self.entries: list[Entry] = []

    def append(self, entry: Entry) -> None:
        self.entries.append(entry)

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, seq: int) -> Entry:
        return self.entries[seq]

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries)


@dataclass(frozen=True)
class ChainHead:
    """What a caller keeps to detect later truncation or rewriting: size and last hash."""

    size: int
    entry_hash: bytes

    def hex(self) -> str:
        return self.entry_hash.hex()


@dataclass(frozen=True)
class Verification:
    ok: bool
    size: int
    first_bad_seq: int | None = None
    reason: str = ""

    def __bool__(self) -> bool:
        return self.ok


class Ledger:
    """Append-only sequence of hashed entries; each entry's ``prev_hash`` is its predecessor's.

    The vector dimension is fixed by the first append. Appends validate everything before
    touching the store, so a refused append leaves the ledger unchanged.
    """

    def __init__(self, store: EntryStore | None = None) -> None:
        self._store: EntryStore = store if store is not None else MemoryStore()
        self._dim: int | None = None
        self._head_hash = GENESIS_HASH
        self._nbytes = 0
        for entry in self._store:
            if entry.kind == EXAMPLE:
                self._dim = self._dim or int(entry.vector.shape[0])
            self._head_hash = entry.entry_hash
            self._nbytes += len(entry.canonical()) + len(entry.entry_hash)

    # -- reading -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._store)

    def __getitem__(self, seq: int) -> Entry:
        if not 0 <= seq < len(self._store):
            raise IndexError(f"no entry with sequence number {seq} (ledger has {len(self)})")
        return self._store[seq]

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._store)

    @property
    def dim(self) -> int | None:
        return self._dim

    @property
    def nbytes(self) -> int:
        """Total canonical bytes of all entries, hashes included: the ledger's storage."""
        return self._nbytes

    def head(self) -> ChainHead:
        return ChainHead(len(self._store), self._head_hash)

    # -- writing -------------------------------------------------------------------------
    def append(
        self,
        label: str,
        vector: Sequence[float] | np.ndarray | None,
        *,
        text: str | None = None,
        provenance: Mapping[str, str] | None = None,
        kind: str = EXAMPLE,
    ) -> Entry:
        """Validate, hash and append one entry; return it.

        Examples carry a vector of the ledger's dimension; other kinds (revocations) carry
        none and are hashed with an empty vector.
        """
        if kind not in ENTRY_KINDS:
            raise LedgerError(f"unknown entry kind {kind!r}; valid: {', '.join(ENTRY_KINDS)}")
        if kind == EXAMPLE:
            vec = self._validated_vector(vector)
        elif vector is None or np.size(vector) == 0:
            vec = _NO_VECTOR
        else:
            raise LedgerError(f"a {kind} entry carries no vector")
        _check_string("label", label, MAX_LABEL_CHARS)
        if text is not None:
            _check_string("text", text, MAX_TEXT_CHARS)
        prov = frozen_provenance(provenance)
        for key, value in prov.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise LedgerError(f"provenance must map str to str, got {key!r}: {value!r}")
        seq = len(self._store)
        created = time.time_ns()
        body = canonical_bytes(
            seq=seq,
            created_at_ns=created,
            kind=kind,
            label=label,
            vector_bytes=vec.tobytes(),
            text=text,
            provenance=prov,
            prev_hash=self._head_hash,
        )
        digest = hashlib.sha256(body).digest()
        entry = Entry(seq, created, kind, label, vec, text, prov, self._head_hash, digest)
        self._store.append(entry)
        if kind == EXAMPLE:
            self._dim = vec.shape[0]
        self._head_hash = digest
        self._nbytes += len(body) + len(digest)
        return entry

    def _validated_vector(self, vector: Sequence[float] | np.ndarray | None) -> np.ndarray:
        if vector is None:
            raise LedgerError("an example entry needs a vector")
        try:
            vec = np.array(vector, dtype="<f4")
        except (TypeError, ValueError) as err:
            raise LedgerError(f"vector is not numeric: {err}") from None
        if vec.ndim != 1 or vec.shape[0] == 0:
            raise LedgerError(f"vector must be 1-D and non-empty, got shape {vec.shape}")
        if self._dim is not None and vec.shape[0] != self._dim:
            raise LedgerError(f"vector has dimension {vec.shape[0]}, ledger has {self._dim}")
        if not np.isfinite(np.dot(vec, vec)):  # one pass; NaN/inf anywhere propagates
            if not np.isfinite(vec).all():
                raise LedgerError("vector contains NaN or infinity")
            raise LedgerError("vector is too large: its squared norm overflows float32")
        vec.flags.writeable = False
        return vec

    # -- auditing ------------------------------------------------------------------------
    def verify(self, head: ChainHead | None = None) -> Verification:
        """Re-hash every entry and walk the chain; report the first bad sequence number.

        A mutated field breaks that entry's own hash; a deleted, reordered or inserted entry
        shows up as a sequence number or ``prev_hash`` out of place. A truncated tail leaves a
        valid shorter chain, so it is only detectable against a ``head`` kept earlier.
        """
        prev = GENESIS_HASH
        size = len(self._store)
        for position, entry in enumerate(self._store):
            if entry.seq != position:
                return Verification(
                    False,
                    size,
                    position,
                    f"position {position} holds sequence number {entry.seq}",
                )
            if entry.prev_hash != prev:
                return Verification(
                    False,
                    size,
                    position,
                    f"entry {position}: prev_hash does not match entry {position - 1}'s hash",
                )
            if entry.compute_hash() != entry.entry_hash:
                return Verification(
                    False, size, position, f"entry {position}: contents do not match its hash"
                )
            prev = entry.entry_hash
        if head is not None:
            if size < head.size:
                return Verification(
                    False,
                    size,
                    size,
                    f"ledger truncated: {size} entries, the kept head has {head.size}",
                )
            if head.size > 0 and self._store[head.size - 1].entry_hash != head.entry_hash:
                return Verification(
                    False,
                    size,
                    head.size - 1,
                    f"entry {head.size - 1} differs from the kept head's hash",
                )
        return Verification(True, size)


_NO_VECTOR = np.zeros(0, dtype="<f4")
_NO_VECTOR.flags.writeable = False


def _check_string(name: str, value: object, max_chars: int) -> None:
    if not isinstance(value, str):
        raise LedgerError(f"{name} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise LedgerError(f"{name} must not be empty")
    if len(value) > max_chars:
        raise LedgerError(f"{name} is {len(value)} characters; the limit is {max_chars}")
