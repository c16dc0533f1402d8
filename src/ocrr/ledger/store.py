"""The store layer: what every place that keeps a ledger's entries implements.

A store keeps entries in order and the subject keys beside them; the log above it
(:mod:`ocrr.ledger.log`) numbers, chains, seals and hashes them. The memory store
(:mod:`ocrr.ledger.memory`), SQLite (:mod:`ocrr.ledger.sqlite`) and PostgreSQL
(:mod:`ocrr.ledger.postgres`) all implement :class:`EntryStore`, so the log has one code path
for all three.

Why a write *callback*: with SQLite opened by several processes, or PostgreSQL shared by
several hosts, the ledger's head can move between reading it and appending. A store's
:meth:`EntryStore.write` therefore takes the write lock, reads the real head, and only
then lets the ledger build (number, chain, seal) the entries it will insert — all in one
transaction, so an append is either wholly there after a crash or not at all. The memory
store runs the same callback on its list (it has one writer, so no lock to take).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol, runtime_checkable

from ocrr.ledger.entry import Entry
from ocrr.ledger.head import StoredHead
from ocrr.ledger.keys import SubjectKey

Link = tuple[int, bytes, bytes]
"""A row's (seq, prev_hash, entry_hash): what the chain check at open reads."""


@dataclass(frozen=True, slots=True)
class Run:
    """Rows ``start``, ``start + 1``, ... with no gap, as two columns: what a numbered
    store hands the chain check where it can vouch for the numbers, saving a column.

    Examples
    --------
    >>> run = Run(0, (bytes(32),), (b"h" * 32,))
    >>> run.rows()[0][0], len(run)
    (0, 1)
    """

    start: int
    prevs: tuple[bytes, ...]
    digests: tuple[bytes, ...]

    def __len__(self) -> int:
        return len(self.digests)

    def rows(self) -> list[Link]:
        return [(self.start + i, p, h)
                for i, (p, h) in enumerate(zip(self.prevs, self.digests, strict=True))]


class Tip(NamedTuple):
    """The store's last entry as seen inside a write: its size and last hash (a tuple: one
    is made per write, so it must cost next to nothing).

    Examples
    --------
    >>> from ocrr.ledger import GENESIS_HASH, MemoryStore
    >>> MemoryStore().tip() == Tip(0, GENESIS_HASH)
    True
    """

    size: int
    head_hash: bytes


@dataclass(slots=True)
class Batch:
    """What one write commits atomically: entries (seq ``tip.size`` onwards, in order), the
    subject keys they need, and the keys an erasure destroys.

    Examples
    --------
    A write's ``prepare`` callback builds one on the head it is shown:

    >>> import numpy as np
    >>> from ocrr.ledger import Ledger, MemoryStore
    >>> from ocrr.ledger.store import extending
    >>> entry = Ledger().append("greeting", np.ones(3))  # built on the empty head
    >>> store = MemoryStore()
    >>> batch = store.write(extending(entry))
    >>> batch.entries == [entry] and len(store) == 1
    True
    """

    entries: list[Entry]
    new_keys: Sequence[SubjectKey] = ()
    destroyed: Sequence[str] = ()
    dim: int | None = None
    """Set when this write fixes the ledger's vector dimension (its first example)."""
    imported: bool = False
    """The entries come from an export: sealed ones arrive without their keys."""


class WriteView(Protocol):
    """What the ledger may read inside a write transaction."""

    tip: Tip
    dim: int | None

    def find_key(self, subject: str) -> SubjectKey | None: ...
    def seqs_for_key(self, key_id: str) -> list[int]: ...


@dataclass(frozen=True)
class CorruptRow:
    """A stored row that does not decode to an entry (tampered bytes, wrong types).

    Examples
    --------
    >>> row = CorruptRow(7, "row does not decode: invalid UTF-8")
    >>> str(CorruptLedgerError(row))
    'entry 7 is corrupt: row does not decode: invalid UTF-8'
    """

    seq: int
    reason: str


class CorruptLedgerError(ValueError):
    """Reading met a row that is not a valid entry; ``ocrr ledger verify`` says which.

    Examples
    --------
    >>> CorruptLedgerError(CorruptRow(3, "broken JSON")).seq
    3
    """

    def __init__(self, row: CorruptRow) -> None:
        super().__init__(f"entry {row.seq} is corrupt: {row.reason}")
        self.seq = row.seq


