"""The log layer: validate, number, chain and seal entries; append them through a store.

Every write, on every store, is one call of the store's transactional
:meth:`~ocrr.ledger.store.EntryStore.write`: the store hands over its real head, the log
builds the entries on it (sequence numbers, ``prev_hash`` links, subject keys and sealing),
and the store commits them. The log then brings its own view (size, head, dimension, bytes)
up to date, noting any entries other processes appended in between.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Self

import numpy as np

from ocrr.ledger import sealing
from ocrr.ledger.entry import (
    ERASURE,
    EXAMPLE,
    NO_VECTOR,
    SEALED_BLOB,
    Entry,
    Sealed,
    canonical_bytes,
    frozen_provenance,
)
from ocrr.ledger.keyring import Keyring
from ocrr.ledger.keys import MAX_SUBJECT_CHARS, SubjectKey
from ocrr.ledger.location import open_store
from ocrr.ledger.memory import MemoryStore
from ocrr.ledger.store import Batch, CorruptLedgerError, CorruptRow, EntryStore, WriteView
from ocrr.ledger.validation import (
    MAX_LABEL_CHARS,
    LedgerError,
    Pending,
    check_entry,
    check_imported,
    check_string,
)


@dataclass(frozen=True)
class ChainHead:
    """What a caller keeps to detect later truncation or rewriting: size and last hash.

    Examples
    --------
    >>> import numpy as np
    >>> from ocrr.ledger import Ledger
    >>> ledger = Ledger()
    >>> entry = ledger.append("greeting", np.ones(3))
    >>> ledger.head() == ChainHead(1, entry.entry_hash)
    True
    """

    size: int
    entry_hash: bytes

    def hex(self) -> str:
        return self.entry_hash.hex()


class Log:
    """Append-only sequence of hashed entries; each entry's ``prev_hash`` is its predecessor's.

    The vector dimension is fixed by the first append. Appends validate everything before
    touching the store, so a refused append leaves the log unchanged. Each append (or
    :meth:`append_many` batch) is one write of the store: on a durable one, one transaction,
    durable when the call returns.

    Examples
    --------
    >>> import numpy as np
    >>> log = Log()
    >>> first = log.append("greeting", np.ones(3), provenance={"source": "fit"})
    >>> second = log.append("farewell", -np.ones(3))
    >>> second.prev_hash == first.entry_hash and log.head().size == 2
    True
    >>> [entry.label for entry in log]
    ['greeting', 'farewell']
    """

    def __init__(self, store: EntryStore | None = None, *, read_only: bool = False) -> None:
        self._store: EntryStore = store if store is not None else MemoryStore()
        self.read_only = read_only  # opened for inspection: every write is refused
        tip = self._store.tip()
        self._size, self._head_hash = tip.size, tip.head_hash
        self._dim = self._store.dim()
        # counted on first use where there are entries: opening must not read every one
        self._nbytes: int | None = 0 if tip.size == 0 else None
        self._keys = Keyring(self._store)
        self._foreign: list[int] = []
        self._built = 0

    @classmethod
    def open(cls, where: str | os.PathLike[str], *, create: bool = True,
             read_only: bool = False) -> Self:
        """A ledger on a SQLite file path, a ``postgresql://`` URL, or ``":memory:"``."""
        return cls(open_store(where, create=not read_only and create, read_only=read_only),
                   read_only=read_only)

    @property
    def store(self) -> EntryStore:
        return self._store

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading -------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._size

    def __getitem__(self, seq: int) -> Entry:
        if not 0 <= seq < len(self):
            raise IndexError(f"no entry with sequence number {seq} (ledger has {len(self)})")
        return self._keys.reveal(self._store[seq])

    def __iter__(self) -> Iterator[Entry]:
        """Entries in order, sealed ones decrypted where their key is at hand."""
        reveal = self._keys.reveal
        for entry in self._store.read(0, self._size):
            if isinstance(entry, CorruptRow):
                raise CorruptLedgerError(entry)
            yield reveal(entry) if SEALED_BLOB in entry.provenance else entry

    @property
    def dim(self) -> int | None:
        return self._dim

    @property
    def nbytes(self) -> int:
        """Total canonical bytes of all entries, hashes included: the ledger's storage."""
        if self._nbytes is None:  # count the stored forms once
            stored = self._store.read(0, self._size)
            self._nbytes = sum(len(e.canonical()) + len(e.entry_hash) for e in stored
                               if isinstance(e, Entry))
        return self._nbytes

    def head(self) -> ChainHead:
        return ChainHead(len(self), self._head_hash)

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
        pending = check_entry(label, vector, text, provenance, kind, subject, self._dim)
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
            item = check_entry(
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
        return self._write(pending)

    def erase(self, subject: str, *, reason: str | None = None,
              actor: str | None = None,
              provenance: Mapping[str, str] | None = None) -> Entry:
        """Crypto-shred everything recorded about ``subject``: destroy its key and append a
        tombstone naming the key id and the sealed entries. Hashes and proofs still verify
        (they cover the ciphertext); the contents can no longer be read by anyone.

        ``reason``, ``actor`` and ``provenance`` (more pairs, such as the key that asked)
        are stored in clear: keep personal data out of them.
        """
        check_string("subject", subject, MAX_SUBJECT_CHARS)
        extra = {"reason": reason, "actor": actor}
        for name, value in extra.items():
            if value is not None:
                check_string(name, value, MAX_LABEL_CHARS)

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
            for name, value in (provenance or {}).items():  # never over the tombstone's own
                check_string(f"provenance {name!r}", value, MAX_LABEL_CHARS)
                prov.setdefault(name, value)
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
            batch = check_imported(chunk, view.tip, view.dim)
            self._built = sum(len(e.canonical()) + len(e.entry_hash) for e in chunk)
            return batch

        return len(self._commit(prepare))

    # -- chaining and sealing ------------------------------------------------------------
    def _build(self, seq: int, prev: bytes, kind: str, label: str, vec: np.ndarray,
               text: str | None, prov: Mapping[str, str], key: SubjectKey | None) -> Entry:
        """Entry ``seq`` on ``prev``: hashed in clear, or sealed under ``key`` and hashed in
        its stored form (the plaintext fields kept for the caller)."""
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
            ciphertext = sealing.seal(
                self._keys.sealing_cipher(key), key.key_id, seq=seq, kind=kind, label=label,
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
        self._built += len(body) + 32
        digest = hashlib.sha256(body).digest()
        return Entry(seq, created, kind, label, vec, text, prov, prev, digest, sealed)

    def _write(self, pending: list[Pending]) -> list[Entry]:
        def prepare(view: WriteView) -> Batch:
            dim = view.dim
            if dim is not None:
                for item in pending:
                    if item[0] == EXAMPLE and item[2].shape[0] != dim:
                        raise LedgerError(
                            f"vector has dimension {item[2].shape[0]}, ledger has {dim}"
                        )
            seq, prev = view.tip
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
            if dim is None:  # this write fixes the dimension
                dim = next((p[2].shape[0] for p in pending if p[0] == EXAMPLE), None)
                return Batch(entries, new_keys, dim=dim)
            return Batch(entries, new_keys)

        return self._commit(prepare)

    def _commit(self, prepare: Callable[[WriteView], Batch]) -> list[Entry]:
        """Run one write through the store, then bring this log's view up to date."""
        if self.read_only:
            raise LedgerError("this ledger was opened read-only, for inspection: no writes")
        self._built = 0
        batch = self._store.write(prepare)
        entries = batch.entries
        base = entries[0].seq  # every batch is numbered from the head the write found
        if base != self._size:  # other processes appended since we last looked
            self._foreign.extend(range(self._size, base))
            self._nbytes = None
        self._size = base + len(entries)
        if batch.new_keys:
            self._keys.learn(batch.new_keys)
        for key_id in batch.destroyed:
            self._keys.forget(key_id)
        if self._dim is None:
            self._dim = next((e.vector.shape[0] for e in entries
                              if e.kind == EXAMPLE and e.vector.size), None)
        if self._nbytes is not None:
            self._nbytes += self._built
        if entries:
            self._head_hash = entries[-1].entry_hash
        return entries

    # -- other writers ---------------------------------------------------------------------
    def sync(self) -> int:
        """Take note of entries other processes appended to a shared store; return how many
        are new. Read them with :meth:`take_foreign` (the substrate's ``refresh`` does)."""
        tip = self._store.tip()
        if tip.size <= self._size:
            return 0
        new = tip.size - self._size
        self._foreign.extend(range(self._size, tip.size))
        self._size, self._head_hash, self._nbytes = tip.size, tip.head_hash, None
        if self._dim is None:
            self._dim = self._store.dim()
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
                self._keys.forget(entry.provenance.get("erases", ""))
            if self._dim is None and entry.kind == EXAMPLE and entry.vector.size:
                self._dim = entry.vector.shape[0]
            entries.append(entry)
        return entries
