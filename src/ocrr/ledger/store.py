"""The interface durable stores implement, beyond :class:`~ocrr.ledger.ledger.EntryStore`.

Why a write *callback*: with SQLite opened by several processes, or PostgreSQL shared by
several hosts, the ledger's head can move between reading it and appending. A store's
:meth:`DurableStore.write` therefore takes the write lock, reads the real head, and only
then lets the ledger build (number, chain, seal) the entries it will insert — all in one
transaction, so an append is either wholly there after a crash or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ocrr.ledger.entry import Entry
from ocrr.ledger.keys import SubjectKey


@dataclass(frozen=True)
class Tip:
    """The store's last entry as seen inside a write: its size and last hash."""

    size: int
    head_hash: bytes


@dataclass
class Batch:
    """What one write commits atomically: entries (seq ``tip.size`` onwards, in order), the
    subject keys they need, and the keys an erasure destroys."""

    entries: list[Entry]
    new_keys: list[SubjectKey] = field(default_factory=list)
    destroyed: list[str] = field(default_factory=list)
    dim: int | None = None
    """Set when this write fixes the ledger's vector dimension (its first example)."""


class WriteView(Protocol):
    """What the ledger may read inside a write transaction."""

    tip: Tip
    dim: int | None

    def find_key(self, subject: str) -> SubjectKey | None: ...
    def seqs_for_key(self, key_id: str) -> list[int]: ...


@dataclass(frozen=True)
class CorruptRow:
    """A stored row that does not decode to an entry (tampered bytes, wrong types)."""

    seq: int
    reason: str


class CorruptLedgerError(ValueError):
    """Reading met a row that is not a valid entry; ``ocrr ledger verify`` says which."""

    def __init__(self, row: CorruptRow) -> None:
        super().__init__(f"entry {row.seq} is corrupt: {row.reason}")
        self.seq = row.seq


@runtime_checkable
class DurableStore(Protocol):
    """An on-disk (or shared) store: atomic writes, streamed reads, a key table."""

    shared: bool
    """True where other processes may append too (the ledger then re-reads the head)."""

    def write(self, prepare: Callable[[WriteView], Batch]) -> Batch: ...
    def tip(self) -> Tip: ...
    def dim(self) -> int | None: ...
    def read(self, start: int = 0, stop: int | None = None) -> Iterator[Entry | CorruptRow]:
        """Rows in sequence order from ``start`` (all rows, strays included, when 0)."""
        ...
    def hashes(self, start: int, stop: int) -> list[bytes]: ...
    def key(self, key_id: str) -> bytes | None: ...
    def live_keys(self) -> dict[str, bytes]: ...
    def close(self) -> None: ...
    def __len__(self) -> int: ...
    def __getitem__(self, seq: int) -> Entry: ...
    def __iter__(self) -> Iterator[Entry]: ...
