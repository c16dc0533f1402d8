"""The RFC 6962 / RFC 9162 Merkle tree over the ledger's entry hashes.

Why a tree beside the hash chain: the chain proves the ledger only to someone who re-reads
all of it. The tree lets anyone check that *one* entry is in the ledger (an inclusion proof,
about log2(n) hashes) and that today's ledger *extends* the one an auditor saw last month
without rewriting it (a consistency proof), holding nothing but two tree heads. The shape and
the hashing are Certificate Transparency's, so any RFC 6962 verifier checks OCRR's proofs:

- leaf hash ``SHA-256(0x00 || data)``, where the data is the entry's 32-byte ``entry_hash``;
- node hash ``SHA-256(0x01 || left || right)``;
- the tree over n leaves splits at k, the largest power of two smaller than n;
- the empty tree's hash is ``SHA-256("")``.

:class:`MerkleTree` keeps only the complete ("perfect") subtrees, level by level, as packed
32-byte strings: appending a leaf costs one hash plus, on average, one more; any root or proof
for any size up to the current one takes O(log n) stored nodes and at most O(log n) hashes.
The verifiers at the bottom need nothing but the proof, the hashes and the sizes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()
"""The Merkle tree hash of zero leaves (RFC 6962, section 2.1)."""


class ProofError(ValueError):
    """A proof was asked for sizes or indices the tree does not have."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """Append-only Merkle tree storing its perfect subtrees; roots and proofs for any size."""

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self._levels: list[bytearray] = [bytearray()]
        self.extend(leaf_hashes)

    def __len__(self) -> int:
        return len(self._levels[0]) // HASH_SIZE

    def append(self, leaf: bytes) -> None:
        """Append one *leaf hash* (see :func:`leaf_hash`)."""
        if len(leaf) != HASH_SIZE:
            raise ValueError(f"a leaf hash has {HASH_SIZE} bytes, got {len(leaf)}")
        levels = self._levels
        index = len(levels[0]) // HASH_SIZE
        levels[0] += leaf
        level = 0
        node = leaf
        while index & 1:  # this node completes a pair: its parent is now perfect
            left = bytes(levels[level][(index - 1) * HASH_SIZE : index * HASH_SIZE])
            node = node_hash(left, node)
            level += 1
            index >>= 1
            if level == len(levels):
                levels.append(bytearray())
            levels[level] += node

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        for leaf in leaf_hashes:
            self.append(leaf)

    def leaf(self, index: int) -> bytes:
        return self._node(0, index)

    def _node(self, level: int, index: int) -> bytes:
        return bytes(self._levels[level][index * HASH_SIZE : (index + 1) * HASH_SIZE])

    def _hash(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]). Every range the RFC recursion visits starts at a multiple of a power
        of two at least its width, so a power-of-two range is a stored perfect subtree."""
        width = hi - lo
        if width & (width - 1) == 0:
            level = width.bit_length() - 1
            return self._node(level, lo >> level)
        k = _split(width)
        return node_hash(self._hash(lo, lo + k), self._hash(lo + k, hi))

    def _size(self, size: int | None) -> int:
        n = len(self)
        if size is None:
            return n
        if not 0 <= size <= n:
            raise ProofError(f"tree size {size} is outside 0..{n}")
        return size

    def root(self, size: int | None = None) -> bytes:
        """The Merkle tree hash of the first ``size`` leaves (default: all)."""
        size = self._size(size)
        return EMPTY_ROOT if size == 0 else self._hash(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """RFC 6962 PATH(index, D[0:size]): the sibling hashes from the leaf up to the root."""
        size = self._size(size)
        if not 0 <= index < size:
            raise ProofError(f"leaf {index} is not in a tree of size {size}")
        path: list[bytes] = []
        lo, hi = 0, size
        while hi - lo > 1:  # walk down, then reverse: the RFC lists the path bottom-up
            k = _split(hi - lo)
            if index < lo + k:
                path.append(self._hash(lo + k, hi))
                hi = lo + k
            else:
                path.append(self._hash(lo, lo + k))
                lo += k
        path.reverse()
        return path

    def consistency_proof(self, old_size: int, size: int | None = None) -> list[bytes]:
        """RFC 6962 PROOF(old_size, D[0:size]): what proves the first ``old_size`` leaves are
        a prefix of the first ``size``. Empty when ``old_size`` is 0 or equals ``size``."""
        size = self._size(size)
        if not 0 <= old_size <= size:
            raise ProofError(f"old size {old_size} is outside 0..{size}")
        if old_size in (0, size):
            return []
        proof: list[bytes] = []
        lo, hi, m, complete = 0, size, old_size, True
        while m != hi - lo:  # SUBPROOF(m, D[lo:hi], complete)
            k = _split(hi - lo)
            if m <= k:
                proof.append(self._hash(lo + k, hi))
                hi = lo + k
            else:
                proof.append(self._hash(lo, lo + k))
                lo, m, complete = lo + k, m - k, False
        if not complete:
            proof.append(self._hash(lo, hi))
        proof.reverse()
        return proof


# -- proofs as values ---------------------------------------------------------------------


@dataclass(frozen=True)
class InclusionProof:
    """That the leaf at ``index`` is in the tree of ``tree_size`` leaves with ``root_hash``.

    Examples
    --------
    >>> import numpy as np
    >>> from ocrr.ledger import Ledger
    >>> ledger = Ledger()
    >>> for label in ("a", "b", "c"):
    ...     _ = ledger.append(label, np.ones(2))
    >>> proof = ledger.prove(1)
    >>> proof.index, proof.tree_size, proof.verify()
    (1, 3, True)
    >>> InclusionProof.from_dict(proof.to_dict()) == proof  # how it travels (JSON)
    True
    """

    index: int
    tree_size: int
    leaf_hash: bytes
    path: tuple[bytes, ...]
    root_hash: bytes

    def verify(self) -> bool:
        return verify_inclusion(self.leaf_hash, self.index, self.tree_size, self.path,
                                self.root_hash)

    def to_dict(self) -> dict[str, object]:
        return {
            "index": self.index,
            "tree_size": self.tree_size,
            "leaf_hash": self.leaf_hash.hex(),
            "path": [h.hex() for h in self.path],
            "root_hash": self.root_hash.hex(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InclusionProof:
        return cls(
            int(data["index"]),
            int(data["tree_size"]),
            bytes.fromhex(str(data["leaf_hash"])),
            tuple(bytes.fromhex(str(h)) for h in data["path"]),
            bytes.fromhex(str(data["root_hash"])),
        )


@dataclass(frozen=True)
class ConsistencyProof:
    """That the tree of ``old_size`` leaves (``old_root``) is a prefix of the tree of
    ``new_size`` leaves (``new_root``).

    Examples
    --------
    >>> import numpy as np
    >>> from ocrr.ledger import Ledger
    >>> ledger = Ledger()
    >>> _ = ledger.append("a", np.ones(2))
    >>> kept = ledger.tree_head()  # what an auditor kept at size 1
    >>> _ = ledger.append("b", -np.ones(2))
    >>> proof = ledger.prove_consistency(kept.size)
    >>> proof.old_root == kept.root_hash, proof.new_size, proof.verify()
    (True, 2, True)
    """

    old_size: int
    new_size: int
    old_root: bytes
    new_root: bytes
    path: tuple[bytes, ...]

    def verify(self) -> bool:
        return verify_consistency(self.old_size, self.new_size, self.old_root, self.new_root,
                                  self.path)

    def to_dict(self) -> dict[str, object]:
        return {
            "old_size": self.old_size,
            "new_size": self.new_size,
            "old_root": self.old_root.hex(),
            "new_root": self.new_root.hex(),
            "path": [h.hex() for h in self.path],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConsistencyProof:
        return cls(
            int(data["old_size"]),
            int(data["new_size"]),
            bytes.fromhex(str(data["old_root"])),
            bytes.fromhex(str(data["new_root"])),
            tuple(bytes.fromhex(str(h)) for h in data["path"]),
        )


# -- verifiers: nothing but the proof and the hashes ---------------------------------------


def root_from_inclusion(
    leaf: bytes, index: int, tree_size: int, path: Sequence[bytes]
) -> bytes | None:
    """The root that ``path`` implies for ``leaf`` at ``index`` (RFC 9162, 2.1.3.2), or
    ``None`` when the path cannot belong to a tree of that size."""
    if not 0 <= index < tree_size or len(leaf) != HASH_SIZE:
        return None
    fn, sn, r = index, tree_size - 1, leaf
    for p in path:
        if sn == 0 or len(p) != HASH_SIZE:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def verify_inclusion(
    leaf: bytes, index: int, tree_size: int, path: Sequence[bytes], root: bytes
) -> bool:
    """Whether ``path`` proves leaf hash ``leaf`` sits at ``index`` in the tree ``root``."""
    return root_from_inclusion(leaf, index, tree_size, path) == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, path: Sequence[bytes]
) -> bool:
    """Whether ``path`` proves the tree ``old_root`` of ``old_size`` leaves is a prefix of the
    tree ``new_root`` of ``new_size`` leaves (RFC 9162, 2.1.4.2).

    Edge cases as Certificate Transparency's verifiers treat them: equal sizes need equal
    roots and an empty proof; the empty tree is a prefix of every tree (empty proof).
    """
    if not 0 <= old_size <= new_size:
        return False
    if old_size == new_size:
        return not path and old_root == new_root
    if old_size == 0:
        return not path
    if not path or any(len(p) != HASH_SIZE for p in path):
        return False
    nodes = list(path)
    if old_size & (old_size - 1) == 0:  # an exact power of two: the old root is a node
        nodes.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = nodes[0]
    for c in nodes[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
