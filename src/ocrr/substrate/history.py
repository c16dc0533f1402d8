"""The classifier at any point of its history, and what changed between two points.

Everything a substrate holds besides its ledger is derived from the ledger, so the
classifier as it was when the ledger had ``size`` entries is the one rebuilt from the first
``size`` entries: :func:`as_of` builds it over a read-only :class:`LedgerPrefix`. Its
answers, with the neighbours they came from, are what the live classifier answered then
(one exception by design: an example whose subject was erased later stays unreadable, so
it no longer votes in the past either). :func:`changes` summarises the entries between two
sizes: new classes, examples per class, revocations, relabels, retirements, erasures.

>>> import numpy as np
>>> from ocrr.substrate import BandVote, Substrate
>>> clf = Substrate(vote=BandVote(k=1)).fit(np.eye(3)[:2], ["a", "b"])
>>> _ = clf.correct([0.0, 0.1, 1.0], "c")
>>> then = clf.as_of(2)
>>> then.predict_one([0.0, 0.0, 1.0]), clf.predict_one([0.0, 0.0, 1.0]), len(then)
('a', 'c', 2)
>>> changes(clf.ledger, 2, 3).new_classes
['c']
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Any, NoReturn

from ocrr.ledger import (
    ERASURE,
    EXAMPLE,
    RELABEL,
    RETIRE,
    REVOCATION,
    SETTING,
    Entry,
    LedgerError,
)
from ocrr.ledger.log import ChainHead
from ocrr.substrate.head import SEED_SOURCE

if TYPE_CHECKING:
    from ocrr.ledger import Ledger
    from ocrr.ledger.signing import TreeHead


class LedgerPrefix:
    """The first ``size`` entries of a ledger, read-only: what a classifier as of that size
    is rebuilt from and answers from (appends are refused).

    >>> import numpy as np
    >>> from ocrr.ledger import Ledger
    >>> ledger = Ledger()
    >>> _ = ledger.append_many(["a", "b", "c"], np.eye(3))
    >>> past = LedgerPrefix(ledger, 2)
    >>> len(past), [e.label for e in past], past.tree_head().root_hash == ledger.root(2)
    (2, ['a', 'b'], True)
    """

    def __init__(self, ledger: Ledger, size: int) -> None:
        if not 0 <= size <= len(ledger):
            raise LedgerError(
                f"as of size {size}: the ledger holds {len(ledger)} entries (0 to "
                f"{len(ledger)} are valid points)"
            )
        self.parent = ledger
        self.size = size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, seq: int) -> Entry:
        if not 0 <= seq < self.size:
            raise IndexError(f"no entry with sequence number {seq} (as of size {self.size})")
        return self.parent[seq]

    def __iter__(self) -> Iterator[Entry]:
        return islice(iter(self.parent), self.size)

    def audited(self) -> Iterator[Entry]:
        """The prefix's entries: read from a ledger that was checked when it was opened
        (``Ledger.audited`` re-hashes as it reads; a prefix re-reads nothing new)."""
        return iter(self)

    @property
    def dim(self) -> int | None:
        return self.parent.dim

    @property
    def nbytes(self) -> int:
        return sum(len(e.canonical()) + len(e.entry_hash) for e in self)

    def head(self) -> ChainHead:
        last = self.parent[self.size - 1].entry_hash if self.size else bytes(32)
        return ChainHead(self.size, last)

    def tree_head(self) -> TreeHead:
        return self.parent.tree_head(self.size)

    def sync(self) -> int:
        return 0

    def take_foreign(self) -> list[Entry]:
        return []

    def _read_only(self, *args: object, **kwargs: object) -> NoReturn:
        raise LedgerError(
            f"this is the ledger as of size {self.size}, a view of the past: append to the "
            "live classifier instead"
        )

    append = append_many = erase = import_entries = _read_only

    def close(self) -> None:
        """The parent ledger stays open."""


@dataclass
class Changes:
    """What the entries ``start`` to ``stop`` (exclusive) did to the classifier.

    >>> Changes(3, 5, new_classes=["c"], corrections={"c": 2}).to_dict()["corrections"]
    {'c': 2}
    """

    start: int
    stop: int
    new_classes: list[str] = field(default_factory=list)
    """Labels whose first example is in the range (and that were not classes before)."""
    examples: dict[str, int] = field(default_factory=dict)
    """Examples per label from ``fit`` (seed examples, uploads)."""
    corrections: dict[str, int] = field(default_factory=dict)
    """Examples per label from anything else (corrections, reviews)."""
    revocations: list[dict[str, Any]] = field(default_factory=list)
    relabels: list[dict[str, Any]] = field(default_factory=list)
    retirements: list[dict[str, Any]] = field(default_factory=list)
    erasures: list[dict[str, Any]] = field(default_factory=list)
    settings: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def changes(ledger: Ledger | LedgerPrefix, start: int, stop: int | None = None) -> Changes:
    """Summarise entries ``start`` to ``stop`` (default: the end); labels are as written then.

    A class is *new* if its label had no live class at ``start`` (never taught, or retired
    or renamed away) and an example taught it within the range.
    """
    size = len(ledger)
    stop = size if stop is None else stop
    if not 0 <= start <= stop <= size:
        raise LedgerError(
            f"changes from {start} to {stop}: need 0 <= from <= to <= {size} (the ledger's "
            "size)"
        )
    live: set[str] = set()
    out = Changes(start, stop)
    for entry in islice(iter(ledger), stop):
        before = entry.seq < start
        kind, label = entry.kind, entry.label
        if kind == EXAMPLE:
            if not before and label not in live and label not in out.new_classes:
                out.new_classes.append(label)
            live.add(label)
            if not before:
                bucket = out.examples if entry.provenance.get("source") == SEED_SOURCE else (
                    out.corrections)
                bucket[label] = bucket.get(label, 0) + 1
        elif kind == RELABEL:
            live.discard(entry.provenance.get("from", ""))
            live.add(label)
        elif kind == RETIRE:
            live.discard(label)
        if before or kind == EXAMPLE:
            continue
        record = {"seq": entry.seq, "label": label, "actor": entry.provenance.get("actor"),
                  "reason": entry.provenance.get("reason"), "created_at_ns": entry.created_at_ns}
        if kind == REVOCATION:
            out.revocations.append({**record, "revokes": int(entry.provenance["revokes"])})
        elif kind == RELABEL:
            out.relabels.append({**record, "from": entry.provenance.get("from")})
        elif kind == RETIRE:
            out.retirements.append(record)
        elif kind == ERASURE:
            seqs = [s for s in entry.provenance.get("seqs", "").split(",") if s]
            out.erasures.append({**record, "examples": len(seqs)})
        elif kind == SETTING:
            out.settings.append({**record, "value": entry.provenance.get("value")})
    out.examples = dict(sorted(Counter(out.examples).items()))
    out.corrections = dict(sorted(Counter(out.corrections).items()))
    return out
