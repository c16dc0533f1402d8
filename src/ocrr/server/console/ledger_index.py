"""What the console's ledger view and dashboard read: a light summary of every entry.

Why a summary beside the ledger: filtering by label, actor, subject or time, counting
corrections per day and entries per class all need every entry, and reading a ledger's
entries (vectors and all) for each page would cost a full scan per click. The summary keeps a
few fields per entry (no vectors, no texts), read once through the namespace's public
``entries`` pages and then only what was appended since. It is derived from the ledger alone:
revocations and erasures update the entries they name (an erased entry's actor and subject
are dropped here too), and renames (relabel entries) move a class's count to its new name.
"""

from __future__ import annotations

import sys
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ocrr.ledger import ERASURE, EXAMPLE, RELABEL, RETIRE, REVOCATION

if TYPE_CHECKING:
    from ocrr.server.namespace import Namespace

PAGE = 500


@dataclass(slots=True)
class Row:
    seq: int
    at_ns: int
    kind: str
    label: str
    actor: str | None
    subject: str | None
    source: str | None
    readable: bool
    active: bool | None
    class_id: int = -1


@dataclass(frozen=True)
class Match:
    rows: list[Row]
    total: int
    """Entries matching the filters, in all."""
    older: int | None
    """The ``before`` cursor of the next (older) page, None at the end."""


class LedgerIndex:
    """One namespace's entry summaries, caught up on each use."""

    def __init__(self) -> None:
        self.rows: list[Row] = []
        self._class_of: dict[str, int] = {}  # a current label -> its class
        self._names: dict[int, str] = {}  # class -> current name
        self._merged: dict[int, int] = {}  # class -> the class it was merged into
        self._lock = threading.Lock()

    def update(self, namespace: Namespace) -> int:
        """Read the entries appended since the last call; return the ledger's size."""
        with self._lock:
            start = len(self.rows)
            while True:
                page = namespace.entries(start, PAGE)
                for entry in page.entries:
                    self._take(entry)
                start = len(self.rows)
                if page.next is None:
                    return page.size

    def _take(self, entry) -> None:  # noqa: ANN001 - an EntryOut
        prov = entry.provenance
        source = prov.get("source")  # kind, label and source repeat: one copy each
        row = Row(entry.seq, entry.created_at_ns, sys.intern(entry.kind),
                  sys.intern(entry.label), prov.get("actor"), prov.get("subject"),
                  None if source is None else sys.intern(source), entry.readable,
                  entry.active)
        self.rows.append(row)
        if entry.kind == EXAMPLE:
            row.class_id = self._class(entry.label)
            row.active = True  # as it was appended; what follows revokes or erases it
        elif entry.kind == REVOCATION and prov.get("revokes", "").isdigit():
            target = int(prov["revokes"])
            if target < len(self.rows):
                self.rows[target].active = False
        elif entry.kind == ERASURE:
            for seq in filter(None, prov.get("seqs", "").split(",")):
                if seq.isdigit() and int(seq) < len(self.rows):
                    gone = self.rows[int(seq)]
                    gone.active, gone.readable = False, False
                    gone.actor = gone.subject = gone.source = None
        elif entry.kind == RETIRE and entry.label in self._class_of:
            retired = self._final(self._class_of.pop(entry.label))
            for earlier in self.rows:
                if earlier.class_id >= 0 and self._final(earlier.class_id) == retired:
                    earlier.active = False
        elif entry.kind == RELABEL and prov.get("from") in self._class_of:
            moved = self._class_of.pop(prov["from"])
            if entry.label in self._class_of:
                self._merged[moved] = self._class_of[entry.label]
            else:
                self._class_of[entry.label] = moved
                self._names[moved] = entry.label

    def _class(self, label: str) -> int:
        found = self._class_of.get(label)
        if found is None:
            found = self._class_of[label] = len(self._names)
            self._names[found] = label
        return found

    def _final(self, class_id: int) -> int:
        while class_id in self._merged:
            class_id = self._merged[class_id]
        return class_id

    # -- reading ---------------------------------------------------------------------------
    def class_counts(self) -> list[tuple[str, int]]:
        """Current classes and their voting examples, most first."""
        with self._lock:
            counts: Counter[int] = Counter()
            for row in self.rows:
                if row.kind == EXAMPLE and row.active:
                    counts[self._final(row.class_id)] += 1
            live = {self._final(c) for c in self._class_of.values()}
            out = [(self._names[c], counts.get(c, 0)) for c in live]
        return sorted(out, key=lambda pair: (-pair[1], pair[0]))

    def actors(self) -> list[str]:
        with self._lock:
            return sorted({r.actor for r in self.rows if r.actor})

    def subject_rows(self, subject: str) -> list[Row]:
        with self._lock:
            return [r for r in self.rows if r.subject == subject and r.readable]

    def find(
        self,
        *,
        label: str | None = None,
        actor: str | None = None,
        subject: str | None = None,
        kind: str | None = None,
        since_ns: int | None = None,
        until_ns: int | None = None,
        before: int | None = None,
        limit: int = 50,
    ) -> Match:
        """Entries matching every filter given, newest first, ``limit`` at most, starting
        below sequence number ``before``."""

        def keep(row: Row) -> bool:
            return ((label is None or row.label == label)
                    and (actor is None or row.actor == actor)
                    and (subject is None or row.subject == subject)
                    and (kind is None or row.kind == kind)
                    and (since_ns is None or row.at_ns >= since_ns)
                    and (until_ns is None or row.at_ns < until_ns))

        with self._lock:
            top = len(self.rows) if before is None else max(0, min(before, len(self.rows)))
            found: list[Row] = []
            total = 0
            older = None
            for row in _newest_first(self.rows, len(self.rows)):
                if not keep(row):
                    continue
                total += 1
                if row.seq < top:
                    if len(found) < limit:
                        found.append(row)
                    elif older is None:
                        older = found[-1].seq
        return Match(found, total, older)


def _newest_first(rows: list[Row], top: int) -> Iterator[Row]:
    for i in range(top - 1, -1, -1):
        yield rows[i]


class LedgerIndexes:
    """Namespace name → its :class:`LedgerIndex`."""

    def __init__(self) -> None:
        self._indexes: dict[str, LedgerIndex] = {}
        self._lock = threading.Lock()

    def __getitem__(self, namespace: str) -> LedgerIndex:
        with self._lock:
            return self._indexes.setdefault(namespace, LedgerIndex())
