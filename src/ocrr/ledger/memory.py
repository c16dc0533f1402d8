"""The in-memory store: a Python list of entries and a dict of subject keys.

It implements the same :class:`~ocrr.ledger.store.EntryStore` protocol as SQLite and
PostgreSQL: a write runs the ledger's callback on the current head and applies the batch it
returns. With one writer and nothing to flush, that is a few list operations, which keeps
``Ledger()`` (the default) at a few microseconds an append.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ocrr.ledger.entry import EXAMPLE, GENESIS_HASH, SEALED_KEY, Entry
from ocrr.ledger.head import StoredHead
from ocrr.ledger.keys import MemoryKeys, SubjectKey
from ocrr.ledger.store import Batch, CorruptRow, Link, OverEntries, Tip, WriteView, extending


class _View:
    """The memory store as a write sees it: the head now, the dimension, the keys."""

    __slots__ = ("_store", "dim", "tip")

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self.tip = Tip(0, GENESIS_HASH)
        self.dim: int | None = None

    def find_key(self, subject: str) -> SubjectKey | None:
        return self._store.subject_keys.find(subject)

    def seqs_for_key(self, key_id: str) -> list[int]:
        return [e.seq for e in self._store.entries if e.provenance.get(SEALED_KEY) == key_id]


class MemoryStore(OverEntries):
    """Entries in a Python list, subject keys in memory: the default store.

    The list is ``entries`` (the test suite tampers with it directly, to check that
    ``verify`` notices). Sealed entries are kept in their stored form, so erasing a subject
    leaves no plaintext here either. One process, one writer: ``shared`` is False.

    Examples
    --------
    >>> import numpy as np
    >>> from ocrr.ledger import Ledger, MemoryStore
    >>> store = MemoryStore()
    >>> ledger = Ledger(store)
    >>> entry = ledger.append("greeting", np.ones(3), provenance={"source": "fit"})
    >>> len(store), store.tip().size, store.dim()
    (1, 1, 3)
    >>> store[0] is entry and store.hashes(0, 1) == [entry.entry_hash]
    True
    >>> Ledger(store).head() == ledger.head()  # a second ledger on it sees the same chain
    True
    """

    shared = False
    numbered = False
    durable = False  # nothing rests anywhere between processes: no head record to keep

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self.subject_keys = MemoryKeys()
        self.meta: dict[str, str] = {}  # what SQLite and PostgreSQL keep in a meta table
        self._dim: int | None = None
        self._view = _View(self)  # refreshed by each write

    # -- writing ---------------------------------------------------------------------------
    def write(self, prepare: Callable[[WriteView], Batch]) -> Batch:
        """Run ``prepare`` on the current head, then keep what it returns (in that order:
        a refused batch leaves the store as it was)."""
        view, entries = self._view, self.entries
        view.tip = Tip(len(entries), entries[-1].entry_hash if entries else GENESIS_HASH)
        view.dim = self._dim if self._dim is not None else self.dim()
        batch = prepare(view)
        keys = self.subject_keys
        for key in batch.new_keys:
            keys.put(key)
        for entry in batch.entries:
            entries.append(entry if entry.sealed is None else entry.stored())
        for key_id in batch.destroyed:
            keys.destroy(key_id)
        if batch.dim is not None and self._dim is None:
            self._dim = batch.dim
        return batch

    def append(self, entry: Entry) -> None:
        """Append one already-built entry (import): it must extend the current head."""
        self.write(extending(entry))

    # -- reading ---------------------------------------------------------------------------
    def tip(self) -> Tip:
        entries = self.entries
        return Tip(len(entries), entries[-1].entry_hash if entries else GENESIS_HASH)

    def dim(self) -> int | None:
        """The dimension of the first example with a vector (sealed ones are stored
        without), or the one a write fixed."""
        if self._dim is None:
            self._dim = next((int(e.vector.shape[0]) for e in self.entries
                              if e.kind == EXAMPLE and e.vector.shape[0]), None)
        return self._dim

    def read(self, start: int = 0, stop: int | None = None) -> Iterator[Entry | CorruptRow]:
        return iter(self.entries[start:stop])

    def rows(self) -> Iterator[Entry | CorruptRow]:
        """The list as it is, position by position."""
        return iter(self.entries)

    def hashes(self, start: int, stop: int) -> list[bytes]:
        return [entry.entry_hash for entry in self.entries[start:stop]]

    def key(self, key_id: str) -> bytes | None:
        return self.subject_keys.get(key_id)

    def export_keys(self) -> list[SubjectKey]:
        """Every live subject key with its subject (a namespace export's ``--with-keys``)."""
        return sorted(self.subject_keys, key=lambda k: k.key_id)

    def live_keys(self) -> dict[str, bytes]:
        return {key.key_id: key.key for key in self.subject_keys}

    def meta_value(self, name: str) -> str | None:
        return self.meta.get(name)

    def set_meta(self, name: str, value: str) -> None:
        self.meta[name] = value

    def head_record(self) -> StoredHead | None:
        """None: a memory ledger keeps no head record (nothing of it outlives the process)."""
        return None

    def links(self) -> Iterator[list[Link]]:
        yield [(e.seq, e.prev_hash, e.entry_hash) for e in self.entries]

    def sealed_key_ids(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for entry in self.entries:
            key_id = entry.provenance.get(SEALED_KEY)
            if key_id is not None and key_id not in found:
                found[key_id] = entry.seq
        return found

    def of_kind(self, kind: str) -> list[Entry | CorruptRow]:
        return [e for e in self.entries if e.kind == kind and kind != EXAMPLE]

    def mark_checked(self, size: int) -> None:
        """Nothing to note: there is no head record."""

    def put_head(self, head: StoredHead) -> None:
        """Nothing to keep: there is no head record."""

    def close(self) -> None:
        """Nothing to release."""
