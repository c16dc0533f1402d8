"""The reads SQLite and PostgreSQL stores share: the same queries, page by page.

Why one implementation: the two stores keep the same tables (``entries``, the subject keys,
``meta``) and read them with the same SQL; they differ only in the driver's placeholder
(``?`` or ``%s``), the tables' names (a PostgreSQL schema prefixes them), how a query runs
(a connection's ``execute`` or a cursor) and how the entry columns are selected (SQLite
casts text to bytes). A store supplies those four (:meth:`SQLReads._q`,
:meth:`SQLReads._fetch`, :meth:`SQLReads._select`); this mixin turns them into the reading
half of :class:`~ocrr.ledger.store.EntryStore`.

Paging: a range is read ``_PAGE`` rows at a time by sequence number (``seq >= start ...
LIMIT``), so a long ledger streams in constant memory and each page is one index range
scan; the last page is the one shorter than ``_PAGE`` (or ending at the largest number).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from ocrr.ledger import rows
from ocrr.ledger.entry import Entry
from ocrr.ledger.keys import SubjectKey
from ocrr.ledger.store import CorruptLedgerError, CorruptRow

_PAGE = 4096
_FIRST = -(2**63)  # the smallest sequence number a row can hold (strays are negative)
_LAST = 2**63 - 1


class SQLReads:
    """Entry and key reads over an SQL store's tables, for stores that supply the driver.

    The store names its tables and placeholder in :meth:`_q` (format fields ``{entries}``,
    ``{keys}``, ``{meta}``, ``{p}``), runs a query and returns all its rows in
    :meth:`_fetch`, and gives the SELECT of the entry columns in :meth:`_select`.

    Examples
    --------
    The SQLite store is one such store:

    >>> import tempfile, numpy as np
    >>> from ocrr.ledger import Ledger
    >>> from ocrr.ledger.sqlite import SQLiteStore
    >>> folder = tempfile.TemporaryDirectory()
    >>> store = SQLiteStore(f"{folder.name}/ledger.db")
    >>> isinstance(store, SQLReads)
    True
    >>> with Ledger(store) as ledger:
    ...     _ = ledger.append("a", np.ones(2)); _ = ledger.append("b", np.ones(2))
    ...     [entry.label for entry in store.read(0, 2)], store[1].label
    (['a', 'b'], 'b')
    >>> folder.cleanup()
    """

    _size: int

    def _q(self, sql: str) -> str:
        """``sql`` with the store's table names and placeholder filled in."""
        raise NotImplementedError(f"{type(self).__name__} must say its tables and placeholder")

    def _fetch(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        """Every row of ``sql`` (already through :meth:`_q`), run under the store's lock."""
        raise NotImplementedError(f"{type(self).__name__} must say how it runs a query")

    def _select(self) -> str:
        """``SELECT`` of :data:`ocrr.ledger.rows.COLUMNS` ``FROM`` the entries table."""
        raise NotImplementedError(f"{type(self).__name__} must say how it selects entries")

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, seq: int) -> Entry:
        found = self._fetch(self._select() + self._q(" WHERE seq = {p}"), (seq,))
        if not found:
            raise IndexError(f"no entry with sequence number {seq}")
        entry = rows.decode(found[0])
        if isinstance(entry, CorruptRow):
            raise CorruptLedgerError(entry)
        return entry

    def read(self, start: int = 0, stop: int | None = None) -> Iterator[Entry | CorruptRow]:
        stop = self._size if stop is None else stop
        return self._pages(" WHERE seq >= {p} AND seq < {p} ORDER BY seq LIMIT {p}", start, stop)

    def rows(self) -> Iterator[Entry | CorruptRow]:
        """Every row in sequence order, strays (negative numbers) included: for verify."""
        return self._pages(" WHERE seq >= {p} ORDER BY seq LIMIT {p}", _FIRST, None)

    def _pages(self, where: str, start: int, stop: int | None) -> Iterator[Entry | CorruptRow]:
        sql = self._select() + self._q(where)
        while True:
            args = (start, _PAGE) if stop is None else (start, stop, _PAGE)
            page = self._fetch(sql, args)
            for row in page:
                yield rows.decode(row)
            if len(page) < _PAGE or page[-1][0] >= _LAST:
                return
            start = page[-1][0] + 1

    def __iter__(self) -> Iterator[Entry]:
        for entry in self.read(0, self._size):
            if isinstance(entry, CorruptRow):
                raise CorruptLedgerError(entry)
            yield entry

    def of_kind(self, kind: str) -> list[Entry | CorruptRow]:
        """The stored entries of one kind other than examples (tombstones, revocations)."""
        found = self._fetch(self._select() + self._q(" WHERE kind = {p} AND kind <> 'example' "
                                                     "ORDER BY seq"), (kind,))
        return [rows.decode(row) for row in found]

    def hashes(self, start: int, stop: int) -> list[bytes]:
        found = self._fetch(self._q("SELECT entry_hash FROM {entries} WHERE seq >= {p} AND "
                                    "seq < {p} ORDER BY seq"), (start, stop))
        return [bytes(r[0]) for r in found]

    def meta_value(self, name: str) -> str | None:
        found = self._fetch(self._q("SELECT value FROM {meta} WHERE name = {p}"), (name,))
        return str(found[0][0]) if found else None

    def dim(self) -> int | None:
        found = self.meta_value("dim")
        return None if found is None else int(found)

    def key(self, key_id: str) -> bytes | None:
        found = self._fetch(self._q("SELECT key FROM {keys} WHERE key_id = {p}"), (key_id,))
        return bytes(found[0][0]) if found else None

    def export_keys(self) -> list[SubjectKey]:
        """Every live subject key with its subject (a namespace export's ``--with-keys``)."""
        return [SubjectKey(r[0], r[1], bytes(r[2])) for r in self._fetch(
            self._q("SELECT key_id, subject, key FROM {keys} ORDER BY key_id"))]

    def live_keys(self) -> dict[str, bytes]:
        return {r[0]: bytes(r[1]) for r in self._fetch(self._q("SELECT key_id, key FROM {keys}"))}

    def sealed_key_ids(self) -> dict[str, int]:
        """Each key id sealed entries name, with the first such entry's sequence number."""
        return dict(self._fetch(self._q("SELECT key_id, MIN(seq) FROM {entries} "
                                        "WHERE key_id IS NOT NULL GROUP BY key_id")))
