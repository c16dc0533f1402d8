"""Substrate.relabel: one ledger entry renames a class (or merges it into another), the
history stays auditable, a rebuild gives the same classifier, and the rename scenario costs
the substrate exactly one operation at unchanged accuracy."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import assert_rebuilds_identically
from ocrr import Substrate
from ocrr.bench import get_policy, run_cell
from ocrr.bench.scenarios import rename_plan
from ocrr.ledger import ENTRY_KINDS, RELABEL, Ledger, LedgerError
from ocrr.systems import make_system

VOTES = ["hybrid", "band"]


def renamed(labels, old, new):
    return [new if label == old else label for label in labels]


def test_relabel_is_a_ledger_entry_kind():
    assert RELABEL == "relabel" and RELABEL in ENTRY_KINDS


@pytest.mark.parametrize("vote", VOTES)
def test_relabel_renames_with_one_entry_and_changes_nothing_else(task, vote):
    X, y, T, ty = task
    clf = Substrate(vote=vote).fit(X, y)
    before = clf.predict_many(T)
    probabilities = [clf.predict(t).probability for t in T[:5]]
    size = len(clf.ledger)

    entry = clf.relabel("c02", "billing", reason="taxonomy v2", actor="ops")

    assert len(clf.ledger) == size + 1  # exactly one operation
    assert entry.kind == RELABEL and entry.label == "billing" and entry.vector.size == 0
    assert dict(entry.provenance) == {
        "source": "relabel", "from": "c02", "reason": "taxonomy v2", "actor": "ops"
    }
    assert clf.predict_many(T) == renamed(before, "c02", "billing")
    assert [clf.predict(t).probability for t in T[:5]] == probabilities
    assert "billing" in clf.labels and "c02" not in clf.labels
    # the examples themselves are untouched: the audit trail still says what was taught
    assert sum(e.label == "c02" for e in clf.ledger) == y.count("c02")
    assert clf.ledger.verify().ok
    # neighbours explain under the new name
    assert {n.label for n in clf.predict(T[ty.index("c02")]).neighbours} <= set(clf.labels)


@pytest.mark.parametrize("vote", VOTES)
def test_rebuild_after_relabel_is_identical(task, vote):
    X, y, T, ty = task
    clf = Substrate(vote=vote).fit(X[:100], y[:100])
    clf.relabel("c01", "renamed")
    clf.relabel("c03", "c04")  # a merge
    for x, label in zip(X[100:140], y[100:140], strict=True):
        clf.correct(x, label)  # c01 is free again: a new class of that name
    clf.relabel("renamed", "c05")
    assert_rebuilds_identically(clf, T, vote=vote)


def test_relabel_survives_a_durable_store(task, tmp_path):
    X, y, T, _ = task
    path = tmp_path / "ledger.db"
    clf = Substrate.open(str(path))
    clf.fit(X, y)
    clf.relabel("c00", "zero")
    expected = clf.predict_many(T)
    reopened = Substrate.open(str(path))
    assert reopened.predict_many(T) == expected
    assert reopened.ledger.verify().ok
    assert reopened.ledger[len(reopened.ledger) - 1].kind == RELABEL


@pytest.mark.parametrize("vote", VOTES)
def test_relabel_onto_an_existing_label_merges_the_classes(task, vote):
    X, y, T, ty = task
    clf = Substrate(vote=vote).fit(X, y)
    clf.relabel("c03", "c04")
    merged_from_start = Substrate(vote=vote).fit(X, renamed(y, "c03", "c04"))
    ours, theirs = clf.predict_many(T), merged_from_start.predict_many(T)
    if vote == "band":  # the neighbours' labels are all there is: exactly the same
        assert ours == theirs
    else:  # the seed head is trained again on the merged classes, its classes in another
        # order (label codes differ): as accurate, up to the head's training noise
        truth = renamed(ty, "c03", "c04")
        accuracy = [np.mean([p == t for p, t in zip(ps, truth, strict=True)]) for ps in
                    (ours, theirs)]
        assert accuracy[0] >= accuracy[1] - 0.05
    assert "c03" not in clf.labels and clf.labels.count("c04") == 1
    assert clf.predict_many(T).count("c04") > 0


def test_hybrid_statistics_after_a_merge_match_the_merged_ledger(task):
    X, y, T, _ = task
    clf = Substrate().fit(X, y)
    clf.relabel("c00", "c01")
    reference = Substrate().fit(X, renamed(y, "c00", "c01"))
    ours = clf._stats.scores(T, clf._vectors)
    theirs = reference._stats.scores(T, reference._vectors)
    code, ref_code = clf._codes["c01"], reference._codes["c01"]
    np.testing.assert_array_equal(ours[:, code], theirs[:, ref_code])
    assert np.isneginf(ours[:, clf._labels.index("c00")]).all()  # the emptied class


def test_relabel_refuses_unknown_or_unchanged_labels(task):
    X, y, _, _ = task
    clf = Substrate().fit(X, y)
    size = len(clf.ledger)
    with pytest.raises(LedgerError, match="no label 'nope'"):
        clf.relabel("nope", "x")
    with pytest.raises(LedgerError, match="already"):
        clf.relabel("c00", "c00")
    assert len(clf.ledger) == size  # nothing written


def test_a_relabel_entry_carries_no_vector():
    ledger = Ledger()
    ledger.append("a", np.ones(4, dtype=np.float32))
    with pytest.raises(LedgerError, match="no vector"):
        ledger.append("b", np.ones(4, dtype=np.float32), kind=RELABEL, provenance={"from": "a"})


def test_an_imported_relabel_of_an_unknown_label_is_ignored_on_rebuild(task):
    X, y, T, _ = task
    clf = Substrate().fit(X, y)
    expected = clf.predict_many(T)
    clf.ledger.append("x", None, kind=RELABEL, provenance={"source": "relabel", "from": "zz"})
    assert Substrate.from_ledger(clf.ledger).predict_many(T) == expected


# -- the rename scenario -------------------------------------------------------------------
@pytest.mark.parametrize("system", ["substrate", "substrate_plus"])
@pytest.mark.parametrize("policy", ["oracle", "random10"])
def test_rename_costs_the_substrate_one_operation_at_unchanged_accuracy(
    encoded, system, policy
):
    plan = rename_plan(encoded, seed=1)
    (old, new), = plan.renames
    result = run_cell(
        make_system(system, 1), encoded.X_train, encoded.y_train, encoded.X_test,
        encoded.y_test, plan, get_policy(policy), 1, names=(encoded.name, system),
    )
    assert result.scenario == "rename"
    assert result.operations == 1 and result.n_correct == 0  # exactly one operation

    # the same system, fitted and never renamed, on the same rows under the old name
    reference = make_system(system, 1)
    reference.fit(encoded.X_train[plan.seed_rows], [encoded.y_train[i] for i in plan.seed_rows])
    old_novel = np.mean(
        [p == old for p in reference.predict_many(encoded.X_test[plan.novel_rows])]
    )
    y_orig = [encoded.y_test[i] for i in plan.original_rows]
    old_orig = np.mean(
        [p == t for p, t in zip(reference.predict_many(encoded.X_test[plan.original_rows]),
                                y_orig, strict=True)]
    )
    assert result.checkpoints[0].acc_novel == 0.0  # before the rename: the new name is unknown
    assert all(c.acc_novel == pytest.approx(old_novel) for c in result.checkpoints[1:])
    assert all(c.acc_original == pytest.approx(old_orig) for c in result.checkpoints)
    assert old_novel > 0.9


def test_systems_without_relabel_learn_the_new_name_from_corrections(encoded):
    plan = rename_plan(encoded, seed=1)
    result = run_cell(
        make_system("online_linear", 1), encoded.X_train, encoded.y_train, encoded.X_test,
        encoded.y_test, plan, get_policy("oracle"), 1,
    )
    assert result.operations == 0 and result.n_correct > 0
