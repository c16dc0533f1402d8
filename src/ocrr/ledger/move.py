"""Moving a ledger to another encoder: a new ledger built from the old one's texts.

Why a new ledger and not new vectors in the old one: a ledger is append-only and its hashes
cover every vector, so the old ledger stays exactly as it was (it still verifies, with the
same root) and the new one carries the chain of custody instead. :func:`reencode` replays
the old ledger in order into the new one:

- each example whose text is readable is encoded again (in batches) and appended with its
  label, its provenance (sealed again under the same subject, if it was sealed) and three
  more pairs: ``moved_from`` (the old entry's hash, hex), ``moved_seq`` (its sequence
  number) and ``moved_at_ns`` (its time);
- revocations, relabels, retirements and settings (the vote rule) are appended in the same
  place of the history, with the same pairs; a revocation names the new sequence number of
  the example it withdraws. So the new ledger's live state is the old one's, entry for
  entry, minus what could not move;
- what cannot move is counted by reason, never dropped silently: examples whose subject was
  erased (``erased``: the text is gone with the key), examples stored without a text
  (``no_text``: there is nothing to encode), erasure tombstones (``tombstone``: they name a
  key of the old ledger), revocations of examples that did not move
  (``withdraws_unmoved``) and the records of an earlier move (``earlier_move``);
- each run first appends a ``setting`` entry labelled ``reencode`` whose value (JSON) holds
  the old ledger's size and Merkle root at that moment and the new encoder's identity.

A run stopped half way is resumed by running it again on the same two ledgers (it goes on
after the last old entry the new ledger cites); a run on an old ledger that has grown since
moves the new entries (a later ``reencode`` record says how far). :func:`verify_move`
checks a pair of ledgers: every record's root is the old ledger's root at that size, every
moved entry cites an old entry of the same kind, label and text (the same SHA-256), each
old entry is cited at most once, and every old entry before the last record is either cited
or has a reason not to move.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from ocrr.ledger.entry import ERASURE, EXAMPLE, REVOCATION, SETTING, Entry
from ocrr.ledger.ledger import Ledger, LedgerError

MOVE_SETTING = "reencode"
"""The label of the ``setting`` entry that records a move (old size and root, encoder)."""
MOVED_FROM, MOVED_SEQ, MOVED_AT = "moved_from", "moved_seq", "moved_at_ns"

ERASED, NO_TEXT, TOMBSTONE, WITHDRAWS_UNMOVED, EARLIER_MOVE = (
    "erased", "no_text", "tombstone", "withdraws_unmoved", "earlier_move")
REASONS = (ERASED, NO_TEXT, TOMBSTONE, WITHDRAWS_UNMOVED, EARLIER_MOVE)
"""Why an old entry did not move (see the module's docstring)."""

Encode = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class MoveReport:
    """What :func:`reencode` did: counts over the whole old ledger (earlier runs included).

    Examples
    --------
    >>> import numpy as np
    >>> old = Ledger()
    >>> _ = old.append("greeting", np.ones(2), text="hello", provenance={"source": "fit"})
    >>> _ = old.append("greeting", np.ones(2))  # no text: cannot move
    >>> report = reencode(old, Ledger(), lambda texts: np.ones((len(texts), 3)),
    ...                   identity="ones-3")
    >>> report.moved, report.not_moved
    ({'example': 1}, {'no_text': 1})
    """

    old_size: int
    old_root: str
    encoder: str
    moved: dict[str, int]
    """Old entries the new ledger holds, by kind."""
    not_moved: dict[str, int]
    """Old entries that could not move, by reason (:data:`REASONS`)."""
    started_at: int
    """The old sequence number this run started from (0, or where an earlier run stopped)."""
    new_size: int
    seconds: float

    def as_dict(self) -> dict[str, object]:
        return {"old_size": self.old_size, "old_root": self.old_root, "encoder": self.encoder,
                "moved": sum(self.moved.values()), "moved_by_kind": self.moved,
                "not_moved": sum(self.not_moved.values()), "not_moved_by_reason":
                self.not_moved, "started_at": self.started_at, "new_size": self.new_size,
                "seconds": round(self.seconds, 3)}


@dataclass(frozen=True)
class MoveCheck:
    """What :func:`verify_move` found: ``ok`` when ``problems`` is empty.

    Examples
    --------
    >>> import numpy as np
    >>> old, new = Ledger(), Ledger()
    >>> _ = old.append("greeting", np.ones(2), text="hello")
    >>> _ = reencode(old, new, lambda texts: np.ones((len(texts), 3)), identity="ones-3")
    >>> check = verify_move(old, new)
    >>> check.ok, check.moved, check.records
    (True, 1, 1)
    """

    moved: int
    not_moved: dict[str, int]
    records: int
    """``reencode`` records in the new ledger (one per run that moved something)."""
    unreadable: int
    """Moved entries whose subject was erased in the new ledger since: their citation is
    sealed with them, so they are matched to the old entries by count only."""
    appended_after: int
    """New entries after the move that cite nothing (corrections made since)."""
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "moved": self.moved, "not_moved": self.not_moved,
                "records": self.records, "unreadable": self.unreadable,
                "appended_after": self.appended_after, "problems": self.problems}


