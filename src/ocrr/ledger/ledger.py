"""The append-only, SHA-256 hash-chained ledger: the classifier's whole state."""

from __future__ import annotations

import hashlib
import os
import struct
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from ocrr.ledger import sealing
from ocrr.ledger.entry import (
    GENESIS_HASH,
    NO_VECTOR,
    RESERVED_PREFIX,
    SEALED_BLOB,
    SEALED_KEY,
    Entry,
    Sealed,
    canonical_bytes,
    frozen_provenance,
)
from ocrr.ledger.keys import MAX_SUBJECT_CHARS, MemoryKeys, SubjectKey
from ocrr.ledger.merkle import (
    ConsistencyProof,
    InclusionProof,
    MerkleTree,
    leaf_hash,
)
from ocrr.ledger.signing import SignedTreeHead, TreeHead, sign_head
from ocrr.ledger.store import Batch, CorruptLedgerError, CorruptRow, Tip, WriteView

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAX_LABEL_CHARS = 256
MAX_TEXT_CHARS = 20_000
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


class LedgerError(ValueError):
    """An append was refused; nothing was written."""


class EntryStore(Protocol):
    """Where entries live. The ledger owns hashing and validation; a store only keeps order.

    :class:`MemoryStore` implements these four methods; the durable stores
    (:class:`~ocrr.ledger.sqlite.SQLiteStore`, :class:`~ocrr.ledger.postgres.PostgresStore`)
    implement :class:`~ocrr.ledger.store.DurableStore` as well.
    """

    def append(self, entry: Entry) -> None: ...
    def __len__(self) -> int: ...
    def __getitem__(self, seq: int) -> Entry: ...
    def __iter__(self) -> Iterator[Entry]: ...


class MemoryStore:
    """Entries in a Python list (the test suite tampers with ``entries`` directly), and
    subject keys in memory. Sealed entries are kept in their stored form, so erasing a
    subject leaves no plaintext here either."""

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self.subject_keys = MemoryKeys()

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


# (kind, label, vector, text, provenance, subject): an append validated, not yet numbered
_Pending = tuple[str, str, np.ndarray, "str | None", Mapping[str, str], "str | None"]


class _LocalView:
    """The write view of a store this ledger alone writes (memory, or a plain store)."""

    def __init__(self, ledger: Ledger) -> None:
        self.tip = Tip(len(ledger._store), ledger._head_hash)
        self.dim = ledger._dim
        self._store = ledger._store
        self._keys: MemoryKeys | None = getattr(ledger._store, "subject_keys", None)

    def find_key(self, subject: str) -> SubjectKey | None:
        if self._keys is None:
            raise LedgerError(
                f"{type(self._store).__name__} keeps no subject keys; use MemoryStore, "
                "SQLiteStore or PostgresStore to record entries about a subject"
            )
        return self._keys.find(subject)

    def seqs_for_key(self, key_id: str) -> list[int]:
        return [e.seq for e in self._store if e.provenance.get(SEALED_KEY) == key_id]


