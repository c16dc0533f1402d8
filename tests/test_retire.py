"""Substrate.retire: one ledger entry withdraws a whole class (a split's coarse label), the
examples stay for audit, the label can be taught again, and a rebuild gives the same state."""

from __future__ import annotations

import pytest

from conftest import assert_rebuilds_identically
from ocrr import Substrate
from ocrr.ledger import ENTRY_KINDS, RETIRE, LedgerError

VOTES = ["hybrid", "band"]


def test_retire_is_a_ledger_entry_kind():
    assert RETIRE == "retire" and RETIRE in ENTRY_KINDS


@pytest.mark.parametrize("vote", VOTES)
def test_retire_withdraws_the_class_with_one_entry(task, vote):
    X, y, T, _ = task
    clf = Substrate(vote=vote).fit(X, y)
    assert "c02" in clf.predict_many(T)
    size = len(clf.ledger)
    entry = clf.retire("c02", reason="split into c02-a and c02-b", actor="taxonomist")
    assert len(clf.ledger) == size + 1 and entry.kind == RETIRE and entry.label == "c02"
    assert entry.provenance["reason"] == "split into c02-a and c02-b"
    assert "c02" not in clf.predict_many(T) and "c02" not in clf.labels
    retired = [e.seq for e in clf.ledger if e.kind == "example" and e.label == "c02"]
    assert retired and not any(clf.is_active(seq) for seq in retired)
    assert all(n.label != "c02" for t in T for n in clf.predict(t).neighbours)
    with pytest.raises(LedgerError, match="retired"):
        clf.revoke(retired[0], "already gone")
    assert clf.ledger.verify().ok


@pytest.mark.parametrize("vote", VOTES)
def test_a_retired_label_can_be_taught_again_and_rebuilds_identically(task, vote):
    X, y, T, ty = task
    clf = Substrate(vote=vote).fit(X[:120], y[:120])
    clf.retire("c01")
    clf.relabel("c03", "c04")  # a merge, then retire the merged class
    clf.retire("c04")
    for x, label in zip(X[120:], y[120:], strict=True):
        clf.correct(x, label)  # c01 and c03 come back as new classes from corrections
    assert {"c01", "c03"} <= set(clf.labels) and "c01" in clf.predict_many(T)
    assert_rebuilds_identically(clf, T, vote=vote)


def test_retire_survives_a_durable_store_and_erasure(task, tmp_path):
    X, y, T, _ = task
    path = tmp_path / "ledger.db"
    clf = Substrate.open(str(path))
    for x, label in zip(X[:60], y[:60], strict=True):
        clf.correct(x, label, subject="alice" if label == "c00" else None)
    clf.retire("c00")
    clf.ledger.erase("alice")  # erasing a retired class's subject still works
    reopened = Substrate.open(str(path))
    assert reopened.predict_many(T) == Substrate.from_ledger(clf.ledger).predict_many(T)
    assert reopened.ledger.verify().ok


def test_retire_refuses_an_unknown_label(task):
    X, y, _, _ = task
    clf = Substrate().fit(X, y)
    with pytest.raises(LedgerError, match="no label 'nope'"):
        clf.retire("nope")
    clf.retire("c05")
    with pytest.raises(LedgerError, match="no label 'c05'"):
        clf.retire("c05")