class MoveRecord(NamedTuple):
    """A ``reencode`` record's value: the old ledger's size and root, the new encoder."""

    old_size: int
    old_root: str
    encoder: str


def move_record(entry: Entry) -> MoveRecord | None:
    """The value of a ``reencode`` record, or None for any other entry."""
    if entry.kind != SETTING or entry.label != MOVE_SETTING:
        return None
    try:
        value = json.loads(entry.provenance["value"])
        return MoveRecord(int(value["old_size"]), str(value["old_root"]),
                          str(value["encoder"]))
    except (KeyError, ValueError, TypeError):
        raise LedgerError(f"entry {entry.seq}: a reencode record without old_size, "
                          "old_root and encoder") from None


def _reason(entry: Entry, moved: dict[int, int]) -> str | None:
    """Why old ``entry`` cannot move (None: it can), given the old → new sequence numbers
    of the examples moved so far."""
    if entry.kind == EXAMPLE:
        if not entry.readable:
            return ERASED
        return NO_TEXT if entry.text is None else None
    if entry.kind == ERASURE:
        return TOMBSTONE
    if entry.kind == REVOCATION and int(entry.provenance["revokes"]) not in moved:
        return WITHDRAWS_UNMOVED
    if move_record(entry) is not None:
        return EARLIER_MOVE
    return None


def _citation(entry: Entry) -> dict[str, str]:
    return {MOVED_FROM: entry.entry_hash.hex(), MOVED_SEQ: str(entry.seq),
            MOVED_AT: str(entry.created_at_ns)}


def _moved_so_far(old: Ledger, new: Ledger, identity: str) -> tuple[dict[int, int], int]:
    """(old → new sequence numbers of moved entries, old size of the last record, -1 for
    none) from a new ledger an earlier run wrote; refused where it is not a move of ``old``
    with ``identity``, or where entries were written after the move."""
    moved: dict[int, int] = {}
    recorded = -1
    for entry in new:
        record = move_record(entry)
        if record is not None:
            if record.old_size > len(old) or (
                    old.root(record.old_size).hex() != record.old_root):
                raise LedgerError(f"the new ledger's entry {entry.seq} records a move from a "
                                  f"ledger of {record.old_size} entries with another root: "
                                  "not this one")
            if record.encoder != identity:
                raise LedgerError(f"the new ledger holds vectors of encoder "
                                  f"{record.encoder!r}, not {identity!r}")
            recorded = record.old_size
        elif MOVED_SEQ in entry.provenance:
            moved[int(entry.provenance[MOVED_SEQ])] = entry.seq
        elif entry.readable:
            raise LedgerError(f"the new ledger's entry {entry.seq} is no moved entry: it was "
                              "written after the move, which cannot be resumed now")
    if len(new) and recorded < 0:
        raise LedgerError("the new ledger is not empty and records no move: give a new "
                          "location (or an empty ledger) for the moved entries")
    return moved, recorded


