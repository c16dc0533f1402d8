"""The classifier as of any point of its ledger, what changed between two points, and the
vote rule recorded in the ledger (``ocrr.substrate.history``, ``ocrr.substrate.settings``)."""

from __future__ import annotations

import numpy as np
import pytest

from ocrr.ledger import SETTING, Ledger, LedgerError
from ocrr.substrate import BandVote, HybridVote, Substrate
from ocrr.substrate.history import changes


def _history(seed: int = 0, corrections: int = 5000, dim: int = 16):
    """A substrate with a seed set and ``corrections`` corrections (new classes, revocations,
    a relabel, a retirement and a vote change among them), and, at 20 random points, what
    the live classifier answered then about a fixed set of probes."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(30, dim))
    probes = centres[rng.integers(0, 30, 60)] + rng.normal(scale=0.8, size=(60, dim))
    clf = Substrate()
    seed_y = [f"c{i % 10}" for i in range(200)]
    clf.fit(centres[[i % 10 for i in range(200)]] + rng.normal(scale=0.5, size=(200, dim)),
            seed_y)
    clf.set_vote(HybridVote(k=10))
    points = set(rng.choice(np.arange(300, 200 + corrections + 40), 20, replace=False).tolist())
    seen: dict[int, tuple[list[str | None], list[float]]] = {}
    for step in range(corrections):
        c = int(rng.integers(0, 30))
        entry = clf.correct(centres[c] + rng.normal(scale=0.6, size=dim), f"c{c}")
        if step % 97 == 5:
            clf.revoke(entry.seq, "wrong")
        if step == 1500:
            clf.relabel("c3", "c4")
        if step == 2500:
            clf.retire("c7")
        if step == 3500:
            clf.set_vote(BandVote(k=5))
        if len(clf.ledger) in points:
            answers = [clf.predict(p) for p in probes]
            seen[len(clf.ledger)] = ([a.label for a in answers],
                                     [a.confidence for a in answers])
    return clf, probes, seen


def test_as_of_answers_as_the_classifier_did_then_and_as_a_rebuild_from_the_prefix():
    clf, probes, seen = _history()
    assert len(seen) >= 15
    assert any(size > 3700 for size in seen) and any(size < 3000 for size in seen)
    for size, (labels, confidences) in seen.items():
        past = clf.as_of(size)
        assert len(past) == size
        answers = [past.predict(p) for p in probes]
        assert [a.label for a in answers] == labels
        np.testing.assert_allclose([a.confidence for a in answers], confidences, atol=1e-9)
        # an independent rebuild from a copy of the prefix agrees, neighbours included
        copy = Ledger()
        copy.import_entries(list(clf.ledger)[:size])
        rebuilt = Substrate.from_ledger(copy)
        assert rebuilt.rule == past.rule
        for probe, answer in zip(probes[:10], answers[:10], strict=True):
            assert rebuilt.predict(probe) == answer
    assert clf.as_of(len(clf.ledger)).predict_many(probes) == clf.predict_many(probes)


def test_as_of_is_read_only_and_bounded():
    clf = Substrate(vote=BandVote(k=1)).fit(np.eye(3)[:2], ["a", "b"])
    with pytest.raises(LedgerError, match="view of the past"):
        clf.as_of(1).correct([1.0, 0.0, 0.0], "x")
    with pytest.raises(LedgerError, match="0 to 2 are valid"):
        clf.as_of(3)


def test_the_vote_rule_is_recorded_in_the_ledger_and_a_rebuild_uses_it():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 8))
    y = [f"c{i % 4}" for i in range(40)]
    clf = Substrate().fit(X, y)
    entry = clf.set_vote("band", k=3, actor="ops")
    assert entry.kind == SETTING and entry.provenance["actor"] == "ops"
    assert clf.rule == BandVote(k=3)
    rebuilt = Substrate.from_ledger(clf.ledger)
    assert rebuilt.rule == BandVote(k=3)
    assert rebuilt.predict_many(X) == clf.predict_many(X)
    assert Substrate.from_ledger(clf.ledger, vote="hybrid").rule == HybridVote()  # explicit wins
    assert clf.as_of(40).rule == HybridVote()  # before the setting: the default rule
    # a fresh band classifier over the same examples is what the switch gives
    assert Substrate(vote=BandVote(k=3)).fit(X, y).predict_many(X) == clf.predict_many(X)


def test_vote_seq_names_the_last_vote_setting_live_rebuilt_and_in_the_past():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(20, 8))
    clf = Substrate().fit(X, [f"c{i % 4}" for i in range(20)])
    assert clf.vote_seq is None
    first = clf.set_vote("band", k=3)
    clf.correct(X[0], "c1")
    second = clf.set_vote(HybridVote(k=10))
    assert clf.vote_seq == second.seq
    assert Substrate.from_ledger(clf.ledger).vote_seq == second.seq
    assert clf.as_of(second.seq).vote_seq == first.seq
    assert clf.as_of(first.seq).vote_seq is None


def test_set_vote_on_an_opened_ledger_derives_again_without_rehashing_it(tmp_path, monkeypatch):
    """The entries were checked when the ledger was opened; a new rule re-derives the state
    from a plain read (at a million entries a second full re-hash cost 18 s)."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(30, 8))
    y = [f"c{i % 3}" for i in range(30)]
    Substrate.open(str(tmp_path / "l.db")).fit(X, y).ledger.close()
    clf = Substrate.open(str(tmp_path / "l.db"))
    monkeypatch.setattr(Ledger, "audited", lambda self: pytest.fail("re-hashed the ledger"))
    clf.set_vote("band", k=3)
    assert clf.rule == BandVote(k=3)
    assert clf.predict_many(X) == Substrate(vote=BandVote(k=3)).fit(X, y).predict_many(X)
    clf.ledger.close()


