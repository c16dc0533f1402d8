"""The substrate's operations on its ledger beyond adding examples: revoke an example,
relabel or retire a class, erase a subject, record the vote rule; and the questions about
them (is an example active, which corrections look suspect).

Each appends one entry and applies it to the derived state at once, so the classifier and
a rebuild from the ledger agree. Mixed into :class:`~ocrr.substrate.Substrate`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from ocrr.ledger import (
    EXAMPLE,
    RELABEL,
    RETIRE,
    REVOCATION,
    SETTING,
    Entry,
    Ledger,
    LedgerError,
)
from ocrr.substrate.explain import Suspect, find_suspects
from ocrr.substrate.settings import VOTE_SETTING, vote_to_json
from ocrr.substrate.state import DerivedState
from ocrr.substrate.votes import Vote, make_vote


class Operations:
    """Revocation, relabelling, retirement, erasure and the recorded vote rule (needs
    ``ledger``, ``_state`` and ``_rebuild``, which :class:`~ocrr.substrate.Substrate` has)."""

    ledger: Ledger
    _state: DerivedState
    _rebuild: Callable[..., None]  # derive everything again from the ledger
    _follow_ledger: bool  # whether the vote rule is the ledger's (its setting entries)

    def set_vote(self, vote: str | Vote, *, actor: str | None = None,
                 provenance: Mapping[str, str] | None = None, **params: object) -> Entry:
        """Vote with ``vote`` from now on, recorded in the ledger (a ``setting`` entry), so
        that a rebuild from the ledger votes the same way; the derived state is rebuilt."""
        rule = make_vote(vote, **params)
        entry = self.ledger.append(
            VOTE_SETTING, None, kind=SETTING,
            provenance=provenance_of(
                "setting", {**(provenance or {}), "value": vote_to_json(rule)}, actor))
        self._follow_ledger = True
        self._rebuild(audit=False)  # checked when opened; only the rule's state is new
        return entry

    @property
    def vote_seq(self) -> int | None:
        """Sequence number of the ledger's last vote setting entry (``None``: the rule was
        never recorded, so the constructor's, or the hybrid default, is in force)."""
        return self._state.settings.get(VOTE_SETTING)

    def _absorb(self, seen: Callable[[Entry], None] | None = None) -> None:
        """Apply, in order, what other processes appended to a shared ledger (a setting
        among it, another process's ``set_vote``, means deriving everything again);
        ``seen`` is shown each of those entries."""
        foreign = self.ledger.take_foreign()
        if seen is not None:
            for entry in foreign:
                seen(entry)
        if any(entry.kind == SETTING for entry in foreign):
            self._rebuild(audit=False)
            return
        for entry in foreign:
            self._state.take(entry)

    def erase(self, subject: str, *, reason: str | None = None,
              actor: str | None = None,
              provenance: Mapping[str, str] | None = None) -> Entry:
        """Erase everything recorded about ``subject`` (crypto-shredding): its key is
        destroyed, a tombstone is appended, and its examples stop voting at once. The ledger
        and its proofs still verify; the erased contents cannot be read again."""
        entry = self.ledger.erase(subject, reason=reason, actor=actor, provenance=provenance)
        self._absorb()
        self._state.apply(entry)
        return entry

    def revoke(self, seq: int, reason: str, *, actor: str | None = None,
               provenance: Mapping[str, str] | None = None) -> Entry:
        """Withdraw example ``seq`` (a wrong correction, say) from voting, by appending a
        revocation entry: the example stays in the ledger, so the audit trail keeps both."""
        size = len(self.ledger)
        if not isinstance(seq, (int, np.integer)) or not 0 <= seq < size:
            raise LedgerError(f"no entry with sequence number {seq} (ledger has {size})")
        target = self.ledger[int(seq)]
        if target.kind != EXAMPLE:
            raise LedgerError(f"entry {seq} is a {target.kind}, only examples can be revoked")
        state = self._state
        if seq in state.erased or not target.readable:
            raise LedgerError(f"entry {seq} was erased; it no longer votes")
        if seq in state.revoked:
            raise LedgerError(f"entry {seq} is already revoked")
        if seq in state.retired:
            raise LedgerError(f"entry {seq} was retired with its label; it no longer votes")
        prov = provenance_of(
            "revocation", {**(provenance or {}), "revokes": str(int(seq)), "reason": reason},
            actor)
        entry = self.ledger.append(target.label, None, kind=REVOCATION, provenance=prov)
        state.apply(entry)
        return entry

    def relabel(
        self, old: str, new: str, *, reason: str | None = None, actor: str | None = None,
        provenance: Mapping[str, str] | None = None,
    ) -> Entry:
        """Rename label ``old`` to ``new`` with one ledger entry: every example taught under
        ``old`` votes under ``new`` from now on, and ``old`` is free to name a new class later.
        If ``new`` already has examples, the two classes merge. The examples keep their
        original entries, so the history stays auditable; rebuilding gives the same state."""
        if old not in self._state.labels:
            raise LedgerError(
                f"no label {old!r} to rename; labels: {', '.join(self._state.labels.names)}"
            )
        if old == new:
            raise LedgerError(f"label {old!r} is already called that")
        return self._operation(new, RELABEL, {**(provenance or {}), "from": old}, reason, actor)

    def retire(
        self, label: str, *, reason: str | None = None, actor: str | None = None,
        provenance: Mapping[str, str] | None = None,
    ) -> Entry:
        """Retire ``label`` with one ledger entry: every example taught under it stops
        voting and leaves the derived statistics, as if each were revoked. For a taxonomy
        refinement (an intent split in two): the coarse class goes while corrections teach
        the fine ones. The examples stay in the ledger for audit; a later correction under
        ``label`` teaches a new class; rebuilding gives the same state."""
        if label not in self._state.labels:
            current = ", ".join(self._state.labels.current)
            raise LedgerError(f"no label {label!r} to retire; labels: {current}")
        return self._operation(label, RETIRE, dict(provenance or {}), reason, actor)

    def _operation(
        self, label: str, kind: str, prov: dict[str, str], reason: str | None,
        actor: str | None,
    ) -> Entry:
        """Append a class-level entry (``relabel``, ``retire``) and apply it."""
        prov = provenance_of(kind, {**prov, **({} if reason is None else {"reason": reason})},
                             actor)
        entry = self.ledger.append(label, None, kind=kind, provenance=prov)
        self._absorb()
        self._state.apply(entry)
        return entry

    def is_active(self, seq: int) -> bool:
        """Whether example ``seq`` votes (it exists and was not revoked, erased or retired)."""
        return 0 <= seq < len(self.ledger) and self.ledger[seq].kind == EXAMPLE and (
            not self._state.withdrawn(seq)
        )

    def suspects(self, *, k: int = 5, min_contradictions: int = 2) -> list[Suspect]:
        """Corrections to review: live examples not from ``fit`` whose ``k`` nearest live
        neighbours include at least ``min_contradictions`` later corrections with another
        label, outnumbering the neighbours that agree. Users under an oracle-like policy
        correct the mistakes a wrong label causes around it, so a mislabelled correction
        collects contradictions; nothing is changed (``revoke`` is the reviewer's call)."""
        return find_suspects(self._state, k, min_contradictions)


def provenance_of(
    source: str, provenance: Mapping[str, str] | None, actor: str | None
) -> dict[str, str]:
    """An entry's provenance: ``source``, then ``provenance``'s pairs, then ``actor``."""
    prov = {"source": source, **(provenance or {})}
    if actor is not None:
        prov["actor"] = actor
    return prov
