"""The check a durable ledger passes before it is served, and the full check behind it.

Why at open: a ledger edited at rest (a label changed with SQL, a row deleted, a key
removed) used to be served as it was until someone ran ``verify``. Now :func:`check_at_open`
compares the stored entries with the head record kept beside them (:mod:`ocrr.ledger.head`,
signed when a key is configured) and refuses the ledger with
:class:`~ocrr.errors.LedgerIntegrityError`, naming the first bad sequence number.

What the fast check reads, and what it proves:

- the head record: consistent with itself (its frontier gives its root) and, with a pinned
  public key, signed by it;
- every row's (seq, prev_hash, entry_hash), from a covering index, never the vectors:
  sequence numbers 0..n-1 with no gap or stray, every link to the previous hash, and the
  size and last hash equal to the head's. So a deleted, inserted, reordered or truncated
  row, and any rewrite that recomputed hashes, is refused;
- the contents of the entries after the head's ``checked`` mark (those not yet re-hashed
  by a full check): re-hashed, vectors finite and of the ledger's dimension;
- the subject keys (:func:`key_problems`): a sealed entry whose key is gone with no
  tombstone, a key a tombstone destroyed still stored, a key that does not open its entries.

What it does not: re-hash the contents of entries before the ``checked`` mark (a field
edited in place there keeps every link). :func:`audited` does, entry by entry, as a
substrate reads them to rebuild its index (``Substrate.open`` always does), and so does
``verify``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import numpy as np

from ocrr.errors import LedgerIntegrityError
from ocrr.ledger import sealing
from ocrr.ledger.entry import ERASURE, EXAMPLE, GENESIS_HASH, SEALED_BLOB, Entry
from ocrr.ledger.head import StoredHead
from ocrr.ledger.merkle import HASH_SIZE
from ocrr.ledger.store import CorruptRow, EntryStore, Link, Run

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

Problem = tuple[int | None, str]
"""(first bad sequence number, what is wrong)."""


def where_of(store: EntryStore) -> str:
    """The ledger's name in messages: a file path, or the store's repr."""
    path = getattr(store, "path", None)
    return str(path) if path is not None else repr(store)


def check_at_open(store: EntryStore, *, public_key: Ed25519PublicKey | None = None,
                  full: bool = False) -> StoredHead | None:
    """Refuse (:class:`~ocrr.errors.LedgerIntegrityError`) a durable ledger whose stored
    entries do not match its head record; return the head. ``full`` re-hashes every entry.

    Examples
    --------
    >>> import tempfile, sqlite3, numpy as np
    >>> from ocrr.ledger import Ledger
    >>> folder = tempfile.TemporaryDirectory()
    >>> path = f"{folder.name}/l.db"
    >>> with Ledger.open(path) as ledger:
    ...     _ = [ledger.append(f"label-{i}", np.ones(3)) for i in range(3)]
    >>> with sqlite3.connect(path) as db:
    ...     _ = db.execute("DELETE FROM entries WHERE seq = 2")
    >>> Ledger.open(path, create=False)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ocrr.errors.LedgerIntegrityError: ledger .../l.db refused at open: entry 2: ledger truncated...
    >>> forensic = Ledger.open(path, read_only=True)  # for inspection: takes no writes
    >>> len(forensic), forensic.verify().first_bad_seq
    (2, 2)
    >>> forensic.close()
    >>> folder.cleanup()
    """
    if not store.durable:
        return None
    where = where_of(store)
    problem, head = _problem_at_open(store, public_key, full)
    if problem is not None:
        raise LedgerIntegrityError(where, *problem)
    if full and head is not None:
        store.mark_checked(head.size)
    return head


def _problem_at_open(store: EntryStore, public_key: Ed25519PublicKey | None,
                     full: bool) -> tuple[Problem | None, StoredHead | None]:
    problem, head = head_problem(store, public_key)
    if problem is None and head is not None:
        start = 0 if full else min(head.checked, head.size)
        problem = next((p for p in _entry_problems(store, start, head.size)), None)
    if problem is None:
        problem = key_problems(store)
    return problem, head


def head_problem(store: EntryStore, public_key: Ed25519PublicKey | None
                 ) -> tuple[Problem | None, StoredHead | None]:
    """What is wrong with the head record, or with the stored chain's agreement with it
    (signature, numbering, links, size, last hash); and the head record."""
    try:
        head = store.head_record()
    except ValueError as err:
        return (None, str(err)), None
    if head is None:
        return (None, "the ledger has no head record: it was removed, or the ledger predates "
                      "head records ('ocrr ledger adopt' records one after a full "
                      "verification)"), None
    trouble = head.problem()
    if trouble is not None:
        return (None, trouble), head
    if public_key is not None:
        signed = head.signed_tree_head()
        if signed is None or not signed.verify(public_key):
            return (None, "the head record is not signed by the pinned public key: it was "
                          "rewritten, or the ledger is written without the signing key"), head
    return chain_problem(store, store.links(), head), head


def chain_problem(store: EntryStore, pages: Iterable[list[Link] | Run],
                  head: StoredHead) -> Problem | None:
    """The first break in the stored chain, or in its agreement with ``head``.

    A page whose numbers run on, whose links all hold and whose hashes are all 32 bytes is
    checked with a few whole-page comparisons (in C: this is what makes a million links
    cost well under a second); any other page is walked row by row to name the first bad
    one."""
    position, last, stray = 0, GENESIS_HASH, None
    for page in pages:
        if not len(page):
            continue
        if isinstance(page, Run):
            if page.start == position and _links_hold(page.prevs, page.digests, last):
                position, last = position + len(page), page.digests[-1]
                continue
            page = page.rows()
        elif _page_holds(page, position, last, store.numbered):
            position, last = position + len(page), page[-1][2]
            continue
        for seq, prev, digest in page:
            if seq < position:  # sorted by number: below the expected one means negative
                stray = seq if stray is None else stray
                continue
            if seq != position:
                return position, f"entry {position} is missing (next is {seq})"
            if prev != last:
                return _blame(store, position,
                              "prev_hash does not match the previous entry's hash")
            if not isinstance(digest, bytes) or len(digest) != HASH_SIZE:
                return position, "its entry_hash is not a 32-byte hash"
            last, position = digest, position + 1
    if stray is not None:
        return stray, f"a row numbered {stray} is not part of the chain"
    if position < head.size:
        return position, (f"ledger truncated: {position} entries, the head record says "
                          f"{head.size}")
    if position > head.size:
        return head.size, (f"{position - head.size} entries beyond the head record: written "
                           "outside OCRR, or the head record was rolled back")
    if position and last != head.last_hash:
        return _blame(store, position - 1, "the last entry's hash differs from the head "
                                           "record's: the chain was rewritten")
    return None


def _page_holds(page: list[Link], position: int, last: bytes, numbered: bool) -> bool:
    seqs, prevs, digests = zip(*page, strict=True)
    if seqs[0] != position or seqs[-1] != position + len(page) - 1:
        return False  # numbered rows are unique and sorted: the ends say the rest is in place
    if not numbered and not np.array_equal(np.asarray(seqs),
                                           np.arange(position, position + len(page))):
        return False
    return _links_hold(prevs, digests, last)


def _links_hold(prevs: tuple[bytes, ...], digests: tuple[bytes, ...], last: bytes) -> bool:
    """Each prev_hash is the hash before it (the first: ``last``), each hash 32 bytes."""
    if prevs[0] != last or prevs[1:] != digests[:-1]:
        return False
    try:
        return len(b"".join(digests)) == HASH_SIZE * len(digests)
    except TypeError:  # a hash tampered into text
        return False


def _blame(store: EntryStore, seq: int, reason: str) -> Problem:
    """A link broke at ``seq``: if the entry before it no longer hashes to its stored hash,
    that entry is the one altered."""
    if seq > 0:
        earlier = next(iter(store.read(seq - 1, seq)), None)
        if earlier is not None and entry_problem(earlier, None) is not None:
            return seq - 1, "contents do not match its hash"
    return seq, reason


def entry_problem(entry: Entry | CorruptRow, dim: int | None, *,
                  finite: bool = True) -> str | None:
    """What is wrong with one stored entry on its own (None: nothing); ``finite=False``
    leaves the vector's values to a check of many vectors at once."""
    if isinstance(entry, CorruptRow):
        return entry.reason
    try:
        if entry.compute_hash() != entry.entry_hash:
            return "contents do not match its hash"
    except (TypeError, ValueError, AttributeError, OverflowError, struct.error):
        return "contents cannot be encoded to be hashed"
    if entry.kind == EXAMPLE and SEALED_BLOB not in entry.provenance:
        vector = entry.vector
        if dim is not None and vector.shape[0] != dim:
            return f"its vector has dimension {vector.shape[0]}, the ledger {dim}"
        if finite and not np.isfinite(vector).all():
            return "its vector holds NaN or infinity"
    return None


