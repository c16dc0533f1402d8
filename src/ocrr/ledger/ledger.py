"""The append-only, SHA-256 hash-chained ledger: the classifier's whole state.

:class:`Ledger` is the log (:mod:`ocrr.ledger.log`: validate, chain, seal, append, erase,
sync) with its Merkle tree (:mod:`ocrr.ledger.tree`: heads and proofs) and its audit
(:mod:`ocrr.ledger.audit`: ``verify``) on top, over any store (:mod:`ocrr.ledger.store`).
The names other modules import from here (``Ledger``, ``LedgerError``, the entry kinds, the
stores' protocol and the memory store) are re-exported.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Literal, Self

from ocrr.ledger.audit import KeptHead, Verification, verify_store
from ocrr.ledger.entry import (
    ENTRY_KINDS,
    ERASURE,
    EXAMPLE,
    RELABEL,
    RETIRE,
    REVOCATION,
    SEALED_BLOB,
    SETTING,
    Entry,
)
from ocrr.ledger.head import StoredHead
from ocrr.ledger.integrity import audited, check_at_open, head_problem
from ocrr.ledger.location import open_store
from ocrr.ledger.log import ChainHead, Log
from ocrr.ledger.memory import MemoryStore
from ocrr.ledger.merkle import ConsistencyProof, InclusionProof
from ocrr.ledger.signing import SignedTreeHead, TreeHead
from ocrr.ledger.store import EntryStore
from ocrr.ledger.tree import LedgerTree
from ocrr.ledger.validation import MAX_LABEL_CHARS, MAX_TEXT_CHARS, LedgerError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

Check = Literal["fast", "full"]

__all__ = [
    "ENTRY_KINDS",
    "ERASURE",
    "EXAMPLE",
    "MAX_LABEL_CHARS",
    "MAX_TEXT_CHARS",
    "RELABEL",
    "RETIRE",
    "SETTING",
    "REVOCATION",
    "ChainHead",
    "EntryStore",
    "Ledger",
    "LedgerError",
    "MemoryStore",
    "Verification",
]


class Ledger(Log):
    """Append-only sequence of hashed entries; each entry's ``prev_hash`` is its predecessor's.

    The vector dimension is fixed by the first append. Appends validate everything before
    touching the store, so a refused append leaves the ledger unchanged.

    The store is the caller's choice: in memory (default), ``Ledger.open("path.db")`` for
    SQLite, ``Ledger.open("postgresql://...")`` for PostgreSQL. On a durable store each
    append (or :meth:`append_many` batch) is one transaction, durable when the call returns.

    Examples
    --------
    >>> import numpy as np
    >>> ledger = Ledger()
    >>> entry = ledger.append("greeting", np.ones(3), text="hello",
    ...                       provenance={"source": "correction"})
    >>> entry.seq, entry.prev_hash == bytes(32), ledger.verify().ok
    (0, True, True)
    >>> head = ledger.tree_head()
    >>> _ = ledger.append("farewell", -np.ones(3))
    >>> ledger.prove(0).verify() and ledger.prove_consistency(head.size).verify()
    True
    >>> ledger.verify(head).ok  # the ledger still extends the head kept earlier
    True

    A durable ledger is checked against its head record when it opens
    (:func:`~ocrr.ledger.integrity.check_at_open`; ``check="full"`` re-hashes every entry
    too) and refused with :class:`~ocrr.errors.LedgerIntegrityError` if it fails;
    ``read_only=True`` skips the check and refuses writes, for forensics.
    """

    def __init__(self, store: EntryStore | None = None, *, check: Check = "fast",
                 read_only: bool = False, public_key: Ed25519PublicKey | None = None) -> None:
        signer = getattr(store, "signer", None)
        if public_key is None and signer is not None:
            public_key = signer.public_key()
        if store is not None and not read_only:
            try:
                check_at_open(store, public_key=public_key, full=check == "full")
            except BaseException:
                store.close()
                raise
        super().__init__(store, read_only=read_only)
        self._public_key = public_key
        self._tree = LedgerTree(self._store)

    @classmethod
    def open(cls, where: str | os.PathLike[str], *, create: bool = True,
             read_only: bool = False, check: Check = "fast",
             signer: Ed25519PrivateKey | None = None,
             public_key: Ed25519PublicKey | None = None,
             keys: str | os.PathLike[str] | None = None) -> Self:
        """A ledger on a SQLite file path, a ``postgresql://`` URL, or ``":memory:"``.

        ``create=True`` makes a new ledger where there is none (never over an empty or
        damaged file); pass ``create=False`` where the ledger must already exist.
        ``signer`` (an Ed25519 private key) signs each head record written, and the head
        read at open must verify under its public key (or ``public_key``). ``keys`` keeps
        the subject keys in a separate key store, named the same ways
        (:mod:`ocrr.ledger.split`: back the two up together)."""
        store = open_store(where, create=create and not read_only, signer=signer, keys=keys,
                           read_only=read_only)
        return cls(store, check=check, read_only=read_only, public_key=public_key)

    def audited(self) -> Iterator[Entry]:
        """Every entry, each re-hashed, linked and its vector checked as it is read (on a
        durable store: :func:`~ocrr.ledger.integrity.audited`), sealed ones opened where
        their key is at hand. Read to the end, it moves the head record's ``checked`` mark,
        so the next fast check starts after it. What ``Substrate`` rebuilds from."""
        if not self._store.durable or self.read_only:
            yield from self
            return
        reveal = self._keys.reveal
        for entry in audited(self._store, len(self), self.dim):
            yield reveal(entry) if SEALED_BLOB in entry.provenance else entry
        self._store.mark_checked(len(self))

    def adopt(self) -> StoredHead:
        """Record a head for a ledger that has none (made before head records), or sign
        an unsigned one with the store's newly configured ``signer``: only after a full
        verification passes. ``LedgerError`` if it fails, or if there is nothing to do."""
        signer = getattr(self._store, "signer", None)
        found = self._store.head_record()
        if found is not None and (signer is None or found.signature is not None):
            raise LedgerError("this ledger already has a head record (open it with a "
                              "signer to sign an unsigned one)")
        result = verify_store(self._store)  # the entries and keys, not the head record
        if result.ok and found is not None:
            problem, _ = head_problem(self._store, None)
            if problem is not None:
                result = Verification(False, result.size, *problem)
        if not result.ok:
            raise LedgerError(f"not adopted: entry {result.first_bad_seq}: {result.reason}")
        head = StoredHead.genesis().advance(self._store.hashes(0, result.size), signer)
        if found is not None:
            head = replace(head, checked=found.checked, imported=found.imported)
            head = head.signed(signer) if signer is not None else head
        self._store.put_head(head)
        return head

    # -- the Merkle tree -------------------------------------------------------------------
    def root(self, size: int | None = None) -> bytes:
        return self._tree.root(len(self), size)

    def tree_head(self, size: int | None = None) -> TreeHead:
        """(size, Merkle root, now): what an auditor keeps, ideally signed."""
        return self._tree.head(len(self), size)

    def signed_tree_head(self, private_key: Ed25519PrivateKey) -> SignedTreeHead:
        return self._tree.signed_head(len(self), private_key)

    def prove(self, seq: int, size: int | None = None) -> InclusionProof:
        """Inclusion proof that entry ``seq`` is in the tree of ``size`` entries (default:
        all). The leaf is ``leaf_hash(entry_hash)``."""
        return self._tree.prove(seq, len(self), size)

    def prove_consistency(self, old_size: int, size: int | None = None) -> ConsistencyProof:
        return self._tree.prove_consistency(old_size, len(self), size)

    # -- auditing ------------------------------------------------------------------------
    def verify(self, head: KeptHead | None = None) -> Verification:
        """Re-hash every stored entry and walk the chain; report the first bad sequence
        number (see :func:`ocrr.ledger.audit.verify_store`).

        A truncated tail leaves a valid shorter chain, so it is only detectable against a
        ``head`` kept earlier: a :class:`ChainHead`, or a (signed) :class:`TreeHead`, whose
        Merkle root is recomputed. On a durable store the rows are read from disk, so this
        checks what is stored, and then checked against the head record beside them
        (:func:`~ocrr.ledger.integrity.head_problem`): so a truncation or a rewrite is
        found without a kept head too.
        """
        result = verify_store(self._store, head)
        if not result.ok or not self._store.durable:
            return result
        problem, _ = head_problem(self._store, self._public_key)
        if problem is not None:
            return Verification(False, result.size, *problem)
        return result