def test_changes_between_two_sizes():
    clf = Substrate(vote=BandVote(k=1)).fit(np.eye(4)[:2], ["a", "b"])
    start = len(clf.ledger)
    first = clf.correct([0.0, 0.0, 1.0, 0.0], "c", actor="agent")
    clf.correct([0.0, 0.1, 1.0, 0.0], "c")
    clf.correct([1.0, 0.1, 0.0, 0.0], "a")
    clf.revoke(first.seq, "typo", actor="rev")
    clf.relabel("b", "bee")
    clf.retire("a")
    clf.partial_fit(np.eye(4)[3:], ["d"])
    got = changes(clf.ledger, start)
    assert got.new_classes == ["c", "d"]
    assert got.corrections == {"a": 1, "c": 2} and got.examples == {"d": 1}
    assert [(r["revokes"], r["actor"], r["reason"]) for r in got.revocations] == [
        (first.seq, "rev", "typo")]
    assert [(r["from"], r["label"]) for r in got.relabels] == [("b", "bee")]
    assert [r["label"] for r in got.retirements] == ["a"]
    assert changes(clf.ledger, 0, 2).new_classes == ["a", "b"]
    with pytest.raises(LedgerError, match="need 0 <= from <= to"):
        changes(clf.ledger, 3, 2)


def test_partial_fit_is_one_transaction_with_extra_provenance(tmp_path):
    clf = Substrate.open(str(tmp_path / "l.db"))
    clf.partial_fit(np.eye(3), ["a", "b", "c"], provenance={"upload": "u1", "chunk": "0"})
    entries = list(clf.ledger)
    assert [e.provenance["source"] for e in entries] == ["fit"] * 3
    assert {e.provenance["upload"] for e in entries} == {"u1"}
    with pytest.raises(LedgerError):
        clf.partial_fit(np.eye(3)[:2], ["a", ""])
    assert len(clf.ledger) == 3  # all or nothing