def reencode(old: Ledger, new: Ledger, encode: Encode, *, identity: str,
             batch: int = 256, actor: str | None = None,
             from_identity: str | None = None) -> MoveReport:
    """Move ``old``'s entries into ``new`` with vectors from ``encode`` (texts → rows, an
    encoder's ``encode``; ``identity`` names it), as the module's docstring says.

    ``old`` is only read, after :meth:`Ledger.verify` passes (else ``LedgerError``). ``new``
    must be empty, or hold an earlier run's move of ``old`` (the run resumes, or moves what
    ``old`` gained since). ``batch`` texts are encoded and appended per transaction.
    ``from_identity`` (the old encoder, where known) is kept in the record."""
    started = time.perf_counter()
    if batch < 1:
        raise LedgerError(f"batch must be at least 1, not {batch}")
    check = old.verify()
    if not check.ok:
        raise LedgerError(f"the old ledger does not verify (entry {check.first_bad_seq}: "
                          f"{check.reason}): nothing was moved")
    moved, recorded = _moved_so_far(old, new, identity)
    size = len(old)
    start = max(moved, default=-1) + 1
    if size > recorded:
        value = {"old_size": size, "old_root": old.root(size).hex(), "encoder": identity,
                 **({} if from_identity is None else {"from_encoder": from_identity})}
        prov = {"source": MOVE_SETTING, "value": json.dumps(value, sort_keys=True),
                **({} if actor is None else {"actor": actor})}
        new.append(MOVE_SETTING, None, kind=SETTING, provenance=prov)
    not_moved: Counter[str] = Counter()
    pending: list[Entry] = []

    def flush() -> None:
        if not pending:
            return
        vectors = np.asarray(encode([e.text or "" for e in pending]), dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(pending):
            raise LedgerError(f"the encoder returned shape {vectors.shape} for "
                              f"{len(pending)} texts")
        provenances, subjects = [], []
        for entry in pending:
            prov = dict(entry.provenance)
            subjects.append(prov.pop("subject", None) if entry.sealed is not None else None)
            provenances.append({**prov, **_citation(entry)})
        written = new.append_many([e.label for e in pending], vectors,
                                  texts=[e.text for e in pending], provenances=provenances,
                                  subjects=subjects)
        for entry, made in zip(pending, written, strict=True):
            moved[entry.seq] = made.seq
        pending.clear()

    kinds: Counter[str] = Counter()
    for entry in old:
        if entry.seq < start:  # an earlier run's: counted again, not moved again
            if entry.seq in moved:
                kinds[entry.kind] += 1
            elif (reason := _reason(entry, moved)) is not None:
                not_moved[reason] += 1
            continue
        if entry.kind != EXAMPLE:
            flush()  # a revocation may withdraw an example still pending
        reason = _reason(entry, moved)
        if reason is not None:
            not_moved[reason] += 1
            continue
        kinds[entry.kind] += 1
        if entry.kind == EXAMPLE:
            pending.append(entry)
            if len(pending) >= batch:
                flush()
            continue
        prov = {**entry.provenance, **_citation(entry)}
        if entry.kind == REVOCATION:
            prov["revokes"] = str(moved[int(entry.provenance["revokes"])])
        moved[entry.seq] = new.append(entry.label, None, kind=entry.kind, provenance=prov).seq
    flush()
    return MoveReport(size, old.root(size).hex(), identity, dict(kinds), dict(not_moved),
                      start, len(new), time.perf_counter() - started)


def _text_hash(text: str | None) -> str | None:
    return None if text is None else hashlib.sha256(text.encode("utf-8")).hexdigest()


def verify_move(old: Ledger, new: Ledger) -> MoveCheck:
    """Check that ``new`` is a faithful move of ``old`` (see the module's docstring); the
    two ledgers' own chains are :meth:`Ledger.verify`'s to check."""
    problems: list[str] = []
    records, recorded, unreadable, after = 0, 0, 0, 0
    cited: dict[int, int] = {}  # old seq -> new seq
    for entry in new:
        record = move_record(entry)
        if record is not None:
            records += 1
            size = record.old_size
            if size > len(old) or old.root(size).hex() != record.old_root:
                problems.append(f"new entry {entry.seq}: the old ledger has no root "
                                f"{record.old_root} at size {size}")
            recorded = max(recorded, size)
            continue
        if not entry.readable:
            unreadable += 1
            continue
        if MOVED_SEQ not in entry.provenance:
            after += records > 0
            continue
        problems.extend(_check_citation(old, new, entry, cited))
    if not records:
        problems.append("the new ledger records no move (no 'reencode' setting entry)")
    not_moved: Counter[str] = Counter()
    uncited = 0
    for entry in old:
        if entry.seq >= recorded:
            break
        if entry.seq in cited:
            continue
        reason = _reason(entry, cited)
        if reason is None:
            uncited += 1
            if uncited > unreadable:
                problems.append(f"old entry {entry.seq} ({entry.kind} {entry.label!r}) "
                                "was not moved and had no reason not to")
        else:
            not_moved[reason] += 1
    return MoveCheck(len(cited), dict(not_moved), records, unreadable, after, problems)


def _check_citation(old: Ledger, new: Ledger, entry: Entry,
                    cited: dict[int, int]) -> list[str]:
    """The problems with one moved entry's citation (none: it is recorded in ``cited``)."""
    where = f"new entry {entry.seq}"
    try:
        seq = int(entry.provenance[MOVED_SEQ])
        source = old[seq]
    except (ValueError, IndexError):
        return [f"{where} cites old entry {entry.provenance[MOVED_SEQ]!r}, which does not "
                "exist"]
    if source.entry_hash.hex() != entry.provenance.get(MOVED_FROM):
        return [f"{where} cites old entry {seq} with another hash"]
    if seq in cited:
        return [f"{where} cites old entry {seq}, already moved as new entry {cited[seq]}"]
    found = []
    if (source.kind, source.label) != (entry.kind, entry.label):
        found.append(f"{where} is a {entry.kind} {entry.label!r}; old entry {seq} a "
                     f"{source.kind} {source.label!r}")
    if _text_hash(source.text) != _text_hash(entry.text):
        found.append(f"{where}: its text is not old entry {seq}'s (SHA-256 differs)")
    if entry.kind == REVOCATION:
        target = int(entry.provenance["revokes"])
        if not 0 <= target < entry.seq or (
                new[target].provenance.get(MOVED_SEQ) != source.provenance["revokes"]):
            found.append(f"{where} revokes new entry {target}, which is not the move of old "
                         f"entry {source.provenance['revokes']}")
    if not found:
        cited[seq] = entry.seq
    return found
