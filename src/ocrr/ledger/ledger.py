"""The append-only, SHA-256 hash-chained ledger: the classifier's whole state.

:class:`Ledger` is the log (:mod:`ocrr.ledger.log`: validate, chain, seal, append, erase,
sync) with its Merkle tree (:mod:`ocrr.ledger.tree`: heads and proofs) and its audit
(:mod:`ocrr.ledger.audit`: ``verify``) on top, over any store (:mod:`ocrr.ledger.store`).
The names other modules import from here (``Ledger``, ``LedgerError``, the entry kinds, the
stores' protocol and the memory store) are re-exported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ocrr.ledger.audit import KeptHead, Verification, verify_store
from ocrr.ledger.entry import ENTRY_KINDS, ERASURE, EXAMPLE, RELABEL, RETIRE, REVOCATION, SETTING
from ocrr.ledger.log import ChainHead, Log
from ocrr.ledger.memory import MemoryStore
from ocrr.ledger.merkle import ConsistencyProof, InclusionProof
from ocrr.ledger.signing import SignedTreeHead, TreeHead
from ocrr.ledger.store import EntryStore
from ocrr.ledger.tree import LedgerTree
from ocrr.ledger.validation import MAX_LABEL_CHARS, MAX_TEXT_CHARS, LedgerError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

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
    """

    def __init__(self, store: EntryStore | None = None) -> None:
        super().__init__(store)
        self._tree = LedgerTree(self._store)

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
        checks what is stored.
        """
        return verify_store(self._store, head)