def _entry_problems(store: EntryStore, start: int, stop: int) -> Iterator[Problem]:
    dim = store.dim()
    for entry in store.read(start, stop):
        reason = entry_problem(entry, dim)
        if reason is not None:
            yield entry.seq, reason


def audited(store: EntryStore, size: int, dim: int | None) -> Iterator[Entry]:
    """Entries 0..size-1 as stored, each re-hashed, linked, numbered and its vector checked
    as it is read; the first bad one raises :class:`~ocrr.errors.LedgerIntegrityError`.
    Vectors are checked for NaN and infinity 4,096 entries at a time (one array operation,
    not one per entry), before those entries are handed out."""
    last = GENESIS_HASH
    position = 0
    held: list[Entry] = []
    for entry in store.read(0, size):
        reason = None
        if entry.seq != position:
            reason = f"entry {position} is missing (next is {entry.seq})"
        elif isinstance(entry, Entry) and entry.prev_hash != last:
            reason = "prev_hash does not match the previous entry's hash"
        else:
            reason = entry_problem(entry, dim, finite=False)
        if reason is not None:
            _check_finite(store, held)
            raise LedgerIntegrityError(where_of(store), position, reason)
        assert isinstance(entry, Entry)
        last, position = entry.entry_hash, position + 1
        held.append(entry)
        if len(held) == 4096:
            _check_finite(store, held)
            yield from held
            held = []
    _check_finite(store, held)
    yield from held
    if position != size:
        raise LedgerIntegrityError(where_of(store), position,
                                   f"ledger truncated: {position} entries, expected {size}")


