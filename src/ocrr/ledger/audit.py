"""The audit layer: re-verify what a store holds, and check proofs against kept heads.

Three checks, each usable without trusting whoever runs the ledger:

- :func:`verify_store` re-hashes every stored row and walks the chain, optionally against a
  head kept earlier (a :class:`~ocrr.ledger.log.ChainHead`, a tree head or a signed one);
- :func:`check_inclusion` checks an inclusion proof: its leaf against an entry hash, its path
  up to its root, and its tree against a kept head;
- :func:`check_extends` checks that a ledger still extends a tree head kept earlier: not
  truncated, a consistency proof that holds, and stored contents that re-hash.

``ocrr ledger verify``, ``check-proof`` and ``check-consistency`` and the console's entry
page print what these return.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from ocrr.ledger.entry import GENESIS_HASH, Entry
from ocrr.ledger.integrity import entry_problem, key_problems
from ocrr.ledger.log import ChainHead
from ocrr.ledger.merkle import (
    ConsistencyProof,
    InclusionProof,
    MerkleTree,
    leaf_hash,
    verify_consistency,
)
from ocrr.ledger.signing import SignedTreeHead, TreeHead
from ocrr.ledger.store import CorruptRow, EntryStore

KeptHead = ChainHead | TreeHead | SignedTreeHead


@dataclass(frozen=True)
class Verification:
    """The outcome of :func:`verify_store`: ``ok``, the size walked, and where it broke.

    Examples
    --------
    >>> from ocrr.ledger import Ledger
    >>> result = Ledger().verify()
    >>> bool(result), result.size, result.first_bad_seq
    (True, 0, None)
    """

    ok: bool
    size: int
    first_bad_seq: int | None = None
    reason: str = ""

    def __bool__(self) -> bool:
        return self.ok


def unsigned(head: TreeHead | SignedTreeHead) -> TreeHead:
    """The tree head itself (a signed head's signature is checked where it is loaded)."""
    return head.head if isinstance(head, SignedTreeHead) else head


def verify_store(store: EntryStore, head: KeptHead | None = None) -> Verification:
    """Re-hash every stored row and walk the chain; report the first bad sequence number.

    A mutated field breaks that entry's own hash; a deleted, reordered or inserted entry
    shows up as a sequence number or ``prev_hash`` out of place. A truncated tail leaves a
    valid shorter chain, so it is only detectable against a ``head`` kept earlier: a
    :class:`~ocrr.ledger.log.ChainHead`, or a (signed) tree head, whose Merkle root is
    recomputed. The rows are read from the store, so this checks what is stored. Last, the
    subject keys (:func:`~ocrr.ledger.integrity.key_problems`): a sealed entry whose key
    is gone with no tombstone recording the erasure is reported at that entry.

    Examples
    --------
    >>> import numpy as np
    >>> from ocrr.ledger import Ledger
    >>> ledger = Ledger()
    >>> for i in range(4):
    ...     _ = ledger.append(f"label-{i}", np.ones(3))
    >>> kept = ledger.tree_head()
    >>> verify_store(ledger.store, kept).ok
    True
    >>> del ledger.store.entries[2:]  # truncate the tail: a shorter chain, still valid
    >>> verify_store(ledger.store).ok, verify_store(ledger.store, kept).reason
    (True, 'ledger truncated: 2 entries, the kept head has 4')
    """
    if isinstance(head, SignedTreeHead):
        head = head.head
    tree = MerkleTree() if isinstance(head, TreeHead) else None
    rows: Iterable[Entry | CorruptRow] = store.rows()
    numbered = store.numbered
    dim = store.dim()
    prev = GENESIS_HASH
    position = 0
    stray: int | None = None
    kept_hash = None
    for entry in rows:
        if numbered and entry.seq < position:
            # sorted by sequence number, so a number below the expected one is negative:
            # a row that belongs nowhere in the chain (it cannot hide a gap: see below)
            stray = entry.seq if stray is None else stray
            continue
        if entry.seq != position:
            if numbered:
                reason = f"entry {position} is missing (next is {entry.seq})"
            else:
                reason = f"position {position} holds sequence number {entry.seq}"
            return Verification(False, len(store), position, reason)
        if isinstance(entry, CorruptRow):
            return Verification(False, len(store), position,
                                f"entry {position}: {entry.reason}")
        if entry.prev_hash != prev:
            return Verification(
                False,
                len(store),
                position,
                f"entry {position}: prev_hash does not match entry {position - 1}'s hash",
            )
        problem = entry_problem(entry, dim)
        if problem is not None:
            return Verification(False, len(store), position, f"entry {position}: {problem}")
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
    keys = key_problems(store)
    if keys is not None:
        return Verification(False, size, keys[0], keys[1])
    return Verification(True, size)


def check_inclusion(
    proof: InclusionProof,
    *,
    entry_hash: bytes | None = None,
    head: TreeHead | SignedTreeHead | None = None,
) -> list[str]:
    """What is wrong with an inclusion proof (an empty list: nothing).

    With ``entry_hash``, the proof's leaf must be that entry's leaf hash; the path must lead
    from the leaf to the proof's root; with ``head``, the proof must be for that head's tree.

    Examples
    --------
    >>> import numpy as np
    >>> from ocrr.ledger import Ledger
    >>> ledger = Ledger()
    >>> entries = [ledger.append(f"label-{i}", np.ones(3)) for i in range(5)]
    >>> head, proof = ledger.tree_head(), ledger.prove(3)
    >>> check_inclusion(proof, entry_hash=entries[3].entry_hash, head=head)
    []
    >>> check_inclusion(proof, entry_hash=entries[2].entry_hash)
    ["the leaf hash is not the entry hash's"]
    """
    problems = []
    if entry_hash is not None and leaf_hash(entry_hash) != proof.leaf_hash:
        problems.append("the leaf hash is not the entry hash's")
    if not proof.verify():
        problems.append("the path does not lead from the leaf to the root")
    if head is not None:
        head = unsigned(head)
        if (head.size, head.root_hash) != (proof.tree_size, proof.root_hash):
            problems.append(f"the proof is for a tree of {proof.tree_size} entries with root "
                            f"{proof.root_hash.hex()}, not the head's")
    return problems


class Audited(Protocol):
    """What :func:`check_extends` reads from a ledger."""

    def __len__(self) -> int: ...
    def prove_consistency(self, old_size: int, size: int | None = None) -> ConsistencyProof: ...
    def verify(self, head: KeptHead | None = None) -> Verification: ...


@dataclass(frozen=True)
class Extension:
    """The outcome of :func:`check_extends`: ``ok``, or what went wrong in ``reason``.

    ``consistent`` says whether a consistency proof from the kept head verifies (False when
    the ledger was truncated below it, or rewritten); ``proof`` is that proof and ``stored``
    the re-verification of the stored entries against the head (both None when truncated).

    Examples
    --------
    >>> from ocrr.ledger import Ledger
    >>> ledger = Ledger()
    >>> check = check_extends(ledger, ledger.tree_head())
    >>> check.ok, check.consistent, check.old.size, check.stored.ok
    (True, True, 0, True)
    """

    ok: bool
    old: TreeHead
    consistent: bool
    reason: str = ""
    proof: ConsistencyProof | None = None
    stored: Verification | None = None


def check_extends(ledger: Audited, old: TreeHead | SignedTreeHead) -> Extension:
    """Whether ``ledger`` still extends the tree head ``old`` kept earlier.

    Not truncated below it; a consistency proof from it to today's tree that verifies (the
    first ``old.size`` entries are the ones it covered); and stored contents that re-hash to
    it (the proof covers stored hashes; :func:`verify_store`, the contents).

    Examples
    --------
    >>> import numpy as np
    >>> from ocrr.ledger import Ledger
    >>> ledger = Ledger()
    >>> for i in range(3):
    ...     _ = ledger.append(f"label-{i}", np.ones(3))
    >>> kept = ledger.tree_head()
    >>> _ = ledger.append("later", np.ones(3))
    >>> check_extends(ledger, kept).ok
    True
    >>> del ledger.store.entries[1:]
    >>> check_extends(Ledger(ledger.store), kept).reason
    'the ledger has 1 entries, fewer than the 3 the old head covers: it was truncated'
    """
    old = unsigned(old)
    size = len(ledger)
    if old.size > size:
        return Extension(False, old, False, f"the ledger has {size} entries, fewer than the "
                                            f"{old.size} the old head covers: it was truncated")
    proof = ledger.prove_consistency(old.size)
    stored = ledger.verify(old)
    if not verify_consistency(old.size, proof.new_size, old.root_hash, proof.new_root,
                              proof.path):
        reason = (f"the ledger's first {old.size} entries are not the ones the old head "
                  f"covered (root now {proof.old_root.hex()}, head says "
                  f"{old.root_hash.hex()}): history was rewritten")
        return Extension(False, old, False, reason, proof, stored)
    if not stored.ok:
        return Extension(False, old, True, f"entry {stored.first_bad_seq}: {stored.reason}",
                         proof, stored)
    return Extension(True, old, True, "", proof, stored)