class Ledger:
    """Append-only sequence of hashed entries; each entry's ``prev_hash`` is its predecessor's.

    The vector dimension is fixed by the first append. Appends validate everything before
    touching the store, so a refused append leaves the ledger unchanged.

    The store is the caller's choice: in memory (default), ``Ledger.open("path.db")`` for
    SQLite, ``Ledger.open("postgresql://...")`` for PostgreSQL. On a durable store each
    append (or :meth:`append_many` batch) is one transaction, durable when the call returns.
    """

    def __init__(self, store: EntryStore | None = None) -> None:
        self._store: EntryStore = store if store is not None else MemoryStore()
        self._durable = hasattr(self._store, "write") and hasattr(self._store, "tip")
        self._dim: int | None = None
        self._head_hash = GENESIS_HASH
        self._nbytes: int | None = 0
        self._ciphers: dict[str, AESGCM] = {}
        self._key_bytes: dict[str, bytes] = {}
        self._foreign: list[int] = []
        self._tree = MerkleTree()
        if self._durable:
            tip = self._store.tip()  # type: ignore[attr-defined]
            self._size = tip.size
            self._head_hash = tip.head_hash
            self._dim = self._store.dim()  # type: ignore[attr-defined]
            self._nbytes = None  # counted on first use: opening must not read every entry
            # one query for all live keys (ciphers are made on first use)
            self._key_bytes = self._store.live_keys()  # type: ignore[attr-defined]
            return
        for entry in self._store:
            if entry.kind == EXAMPLE and entry.vector.shape[0]:
                self._dim = self._dim or int(entry.vector.shape[0])
            self._head_hash = entry.entry_hash
            self._nbytes += len(entry.canonical()) + len(entry.entry_hash)

    @classmethod
    def open(cls, where: str | os.PathLike[str], *, create: bool = True) -> Ledger:
        """A ledger on a SQLite file path, a ``postgresql://`` URL, or ``":memory:"``."""
        from ocrr.ledger.location import open_store

        return cls(open_store(where, create=create))

    @property
    def store(self) -> EntryStore:
        return self._store

    def close(self) -> None:
        close = getattr(self._store, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading -------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._size if self._durable else len(self._store)

    def __getitem__(self, seq: int) -> Entry:
        if not 0 <= seq < len(self):
            raise IndexError(f"no entry with sequence number {seq} (ledger has {len(self)})")
        return self._reveal(self._store[seq])

    def __iter__(self) -> Iterator[Entry]:
        """Entries in order, sealed ones decrypted where their key is at hand."""
        if not self._durable:
            for entry in self._store:
                yield self._reveal(entry)
            return
        reveal = self._reveal
        for entry in self._store.read(0, self._size):  # type: ignore[attr-defined]
            if entry.__class__ is CorruptRow:
                raise CorruptLedgerError(entry)  # type: ignore[arg-type]
            yield reveal(entry) if SEALED_BLOB in entry.provenance else entry

    @property
    def dim(self) -> int | None:
        return self._dim

    @property
    def nbytes(self) -> int:
        """Total canonical bytes of all entries, hashes included: the ledger's storage."""
        if self._nbytes is None:  # a durable store: count the stored forms once
            stored = self._store.read(0, self._size)  # type: ignore[attr-defined]
            self._nbytes = sum(len(e.canonical()) + len(e.entry_hash) for e in stored
                               if isinstance(e, Entry))
        return self._nbytes

    def head(self) -> ChainHead:
        return ChainHead(len(self), self._head_hash)

    def _reveal(self, entry: Entry) -> Entry:
        """A stored entry as readers want it: a sealed one opened if its key is here."""
        ciphertext = entry.provenance.get(SEALED_BLOB)
        if ciphertext is None:
            return entry
        key_id = entry.provenance.get(SEALED_KEY, "")
        aead = self._cipher(key_id)
        opened = None
        if aead is not None:
            opened = sealing.unseal(
                aead, key_id, ciphertext, seq=entry.seq, kind=entry.kind, label=entry.label
            )
        if opened is None:
            vector, text, provenance = NO_VECTOR, None, {}
        else:
            vector, text, provenance = opened
        return Entry(
            entry.seq,
            entry.created_at_ns,
            entry.kind,
            entry.label,
            vector,
            text,
            frozen_provenance(provenance),
            entry.prev_hash,
            entry.entry_hash,
            Sealed(key_id, ciphertext, opened is not None),
        )

    def _cipher(self, key_id: str) -> AESGCM | None:
        aead = self._ciphers.get(key_id)
        if aead is not None:
            return aead
        keys = getattr(self._store, "subject_keys", None)
        if keys is not None:
            key = keys.get(key_id)
        elif key_id in self._key_bytes:
            key = self._key_bytes.pop(key_id)
        elif self._durable:
            key = self._store.key(key_id)  # type: ignore[attr-defined]
        else:
            key = None
        if key is None:
            return None
        aead = self._ciphers[key_id] = sealing.cipher(key)
        return aead

    # -- writing -------------------------------------------------------------------------
    def append(
        self,
        label: str,
        vector: Sequence[float] | np.ndarray | None,
        *,
        text: str | None = None,
        provenance: Mapping[str, str] | None = None,
        kind: str = EXAMPLE,
        subject: str | None = None,
    ) -> Entry:
        """Validate, hash and append one entry; return it.

        Examples carry a vector of the ledger's dimension; other kinds (revocations) carry
        none and are hashed with an empty vector. With a ``subject`` (the person the entry
        is about or came from), the vector, text and provenance are stored sealed under that
        subject's key, so :meth:`erase` can make them unrecoverable.
        """
        pending = self._check(label, vector, text, provenance, kind, subject)
        if subject is None and not self._durable:
            return self._append_local(pending)
        return self._write([pending])[0]

    def append_many(
        self,
        labels: Sequence[str],
        vectors: Sequence[Sequence[float] | np.ndarray | None] | np.ndarray,
        *,
        texts: Sequence[str | None] | None = None,
        provenances: Sequence[Mapping[str, str] | None] | None = None,
        subjects: Sequence[str | None] | None = None,
        kind: str = EXAMPLE,
    ) -> list[Entry]:
        """Append many entries as one transaction: all of them, or (on any bad input) none.

        On a durable store this is what makes throughput: one commit, one fsync, per call.
        """
        n = len(labels)
        for name, column in (("vectors", vectors), ("texts", texts),
                             ("provenances", provenances), ("subjects", subjects)):
            if column is not None and len(column) != n:
                raise LedgerError(f"{n} labels but {len(column)} {name}")
        pending = []
        dim = self._dim
        for i in range(n):
            item = self._check(
                labels[i],
                vectors[i],
                None if texts is None else texts[i],
                None if provenances is None else provenances[i],
                kind,
                None if subjects is None else subjects[i],
                dim,
            )
            if item[0] == EXAMPLE:
                dim = item[2].shape[0]
            pending.append(item)
        if not pending:
            return []
        if not self._durable and all(p[5] is None for p in pending):
            return [self._append_local(p) for p in pending]
        return self._write(pending)

    def erase(self, subject: str, *, reason: str | None = None,
              actor: str | None = None) -> Entry:
        """Crypto-shred everything recorded about ``subject``: destroy its key and append a
        tombstone naming the key id and the sealed entries. Hashes and proofs still verify
        (they cover the ciphertext); the contents can no longer be read by anyone.

        ``reason`` and ``actor`` are stored in clear: keep personal data out of them.
        """
        _check_string("subject", subject, MAX_SUBJECT_CHARS)
        extra = {"reason": reason, "actor": actor}
        for name, value in extra.items():
            if value is not None:
                _check_string(name, value, MAX_LABEL_CHARS)

        def prepare(view: WriteView) -> Batch:
            key = view.find_key(subject)
            if key is None:
                raise LedgerError(
                    "no live key for that subject: nothing was recorded about it, or it "
                    "was already erased"
                )
            seqs = view.seqs_for_key(key.key_id)
            prov = {"source": "erasure", "erases": key.key_id, "seqs": ",".join(map(str, seqs))}
            prov.update({k: v for k, v in extra.items() if v is not None})
            tip = view.tip
            entry = self._build(tip.size, tip.head_hash, ERASURE, "erasure", NO_VECTOR, None,
                                frozen_provenance(prov), None)
            return Batch([entry], destroyed=[key.key_id])

        return self._commit(prepare)[0]

    def import_entries(self, entries: Iterable[Entry], *, batch: int = 1000) -> int:
        """Append already-built entries (an export read back) after checking each one's hash
        and link to the head. Returns how many were appended."""
        count = 0
        chunk: list[Entry] = []
        for entry in entries:
            chunk.append(entry)
            if len(chunk) == batch:
                count += self._import_chunk(chunk)
                chunk = []
        if chunk:
            count += self._import_chunk(chunk)
        return count

    def _import_chunk(self, chunk: list[Entry]) -> int:
        def prepare(view: WriteView) -> Batch:
            seq, prev = view.tip.size, view.tip.head_hash
            for entry in chunk:
                if entry.seq != seq:
                    raise LedgerError(f"import expected entry {seq}, found {entry.seq}")
                if entry.prev_hash != prev:
                    raise LedgerError(f"entry {seq} does not link to the ledger's head")
                if entry.compute_hash() != entry.entry_hash:
                    raise LedgerError(f"entry {seq}: contents do not match its hash")
                if entry.kind not in ENTRY_KINDS:
                    raise LedgerError(f"entry {seq} has unknown kind {entry.kind!r}")
                seq, prev = seq + 1, entry.entry_hash
            dims = {e.vector.shape[0] for e in chunk if e.kind == EXAMPLE and e.vector.size}
            if len(dims | ({view.dim} if view.dim else set())) > 1:
                raise LedgerError(f"entries of several dimensions: {sorted(dims)}")
            return Batch(list(chunk), dim=next(iter(dims)) if dims else None)

        return len(self._commit(prepare))

    def _check(
        self,
        label: object,
        vector: object,
        text: object,
        provenance: Mapping[str, str] | None,
        kind: object,
        subject: object,
        dim: int | None = -1,
    ) -> _Pending:
        if kind not in ENTRY_KINDS or kind == ERASURE:
            if kind == ERASURE:
                raise LedgerError("erasure tombstones are appended by Ledger.erase(subject)")
            raise LedgerError(
                f"unknown entry kind {kind!r}; valid: {EXAMPLE}, {REVOCATION}, {RELABEL}, "
                f"{RETIRE}"
            )
        if kind == EXAMPLE:
            vec = self._validated_vector(vector, self._dim if dim == -1 else dim)
        elif vector is None or np.size(vector) == 0:
            vec = NO_VECTOR
        else:
            raise LedgerError(f"a {kind} entry carries no vector")
        _check_string("label", label, MAX_LABEL_CHARS)
        if text is not None:
            _check_string("text", text, MAX_TEXT_CHARS)
        prov = frozen_provenance(provenance)
        for key, value in prov.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise LedgerError(f"provenance must map str to str, got {key!r}: {value!r}")
            if key.startswith(RESERVED_PREFIX):
                raise LedgerError(f"provenance keys starting {RESERVED_PREFIX!r} are reserved")
            _check_utf8(f"provenance {key!r}", key)
            _check_utf8(f"provenance {key!r}", value)
        if subject is not None:
            if kind != EXAMPLE:
                raise LedgerError("only examples are sealed under a subject's key")
            _check_string("subject", subject, MAX_SUBJECT_CHARS)
        return kind, label, vec, text, prov, subject  # type: ignore[return-value]

    def _append_local(self, pending: _Pending) -> Entry:
        """The in-memory fast path: no transaction, no sealing."""
        kind, label, vec, text, prov, _ = pending
        entry = self._build(len(self._store), self._head_hash, kind, label, vec, text, prov,
                            None)
        self._store.append(entry)
        if kind == EXAMPLE:
            self._dim = vec.shape[0]
        self._head_hash = entry.entry_hash
        if self._nbytes is not None:
            self._nbytes += self._last_body_len + 32
        return entry

    def _build(
        self,
        seq: int,
        prev: bytes,
        kind: str,
        label: str,
        vec: np.ndarray,
        text: str | None,
        prov: Mapping[str, str],
        key: SubjectKey | None,
    ) -> Entry:
        created = time.time_ns()
        if key is None:
            body = canonical_bytes(
                seq=seq,
                created_at_ns=created,
                kind=kind,
                label=label,
                vector_bytes=vec.tobytes(),
                text=text,
                provenance=prov,
                prev_hash=prev,
            )
            sealed = None
        else:
            aead = self._ciphers.get(key.key_id) or sealing.cipher(key.key)
            ciphertext = sealing.seal(
                aead, key.key_id, seq=seq, kind=kind, label=label,
                vector_bytes=vec.tobytes(), text=text, provenance=prov,
            )
            sealed = Sealed(key.key_id, ciphertext, True)
            body = canonical_bytes(
                seq=seq,
                created_at_ns=created,
                kind=kind,
                label=label,
                vector_bytes=b"",
                text=None,
                provenance=sealed.provenance(),
                prev_hash=prev,
            )
        self._last_body_len = len(body)
        digest = hashlib.sha256(body).digest()
        return Entry(seq, created, kind, label, vec, text, prov, prev, digest, sealed)

    def _write(self, pending: list[_Pending]) -> list[Entry]:
        def prepare(view: WriteView) -> Batch:
            if view.dim is not None:
                for item in pending:
                    if item[0] == EXAMPLE and item[2].shape[0] != view.dim:
                        raise LedgerError(
                            f"vector has dimension {item[2].shape[0]}, ledger has {view.dim}"
                        )
            seq, prev = view.tip.size, view.tip.head_hash
            keys: dict[str, SubjectKey] = {}
            new_keys: list[SubjectKey] = []
            entries = []
            for kind, label, vec, text, prov, subject in pending:
                key = None
                if subject is not None:
                    key = keys.get(subject) or view.find_key(subject)
                    if key is None:
                        key = SubjectKey.new(subject)
                        new_keys.append(key)
                    keys[subject] = key
                    prov = frozen_provenance({**prov, "subject": subject})
                entry = self._build(seq, prev, kind, label, vec, text, prov, key)
                entries.append(entry)
                seq, prev = seq + 1, entry.entry_hash
            dims = [p[2].shape[0] for p in pending if p[0] == EXAMPLE]
            return Batch(entries, new_keys, dim=dims[0] if dims and view.dim is None else None)

        return self._commit(prepare)

    def _commit(self, prepare: Callable[[WriteView], Batch]) -> list[Entry]:
        """Run one write through the store (or locally), then bring the caches up to date."""
        if self._durable:
            seen: list[Tip] = []

            def observed(view: WriteView) -> Batch:
                seen.append(view.tip)
                return prepare(view)

            batch = self._store.write(observed)  # type: ignore[attr-defined]
            tip = seen[-1]
            if tip.size != self._size:  # other processes appended since we last looked
                self._foreign.extend(range(self._size, tip.size))
                self._nbytes = None
            self._size = tip.size + len(batch.entries)
        else:
            batch = prepare(_LocalView(self))
            keys = getattr(self._store, "subject_keys", None)
            for key in batch.new_keys:
                keys.put(key)  # type: ignore[union-attr]
            for entry in batch.entries:
                self._store.append(entry.stored())
            for key_id in batch.destroyed:
                keys.destroy(key_id)  # type: ignore[union-attr]
        for key in batch.new_keys:
            self._ciphers[key.key_id] = sealing.cipher(key.key)
        for key_id in batch.destroyed:
            self._ciphers.pop(key_id, None)
            self._key_bytes.pop(key_id, None)
        for entry in batch.entries:
            if entry.kind == EXAMPLE and entry.vector.size:
                self._dim = self._dim or entry.vector.shape[0]
            if self._nbytes is not None:
                self._nbytes += len(entry.canonical()) + len(entry.entry_hash)
        if batch.entries:
            self._head_hash = batch.entries[-1].entry_hash
        return batch.entries

    # -- other writers ---------------------------------------------------------------------
    def sync(self) -> int:
        """Take note of entries other processes appended to a shared store; return how many
        are new. Read them with :meth:`take_foreign` (the substrate's ``refresh`` does)."""
        if not self._durable:
            return 0
        tip = self._store.tip()  # type: ignore[attr-defined]
        if tip.size <= self._size:
            return 0
        new = tip.size - self._size
        self._foreign.extend(range(self._size, tip.size))
        self._size, self._head_hash, self._nbytes = tip.size, tip.head_hash, None
        if self._dim is None:
            self._dim = self._store.dim()  # type: ignore[attr-defined]
        return new

    def take_foreign(self) -> list[Entry]:
        """Entries other processes appended, not yet handed out, in order (then forgotten)."""
        if not self._foreign:
            return []
        seqs, self._foreign = self._foreign, []
        entries = []
        for seq in seqs:
            entry = self[seq]
            if entry.kind == ERASURE:
                self._ciphers.pop(entry.provenance.get("erases", ""), None)
                self._key_bytes.pop(entry.provenance.get("erases", ""), None)
            if self._dim is None and entry.kind == EXAMPLE and entry.vector.size:
                self._dim = entry.vector.shape[0]
            entries.append(entry)
        return entries

    # -- the Merkle tree -------------------------------------------------------------------
    def _merkle(self) -> MerkleTree:
        """The tree over the entry hashes, caught up with the ledger (derived, lazily)."""
        size, done = len(self), len(self._tree)
        if done < size:
            if self._durable:
                hashes = self._store.hashes(done, size)  # type: ignore[attr-defined]
            else:
                hashes = [self._store[i].entry_hash for i in range(done, size)]
            self._tree.extend(leaf_hash(h) for h in hashes)
        return self._tree

    def root(self, size: int | None = None) -> bytes:
        return self._merkle().root(size)

    def tree_head(self, size: int | None = None) -> TreeHead:
        """(size, Merkle root, now): what an auditor keeps, ideally signed."""
        tree = self._merkle()
        size = len(self) if size is None else size
        return TreeHead(size, tree.root(size), time.time_ns())

    def signed_tree_head(self, private_key: Ed25519PrivateKey) -> SignedTreeHead:
        return sign_head(self.tree_head(), private_key)

    def prove(self, seq: int, size: int | None = None) -> InclusionProof:
        """Inclusion proof that entry ``seq`` is in the tree of ``size`` entries (default:
        all). The leaf is ``leaf_hash(entry_hash)``."""
        tree = self._merkle()
        size = len(self) if size is None else size
        path = tree.inclusion_proof(seq, size)
        return InclusionProof(seq, size, tree.leaf(seq), tuple(path), tree.root(size))

    def prove_consistency(self, old_size: int, size: int | None = None) -> ConsistencyProof:
        tree = self._merkle()
        size = len(self) if size is None else size
        path = tree.consistency_proof(old_size, size)
        return ConsistencyProof(old_size, size, tree.root(old_size), tree.root(size), tuple(path))

    # -- auditing ------------------------------------------------------------------------
    def verify(self, head: ChainHead | TreeHead | SignedTreeHead | None = None) -> Verification:
        """Re-hash every entry and walk the chain; report the first bad sequence number.

        A mutated field breaks that entry's own hash; a deleted, reordered or inserted entry
        shows up as a sequence number or ``prev_hash`` out of place. A truncated tail leaves a
        valid shorter chain, so it is only detectable against a ``head`` kept earlier: a
        :class:`ChainHead`, or a (signed) :class:`TreeHead`, whose Merkle root is recomputed.
        On a durable store the rows are read from disk, so this checks what is stored.
        """
        if isinstance(head, SignedTreeHead):
            head = head.head
        tree = MerkleTree() if isinstance(head, TreeHead) else None
        rows: Iterable[Entry | CorruptRow] = (
            self._store.rows() if self._durable else self._store  # type: ignore[attr-defined]
        )
        prev = GENESIS_HASH
        position = 0
        stray: int | None = None
        kept_hash = None
        for entry in rows:
            if self._durable and entry.seq < position:
                # sorted by sequence number, so a number below the expected one is negative:
                # a row that belongs nowhere in the chain (it cannot hide a gap: see below)
                stray = entry.seq if stray is None else stray
                continue
            if entry.seq != position:
                if self._durable:
                    reason = f"entry {position} is missing (next is {entry.seq})"
                else:
                    reason = f"position {position} holds sequence number {entry.seq}"
                return Verification(False, self._count(), position, reason)
            if isinstance(entry, CorruptRow):
                return Verification(False, self._count(), position,
                                    f"entry {position}: {entry.reason}")
            if entry.prev_hash != prev:
                return Verification(
                    False,
                    self._count(),
                    position,
                    f"entry {position}: prev_hash does not match entry {position - 1}'s hash",
                )
            if _rehash(entry) != entry.entry_hash:
                return Verification(
                    False, self._count(), position,
                    f"entry {position}: contents do not match its hash",
                )
            prev = entry.entry_hash
            if head is not None and position < head.size:
                if tree is not None:
                    tree.append(leaf_hash(prev))
                elif position == head.size - 1:
                    kept_hash = prev
            position += 1
        size = position
        if stray is not None:
            return Verification(False, size, stray,
                                f"a row numbered {stray} is not part of the chain")
        if head is not None:
            if size < head.size:
                return Verification(
                    False,
                    size,
                    size,
                    f"ledger truncated: {size} entries, the kept head has {head.size}",
                )
            if isinstance(head, TreeHead):
                if tree is not None and tree.root() != head.root_hash:
                    return Verification(
                        False, size, max(head.size - 1, 0),
                        f"the first {head.size} entries do not hash to the kept tree head's "
                        "root: the ledger was rewritten",
                    )
            elif head.size > 0 and kept_hash != head.entry_hash:
                return Verification(
                    False,
                    size,
                    head.size - 1,
                    f"entry {head.size - 1} differs from the kept head's hash",
                )
        return Verification(True, size)

    def _count(self) -> int:
        return len(self._store)

    def _validated_vector(
        self, vector: Sequence[float] | np.ndarray | None, dim: int | None
    ) -> np.ndarray:
        if vector is None:
            raise LedgerError("an example entry needs a vector")
        try:
            vec = np.array(vector, dtype="<f4")
        except (TypeError, ValueError) as err:
            raise LedgerError(f"vector is not numeric: {err}") from None
        if vec.ndim != 1 or vec.shape[0] == 0:
            raise LedgerError(f"vector must be 1-D and non-empty, got shape {vec.shape}")
        if dim is not None and vec.shape[0] != dim:
            raise LedgerError(f"vector has dimension {vec.shape[0]}, ledger has {dim}")
        if not np.isfinite(np.dot(vec, vec)):  # one pass; NaN/inf anywhere propagates
            if not np.isfinite(vec).all():
                raise LedgerError("vector contains NaN or infinity")
            raise LedgerError("vector is too large: its squared norm overflows float32")
        vec.flags.writeable = False
        return vec


def _rehash(entry: Entry) -> bytes | None:
    """The entry's hash recomputed, or None if its fields cannot even be encoded (tampered
    into wrong types or strings that are not UTF-8)."""
    try:
        return entry.compute_hash()
    except (TypeError, ValueError, AttributeError, struct.error):
        return None


def _check_string(name: str, value: object, max_chars: int) -> None:
    if not isinstance(value, str):
        raise LedgerError(f"{name} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise LedgerError(f"{name} must not be empty")
    if len(value) > max_chars:
        raise LedgerError(f"{name} is {len(value)} characters; the limit is {max_chars}")
    _check_utf8(name, value)


def _check_utf8(name: str, value: str) -> None:
    """Refuse what no store can hold: lone surrogates (not UTF-8) and NUL characters."""
    if "\x00" in value:
        raise LedgerError(f"{name} contains a NUL character")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as err:
            raise LedgerError(
                f"{name} is not valid UTF-8 text (character {err.start} is a lone surrogate, "
                "as from bytes decoded with errors='surrogateescape')"
            ) from None
