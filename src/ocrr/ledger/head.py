"""The head record: what a durable ledger says it holds, kept outside its entries.

Why a record beside the entries: a check of the entries against themselves finds a broken
link or a row whose contents no longer match its hash, but not a rewrite that recomputes
the hashes, nor a tail cut off cleanly. The head record (size, last entry hash, Merkle root,
and the tree's frontier) lives in its own table and is rewritten in the same transaction as
every write, so opening the ledger can check the entries against it (:mod:`ocrr.ledger.
integrity`). With a signing key configured, each head is signed with Ed25519: then even
someone who can write every table cannot make a head that verifies under the pinned public
key.

The frontier is the list of the Merkle tree's perfect subtree roots (one per set bit of the
size, largest first): with it a write extends the root in O(log n) hashes without reading
the older entries, however many processes append.

``checked`` is the number of entries whose contents were last re-hashed in full (by a
substrate opening the ledger, or ``ocrr ledger verify``): the fast check at open re-hashes
the entries after it. It is a hint for speed, outside the signature; the chain, the size
and the last hash are checked whatever it says.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ocrr.errors import LedgerIntegrityError
from ocrr.ledger.entry import GENESIS_HASH
from ocrr.ledger.merkle import EMPTY_ROOT, HASH_SIZE, leaf_hash, node_hash
from ocrr.ledger.signing import SignedTreeHead, TreeHead, raw_public_key, sign_head

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

COLUMNS = ("size", "last_hash", "root", "frontier", "timestamp_ns", "checked", "imported",
           "signature", "public_key")


@dataclass(frozen=True)
class StoredHead:
    """One ledger's head record.

    Examples
    --------
    >>> from ocrr.ledger.merkle import MerkleTree, leaf_hash
    >>> hashes = [bytes([i]) * 32 for i in range(5)]
    >>> head = StoredHead.genesis().advance(hashes[:3]).advance(hashes[3:])
    >>> head.size, head.last_hash == hashes[-1]
    (5, True)
    >>> head.root == MerkleTree(leaf_hash(h) for h in hashes).root()
    True
    >>> StoredHead.decode(head.encode()) == head
    True
    """

    size: int
    last_hash: bytes
    root: bytes
    frontier: tuple[bytes, ...]
    timestamp_ns: int
    checked: int = 0
    imported: int = 0
    """Entries up to here arrived by import: their subject keys were never here."""
    signature: bytes | None = None
    public_key: bytes | None = None

    @classmethod
    def genesis(cls, signer: Ed25519PrivateKey | None = None) -> StoredHead:
        """The head of an empty ledger (signed with ``signer``)."""
        head = cls(0, GENESIS_HASH, EMPTY_ROOT, (), time.time_ns())
        return head.signed(signer) if signer is not None else head

    def advance(self, entry_hashes: Iterable[bytes],
                signer: Ed25519PrivateKey | None = None, *,
                imported: bool = False) -> StoredHead:
        """The head after appending entries with these hashes (signed with ``signer``;
        ``imported``: they came from an export, without their subject keys)."""
        stack = list(self.frontier)
        size, last = self.size, self.last_hash
        for digest in entry_hashes:
            node, bit = leaf_hash(digest), 0
            while size >> bit & 1:  # merge equal-sized subtrees, like a binary counter
                node = node_hash(stack.pop(), node)
                bit += 1
            stack.append(node)
            size, last = size + 1, digest
        head = StoredHead(size, last, _root(stack), tuple(stack), time.time_ns(), self.checked,
                          size if imported else self.imported)
        return head.signed(signer) if signer is not None else head

    def signed(self, signer: Ed25519PrivateKey) -> StoredHead:
        signed = sign_head(self.tree_head(), signer)
        return replace(self, signature=signed.signature,
                       public_key=raw_public_key(signer.public_key()))

    def tree_head(self) -> TreeHead:
        return TreeHead(self.size, self.root, self.timestamp_ns)

    def signed_tree_head(self) -> SignedTreeHead | None:
        if self.signature is None or self.public_key is None:
            return None
        return SignedTreeHead(self.tree_head(), self.signature, self.public_key)

    def problem(self) -> str | None:
        """What is inconsistent inside the record itself (None: nothing)."""
        if len(self.frontier) != bin(self.size).count("1"):
            return "the head record's frontier does not fit its size"
        if _root(list(self.frontier)) != self.root:
            return "the head record's root does not match its frontier"
        return None

    def encode(self) -> tuple[int, bytes, bytes, bytes, int, int, int, bytes | None,
                              bytes | None]:
        """The row in :data:`COLUMNS` order."""
        return (self.size, self.last_hash, self.root, b"".join(self.frontier),
                self.timestamp_ns, self.checked, self.imported, self.signature,
                self.public_key)

    @classmethod
    def decode(cls, row: tuple) -> StoredHead:
        """A head from its row; ``ValueError`` if the row cannot be one."""
        size, last, root, frontier, timestamp, checked, imported, signature, public_key = row
        try:
            last, root, frontier = bytes(last), bytes(root), bytes(frontier)
            if not all(isinstance(n, int) and n >= 0 for n in (size, checked, imported)):
                raise TypeError("size, checked and imported must be non-negative integers")
            if len(last) != HASH_SIZE or len(root) != HASH_SIZE or len(frontier) % HASH_SIZE:
                raise ValueError("hashes of the wrong length")
            nodes = tuple(frontier[i:i + HASH_SIZE] for i in range(0, len(frontier),
                                                                    HASH_SIZE))
            return cls(size, last, root, nodes, int(timestamp), checked, imported,
                       None if signature is None else bytes(signature),
                       None if public_key is None else bytes(public_key))
        except (TypeError, ValueError) as err:
            raise ValueError(f"the head record does not decode: {err}") from None


def _root(stack: list[bytes]) -> bytes:
    if not stack:
        return EMPTY_ROOT
    root = stack[-1]
    for node in reversed(stack[:-1]):
        root = node_hash(node, root)
    return root


def next_head(old: StoredHead | None, size: int, last_hash: bytes,
              entry_hashes: Iterable[bytes], signer: Ed25519PrivateKey | None,
              where: str, *, imported: bool = False) -> StoredHead:
    """The head a write commits: ``old`` (read in the write's transaction) advanced by the
    new entries. Refused (:class:`~ocrr.errors.LedgerIntegrityError`) unless ``old``
    describes the entries the write found (``size``, ``last_hash``): nothing is appended to
    a ledger whose stored entries and head disagree."""
    if old is None:
        raise LedgerIntegrityError(where, None, "the ledger has no head record: it was "
                                   "removed, or the ledger predates head records ('ocrr "
                                   "ledger adopt' records one after a full verification)")
    if old.size != size or old.last_hash != last_hash:
        raise LedgerIntegrityError(where, min(old.size, size), (
            f"the entries ({size}, last hash {last_hash.hex()[:16]}) do not match the head "
            f"record ({old.size}, last hash {old.last_hash.hex()[:16]})"))
    return old.advance(entry_hashes, signer, imported=imported)
