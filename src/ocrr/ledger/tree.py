"""The tree layer: the Merkle tree over a store's entry hashes, its heads and its proofs.

The tree is derived state: :class:`LedgerTree` keeps a :class:`~ocrr.ledger.merkle.MerkleTree`
and catches it up lazily, reading only the ``entry_hash`` of entries it has not seen, when a
root, head or proof is asked for. The algorithms (RFC 6962 / RFC 9162) are in
:mod:`ocrr.ledger.merkle`; signing is in :mod:`ocrr.ledger.signing`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ocrr.ledger.merkle import ConsistencyProof, InclusionProof, MerkleTree, leaf_hash
from ocrr.ledger.signing import SignedTreeHead, TreeHead, sign_head
from ocrr.ledger.store import EntryStore

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


class LedgerTree:
    """Tree heads and proofs over the first ``size`` entries of a store.

    Every method takes ``size``, the number of entries the caller's ledger holds (the tree
    never runs ahead of it), and, where it says so, a smaller size to answer for.

    Examples
    --------
    >>> import numpy as np
    >>> from ocrr.ledger import Ledger
    >>> ledger = Ledger()
    >>> for i in range(5):
    ...     _ = ledger.append(f"label-{i}", np.ones(3))
    >>> tree = LedgerTree(ledger.store)
    >>> head = tree.head(5)
    >>> head.size, head.root_hash == ledger.root()
    (5, True)
    >>> tree.prove(2, 5).verify() and tree.prove_consistency(3, 5).verify()
    True
    """

    def __init__(self, store: EntryStore) -> None:
        self._store = store
        self._tree = MerkleTree()

    def caught_up(self, size: int) -> MerkleTree:
        """The tree over the entry hashes, extended to ``size`` leaves."""
        done = len(self._tree)
        if done < size:
            self._tree.extend(leaf_hash(h) for h in self._store.hashes(done, size))
        return self._tree

    def root(self, size: int, at: int | None = None) -> bytes:
        """The root over the first ``at`` entries (default: ``size``)."""
        return self.caught_up(size).root(at)

    def head(self, size: int, at: int | None = None) -> TreeHead:
        """(size, Merkle root, now): what an auditor keeps, ideally signed."""
        tree = self.caught_up(size)
        at = size if at is None else at
        return TreeHead(at, tree.root(at), time.time_ns())

    def signed_head(self, size: int, private_key: Ed25519PrivateKey) -> SignedTreeHead:
        return sign_head(self.head(size), private_key)

    def prove(self, seq: int, size: int, at: int | None = None) -> InclusionProof:
        """Inclusion proof that entry ``seq`` is in the tree of ``at`` entries (default:
        ``size``). The leaf is ``leaf_hash(entry_hash)``."""
        tree = self.caught_up(size)
        at = size if at is None else at
        path = tree.inclusion_proof(seq, at)
        return InclusionProof(seq, at, tree.leaf(seq), tuple(path), tree.root(at))

    def prove_consistency(self, old_size: int, size: int,
                          at: int | None = None) -> ConsistencyProof:
        """Consistency proof from the tree of ``old_size`` entries to that of ``at``
        (default: ``size``)."""
        tree = self.caught_up(size)
        at = size if at is None else at
        path = tree.consistency_proof(old_size, at)
        return ConsistencyProof(old_size, at, tree.root(old_size), tree.root(at), tuple(path))
