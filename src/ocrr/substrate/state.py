"""Everything a substrate derives from its ledger, in one place.

:class:`DerivedState` replays entries in sequence order: an example (that can still be
read) becomes an index row, with its sequence number, label code and whether ``fit`` wrote
it in columns beside the index, and joins the vote rule's own derived state (the hybrid's
class statistics and seed head); later entries amend it: a revocation or an erasure
withdraws an example, a relabel renames (or merges) a class, a retirement withdraws a
class's examples and frees its name. The whole ledger at once (:meth:`DerivedState.replay`)
and one appended entry at a time (:meth:`DerivedState.take`) go through the same steps, so
a substrate rebuilt from its ledger holds exactly the state of the one that appended the
entries live.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from ocrr.index import Index, IndexChoice
from ocrr.ledger import ERASURE, EXAMPLE, RELABEL, RETIRE, REVOCATION, SETTING, Entry, LedgerError
from ocrr.substrate.head import SEED_SOURCE
from ocrr.vectors import LabelTable

if TYPE_CHECKING:
    from ocrr.ledger import Ledger
    from ocrr.substrate.votes import VoteState


class IntColumn:
    """A growable int64 array: per-row payload beside the index."""

    def __init__(self) -> None:
        self._data = np.empty(1024, dtype=np.int64)
        self._n = 0

    def append(self, value: int) -> None:
        if self._n == len(self._data):
            self._data = np.concatenate([self._data, np.empty_like(self._data)])
        self._data[self._n] = value
        self._n += 1

    def view(self) -> np.ndarray:
        return self._data[: self._n]

    def __len__(self) -> int:
        return self._n


class DerivedState:
    """The index, the row columns, the label table, the withdrawals and the vote rule's
    derived state (``extra``), as a function of the entries replayed so far."""

    def __init__(self, index_choice: IndexChoice, extra: VoteState | None = None) -> None:
        self.index_choice = index_choice
        self.extra = extra
        self.index: Index | None = None
        self.labels = LabelTable()
        self.examples = 0  # example entries seen, erased ones included
        self._row_seq = IntColumn()
        self._row_code = IntColumn()
        self._row_seed = IntColumn()  # 1 where the example came from fit()
        self.revoked: set[int] = set()
        self.retired: set[int] = set()  # examples whose label was retired
        self.erased: set[int] = set()  # examples whose subject was erased (crypto-shredded)
        self.settings: dict[str, int] = {}  # setting name -> sequence number of its last entry

    # -- reading ---------------------------------------------------------------------------
    @property
    def row_seqs(self) -> np.ndarray:
        """Index row -> sequence number of its example entry (increasing)."""
        return self._row_seq.view()

    @property
    def row_codes(self) -> np.ndarray:
        """Index row -> label code (a merge rewrites codes in place)."""
        return self._row_code.view()

    @property
    def row_seeds(self) -> np.ndarray:
        """Index row -> 1 where the example was written by ``fit``."""
        return self._row_seed.view()

    def vectors(self) -> np.ndarray:
        """The index's stored vectors, in row order."""
        assert self.index is not None
        return self.index.vectors

    @property
    def dim(self) -> int | None:
        return None if self.index is None else self.index.dim

    @property
    def has_voters(self) -> bool:
        return self.index is not None and self.index.live > 0

    def withdrawn(self, seq: int) -> bool:
        """Whether example ``seq`` was revoked, erased or retired."""
        return seq in self.revoked or seq in self.erased or seq in self.retired

    def live_row(self, row: int | np.integer) -> bool:
        return not self.withdrawn(int(self.row_seqs[row]))

    def has_row(self, seq: int) -> bool:
        seqs = self.row_seqs
        row = int(np.searchsorted(seqs, seq))
        return row < len(seqs) and seqs[row] == seq

    def row_of(self, seq: int) -> int:
        """Index row of an example entry (rows follow sequence order)."""
        seqs = self.row_seqs
        row = int(np.searchsorted(seqs, seq))
        if row == len(seqs) or seqs[row] != seq:
            raise LedgerError(f"entry {seq} is not an example")
        return row

    # -- replaying -------------------------------------------------------------------------
    def replay(self, ledger: Ledger, entries: list[Entry] | None = None) -> None:
        """Take in every entry of ``ledger`` (read once: on disk a pass costs seconds at a
        million entries; ``entries``, if given, are those already read, or a prefix of
        them); the index is built from the readable examples in one go. Read here, a durable
        ledger's entries are re-hashed, linked and their vectors checked as they are read
        (``Ledger.audited``): a bad one raises ``LedgerIntegrityError``."""
        if entries is None:
            entries = list(ledger.audited())
        # an erased example (its key destroyed) is unreadable: it never enters derived state
        examples = [e for e in entries if e.kind == EXAMPLE and e.readable]
        if examples:
            self.index = self.index_choice.for_ledger(ledger, examples)
        self._take_all(entries, indexed=True)

    def take(self, entry: Entry) -> None:
        """Bring the state up to date with one appended entry (this process's or another's
        on a shared ledger)."""
        self._take_all([entry], indexed=False)

    def _take_all(self, entries: Iterable[Entry], *, indexed: bool) -> None:
        for entry in entries:
            if entry.kind == EXAMPLE:
                self.examples += 1
            if entry.kind == EXAMPLE and entry.readable:
                if not indexed:
                    self._index_vector(entry.vector)
                self._record_row(entry)
            elif entry.kind == EXAMPLE:
                self.erased.add(entry.seq)
            elif entry.kind == SETTING:
                self.settings[entry.label] = entry.seq
            elif not self._targets_erased(entry):
                self.apply(entry)

    def _index_vector(self, vector: np.ndarray) -> None:
        if self.index is None:
            self.index = self.index_choice.make(len(vector))
        self.index.add(vector)
        self.index = self.index_choice.grown(self.index)

    def _targets_erased(self, entry: Entry) -> bool:
        """A revocation of an example that was later erased: there is nothing to withdraw."""
        return entry.kind == REVOCATION and int(entry.provenance["revokes"]) in self.erased

    def _record_row(self, entry: Entry) -> None:
        """Label and sequence columns (and the rule's derived state) for a new index row."""
        code = self.labels.code(entry.label)
        from_fit = entry.provenance.get("source") == SEED_SOURCE
        self._row_seq.append(entry.seq)
        self._row_code.append(code)
        self._row_seed.append(int(from_fit))
        if self.extra is not None:
            self.extra.add(len(self._row_code) - 1, code, entry.vector, from_fit)

    # -- amending --------------------------------------------------------------------------
    def apply(self, entry: Entry) -> None:
        """Bring the state up to date with one non-example entry."""
        if entry.kind == REVOCATION:
            seq = int(entry.provenance["revokes"])
            self.revoked.add(seq)
            self._withdraw_row(self.row_of(seq))
        elif entry.kind == ERASURE:
            # the subject's examples leave the index (those not already withdrawn)
            for seq in map(int, filter(None, entry.provenance["seqs"].split(","))):
                if seq in self.erased or seq in self.revoked or seq in self.retired:
                    self.erased.add(seq)
                    continue
                self.erased.add(seq)
                if self.index is not None and self.has_row(seq):
                    self._withdraw_row(self.row_of(seq))
        elif entry.kind == RELABEL:
            self._rename(entry.provenance["from"], entry.label)
        elif entry.kind == RETIRE:
            self._retire(entry.label)

    def _withdraw_row(self, row: int) -> None:
        """An example stops voting and leaves the rule's derived state."""
        assert self.index is not None
        self.index.remove(row)
        if self.extra is not None:
            self.extra.withdraw(row, self.vectors)

    def _retire(self, label: str) -> None:
        """Every live example of ``label``'s class stops voting; the label is free to name a
        new class later."""
        code = self.labels.forget(label)
        if code is None or self.index is None:  # an imported ledger may name anything
            return
        seqs = self.row_seqs
        for row in np.flatnonzero(self.row_codes == code):
            seq = int(seqs[row])
            if self.live_row(int(row)):
                self.retired.add(seq)
                self._withdraw_row(int(row))

    def _rename(self, old: str, new: str) -> None:
        """Label ``old``'s class answers to ``new``; if ``new`` already has a class, the two
        become one (its rows take ``new``'s code; the rule's derived state merges)."""
        code = self.labels.forget(old)
        if code is None:  # only an imported ledger can name a label it never taught
            return
        into = self.labels.get(new)
        if into is None:
            self.labels.rename(code, new)
            return
        row_codes = self.row_codes
        row_codes[row_codes == code] = into
        if self.extra is not None:
            self.extra.merge(code, into, self.vectors)