def _check_finite(store: EntryStore, entries: list[Entry]) -> None:
    vectors = [e.vector for e in entries if e.kind == EXAMPLE and e.vector.size]
    if vectors and not np.isfinite(np.concatenate(vectors)).all():
        bad = next(e for e in entries if e.kind == EXAMPLE and not np.isfinite(e.vector).all())
        raise LedgerIntegrityError(where_of(store), bad.seq, "its vector holds NaN or infinity")


def key_problems(store: EntryStore) -> Problem | None:
    """The first subject key that is not as ``erase`` leaves keys: every sealed entry's key
    is either stored (and opens it) or destroyed by a tombstone, never both, never neither;
    the keys of entries that arrived by import (exports carry no keys) were never here.

    Examples
    --------
    >>> import numpy as np
    >>> from ocrr.ledger import Ledger
    >>> ledger = Ledger()
    >>> sealed = ledger.append("greeting", np.ones(3), subject="alice")
    >>> key_problems(ledger.store) is None
    True
    >>> ledger.store.subject_keys.destroy(sealed.key_id)  # gone without a tombstone
    >>> key_problems(ledger.store)[0]
    0
    """
    sealed = store.sealed_key_ids()
    if not sealed:
        return None
    erased: dict[str, int] = {}
    for tombstone in store.of_kind(ERASURE):
        if isinstance(tombstone, CorruptRow):
            return tombstone.seq, tombstone.reason
        erased.setdefault(tombstone.provenance.get("erases", ""), tombstone.seq)
    live = store.live_keys()
    head = store.head_record()
    imported = 0 if head is None else head.imported  # keys never exported: never here
    for key_id, seq in sorted(sealed.items(), key=lambda item: item[1]):
        if seq < imported and key_id not in live:
            continue
        if key_id in erased and key_id in live:
            return erased[key_id], (f"erasure entry {erased[key_id]} destroyed key "
                                    f"{key_id}, but the key is still stored (with a separate "
                                    "key store: an interrupted erase, or an older key backup; "
                                    "opening the ledger for writing destroys it)")
        if key_id not in erased and key_id not in live:
            return seq, (f"the key of sealed entry {seq} is gone and no erasure entry "
                         "records it: it was deleted outside erase()")
        if key_id in live and not _opens(store, seq, key_id, live[key_id]):
            return seq, (f"the stored key {key_id} does not open sealed entry {seq}: the key "
                         "was overwritten, or the entry altered")
    return None


def _opens(store: EntryStore, seq: int, key_id: str, key: bytes) -> bool:
    entry = next(iter(store.read(seq, seq + 1)), None)
    if not isinstance(entry, Entry) or SEALED_BLOB not in entry.provenance:
        return False
    try:
        aead = sealing.cipher(key)
    except ValueError:
        return False
    opened = sealing.unseal(aead, key_id, entry.provenance[SEALED_BLOB], seq=entry.seq,
                            kind=entry.kind, label=entry.label)
    return opened is not None