@runtime_checkable
class EntryStore(Protocol):
    """Where a ledger's entries and subject keys live: atomic writes, ordered reads.

    The ledger owns numbering, chaining, sealing, hashing and validation; a store keeps
    what one :meth:`write` hands it, whole or not at all, and reads it back in order.

    Examples
    --------
    Every store implements the whole protocol, the memory store included:

    >>> from ocrr.ledger import EntryStore, MemoryStore
    >>> from ocrr.ledger.sqlite import SQLiteStore
    >>> isinstance(MemoryStore(), EntryStore)
    True
    >>> sorted({"write", "rows", "tip", "hashes", "live_keys"} - set(dir(SQLiteStore)))
    []
    """

    shared: bool
    """True where other processes may append too (the ledger then re-reads the head)."""
    numbered: bool
    """True where rows are found by sequence number (a table: :meth:`rows` come sorted by
    it, so a gap is a missing entry and a number below zero a stray row); False where a
    row's place is its position (a list: an entry out of place is reported there)."""
    durable: bool
    """True where entries rest on disk between processes, with a head record beside them
    (checked when the ledger opens); False for the memory store."""

    def write(self, prepare: Callable[[WriteView], Batch]) -> Batch:
        """Run ``prepare`` on the current head under the write lock; commit what it returns
        (the entries, new subject keys, destroyed keys, the dimension) in one transaction."""
        ...

    def append(self, entry: Entry) -> None:
        """Append one already-built entry (an import): it must extend the current head."""
        ...

    def tip(self) -> Tip:
        """Size and last hash, read now (other processes' appends included)."""
        ...

    def dim(self) -> int | None:
        """The vector dimension the first example fixed (None before it)."""
        ...

    def read(self, start: int = 0, stop: int | None = None) -> Iterator[Entry | CorruptRow]:
        """Entries ``start`` to ``stop`` in sequence order, in their stored (sealed) form."""
        ...

    def rows(self) -> Iterator[Entry | CorruptRow]:
        """Every stored row, as stored (strays and gaps included): what ``verify`` walks."""
        ...

    def hashes(self, start: int, stop: int) -> list[bytes]:
        """The entry hashes of ``start`` to ``stop``: the Merkle tree's leaves."""
        ...

    def key(self, key_id: str) -> bytes | None:
        """A live subject key's bytes (None once destroyed)."""
        ...

    def live_keys(self) -> dict[str, bytes]:
        """Every live subject key by id (read once when a ledger opens)."""
        ...

    def meta_value(self, name: str) -> str | None:
        """A named setting kept beside the entries (None: not set), such as ``dim``."""
        ...

    def set_meta(self, name: str, value: str) -> None:
        """Set a named setting (the id of the separate key store the keys are bound to)."""
        ...

    def head_record(self) -> StoredHead | None:
        """The head record written with the last write (None: there is none)."""
        ...

    def links(self) -> Iterator[list[Link] | Run]:
        """(seq, prev_hash, entry_hash) of every stored row in order, strays included, in
        pages: lists of rows, or :class:`Run` where the numbers are known to run on."""
        ...

    def sealed_key_ids(self) -> dict[str, int]:
        """Each key id that sealed entries name, with the first such entry's number."""
        ...

    def of_kind(self, kind: str) -> list[Entry | CorruptRow]:
        """Every stored entry of one kind that is not ``example`` (say, the tombstones)."""
        ...

    def mark_checked(self, size: int) -> None:
        """Note in the head record that the first ``size`` entries were re-hashed."""
        ...

    def put_head(self, head: StoredHead) -> None:
        """Replace the head record (only after a full verification: ``Ledger.adopt``)."""
        ...

    def close(self) -> None: ...
    def __len__(self) -> int: ...
    def __getitem__(self, seq: int) -> Entry: ...
    def __iter__(self) -> Iterator[Entry]: ...


class _Entries(Protocol):
    def __len__(self) -> int: ...
    def __getitem__(self, seq: int) -> Entry: ...
    def __iter__(self) -> Iterator[Entry]: ...


class OverEntries:
    """``len``, ``store[seq]`` and iteration for a store whose ``entries`` holds the entries
    in order (the memory store's list, the split store's entry store).

    Examples
    --------
    >>> import numpy as np
    >>> from ocrr.ledger import Ledger, MemoryStore
    >>> store = MemoryStore()
    >>> _ = Ledger(store).append("a", np.ones(2))
    >>> isinstance(store, OverEntries), len(store), store[0].label, [e.seq for e in store]
    (True, 1, 'a', [0])
    """

    entries: _Entries

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, seq: int) -> Entry:
        return self.entries[seq]

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries)


DurableStore = EntryStore
"""The former name of the on-disk stores' interface, now the one every store implements."""


def extending(entry: Entry) -> Callable[[WriteView], Batch]:
    """The write behind every store's :meth:`~EntryStore.append`: one already-built entry,
    refused (``ValueError``) unless it extends the head the write finds."""

    def prepare(view: WriteView) -> Batch:
        if entry.seq != view.tip.size or entry.prev_hash != view.tip.head_hash:
            raise ValueError(f"entry {entry.seq} does not extend the store's head")
        return Batch([entry])

    return prepare
