"""Moving a ledger to another encoder (issue 19): ``ocrr.ledger.reencode`` replays the old
ledger into a new one with new vectors, each moved entry citing the old one; erased,
vector-only entries and the revocations of either are counted, not moved; the old ledger is
untouched; ``verify_move`` catches a forged citation; an interrupted move resumes."""

from __future__ import annotations

import numpy as np
import pytest

from ocrr.ledger import Ledger, LedgerError, reencode, verify_move
from ocrr.substrate import Substrate
from server_fakes import HashingEncoder

TEXTS = [("where is my card", "card"), ("my card has not arrived", "card"),
         ("what is the exchange rate", "rate"), ("rate for euros", "rate"),
         ("i want a refund", "refund"), ("refund my purchase", "refund")]


def _old(path) -> Ledger:  # noqa: ANN001
    """A SQLite ledger with fit examples, a correction by a subject later erased, a sealed
    one kept, a vector-only example, a revoked correction, a relabel and a vote setting."""
    encoder = HashingEncoder()
    substrate = Substrate.open(str(path), encoder=encoder)
    substrate.fit([t for t, _ in TEXTS], [y for _, y in TEXTS])
    substrate.correct("card stuck in the machine", "card", subject="alice")
    substrate.correct("euro rate please", "rate", subject="bob")
    wrong = substrate.correct("refund now", "card")
    substrate.ledger.append("card", encoder.encode(["no text here"])[0],
                            provenance={"source": "correction"})
    substrate.revoke(wrong.seq, "wrong label")
    substrate.relabel("refund", "refunds")
    substrate.set_vote("band", k=3)
    substrate.erase("alice")
    substrate.ledger.close()
    return Ledger.open(str(path), create=False)


class Small(HashingEncoder):
    """Another encoder: 32 dimensions, so every moved vector is visibly new."""

    identity = "test-small"

    def encode(self, texts, *, progress: bool = False) -> np.ndarray:  # noqa: ANN001
        return np.ascontiguousarray(super().encode(texts)[:, :32] + 1e-3)


def test_round_trip_counts_citations_and_old_ledger_unchanged(tmp_path) -> None:  # noqa: ANN001
    old = _old(tmp_path / "old.db")
    root, size = old.root(), len(old)
    new = Ledger.open(str(tmp_path / "new.db"))
    report = reencode(old, new, Small().encode, identity="test-small", batch=4)
    assert report.not_moved == {"erased": 1, "no_text": 1, "tombstone": 1}
    assert report.moved == {"example": 8, "revocation": 1, "relabel": 1, "setting": 1}
    assert len(new) == 1 + 11 and new.dim == 32
    assert (old.root(), len(old)) == (root, size) and old.verify().ok and new.verify().ok
    check = verify_move(old, new)
    assert check.ok, check.problems
    assert check.moved == 11 and check.not_moved == report.not_moved
    # the moved classifier: band rule (the setting moved), refunds renamed, revocation kept
    moved = Substrate(ledger=new, encoder=Small())
    assert moved.rule.name == "band"
    assert moved.predict_one(Small().encode(["refund my purchase"])[0]) == "refunds"
    revoked = [e for e in new if e.kind == "revocation"][0]
    assert not moved.is_active(int(revoked.provenance["revokes"]))
    # running again moves nothing more
    again = reencode(old, new, Small().encode, identity="test-small")
    assert again.moved == report.moved and len(new) == 12
    # the sealed entry moved sealed: erasing its subject in the new ledger works, and the
    # move still checks (the erased entry's citation is matched by count)
    moved.erase("bob")
    check = verify_move(old, new)
    assert check.ok and check.unreadable == 1 and check.appended_after == 1
    with pytest.raises(LedgerError, match="written after the move"):
        reencode(old, new, Small().encode, identity="test-small")


def test_a_forged_citation_is_caught(tmp_path) -> None:  # noqa: ANN001
    old = _old(tmp_path / "old.db")
    new = Ledger()
    reencode(old, new, Small().encode, identity="test-small")
    first = next(e for e in new if e.kind == "example")
    new.append("rate", Small().encode(["forged"])[0], text="forged",
               provenance={"moved_seq": "0", "moved_from": first.provenance["moved_from"]})
    check = verify_move(old, new)
    assert not check.ok and any("already moved" in p for p in check.problems)
    other = Ledger()
    reencode(old, other, Small().encode, identity="test-small")
    other.append("card", Small().encode(["x"])[0], text="x",
                 provenance={"moved_seq": "1", "moved_from": "00" * 32})
    assert any("another hash" in p for p in verify_move(old, other).problems)


def test_an_interrupted_move_resumes_and_a_grown_ledger_catches_up(tmp_path) -> None:  # noqa: ANN001
    old = _old(tmp_path / "old.db")
    new = Ledger()
    calls = []

    def failing(texts):  # noqa: ANN001, ANN202
        calls.append(len(texts))
        if len(calls) == 2:
            raise RuntimeError("killed")
        return Small().encode(texts)

    with pytest.raises(RuntimeError):
        reencode(old, new, failing, identity="test-small", batch=3)
    partial = len(new)
    report = reencode(old, new, Small().encode, identity="test-small", batch=3)
    assert report.started_at > 0 and len(new) > partial and verify_move(old, new).ok
    old.close()
    substrate = Substrate.open(str(tmp_path / "old.db"), encoder=HashingEncoder())
    substrate.correct("card please", "card")
    grown = substrate.ledger
    report = reencode(grown, new, Small().encode, identity="test-small")
    check = verify_move(grown, new)
    assert check.ok and check.records == 2 and report.moved["example"] == 9
    with pytest.raises(LedgerError, match="encoder"):
        reencode(grown, new, Small().encode, identity="another")
