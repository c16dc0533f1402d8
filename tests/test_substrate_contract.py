"""The substrate's contract as a classifier, and its vote rules as objects."""

import pickle

import numpy as np
import pytest

from ocrr.errors import DimensionError, NotFittedError
from ocrr.ledger import Ledger, LedgerError
from ocrr.substrate import BandVote, HybridVote, Substrate, make_vote
from ocrr.substrate.vote import neighbour_weights
from ocrr.substrate.votes import VOTED_WEIGHT


def _task(seed: int = 0, classes: int = 5, per: int = 12, dim: int = 16):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((classes, dim))
    X = np.concatenate([c + 0.5 * rng.standard_normal((per, dim)) for c in centres])
    y = [f"c{i}" for i in range(classes) for _ in range(per)]
    queries = centres[rng.integers(0, classes, 40)] + 0.6 * rng.standard_normal((40, dim))
    return X.astype(np.float32), y, queries.astype(np.float32)


# -- not fitted, wrong shapes -------------------------------------------------------------


@pytest.mark.parametrize("vote", ["hybrid", "band"])
def test_predicting_before_any_example_raises_not_fitted(vote):
    clf = Substrate(vote=vote)
    with pytest.raises(NotFittedError, match="fit"):
        clf.predict_one(np.ones(4))
    with pytest.raises(NotFittedError):
        clf.predict_many(np.ones((2, 4)))
    with pytest.raises(NotFittedError):
        clf.predict(np.ones(4))
    assert isinstance(NotFittedError("x"), (ValueError, AttributeError))


@pytest.mark.parametrize("vote", ["hybrid", "band"])
def test_wrong_width_or_ndim_raises_dimension_error(vote):
    X, y, _ = _task()
    clf = Substrate(vote=vote).fit(X, y)
    for bad in (np.ones(15), np.ones(17)):
        with pytest.raises(DimensionError, match="dimension 16"):
            clf.predict_one(bad)
        with pytest.raises(DimensionError):
            clf.predict(bad)
        with pytest.raises(DimensionError):
            clf.predict_many(bad[None, :])
    with pytest.raises(DimensionError, match="1-D"):
        clf.predict_one(np.ones((2, 16)))
    with pytest.raises(DimensionError, match="2-D"):
        clf.predict_many(np.ones(16))
    size = len(clf.ledger)
    with pytest.raises(DimensionError) as caught:
        clf.correct(np.ones(8), "c0")
    assert isinstance(caught.value, LedgerError)  # a refused write, as the server expects
    with pytest.raises(DimensionError):
        clf.correct(np.ones((1, 16)), "c0")
    with pytest.raises(DimensionError):
        clf.correct_many(np.ones((2, 8)), ["c0", "c1"])
    with pytest.raises(DimensionError):
        clf.partial_fit(np.ones((2, 8)), ["c0", "c1"])
    assert len(clf.ledger) == size  # nothing was written


# -- fit resets, partial_fit appends ------------------------------------------------------


def test_fit_resets_an_in_memory_substrate_and_returns_it():
    X, y, queries = _task()
    other, other_y, _ = _task(seed=1, dim=8)
    clf = Substrate()
    assert clf.fit(other, other_y) is clf  # another dimension, other labels
    clf.correct(other[0], "stray")
    assert clf.fit(X, y) is clf
    fresh = Substrate().fit(X, y)
    assert len(clf.ledger) == len(X) and clf.labels == fresh.labels
    assert clf.predict_many(queries) == fresh.predict_many(queries)
    assert [clf.predict(q).probability for q in queries] == [
        fresh.predict(q).probability for q in queries
    ]


def test_partial_fit_appends_seed_examples_like_one_fit():
    X, y, queries = _task()
    parts = Substrate()
    assert parts.fit(X[:30], y[:30]).partial_fit(X[30:], y[30:]) is parts
    whole = Substrate().fit(X, y)
    assert all(e.source == "fit" for e in parts.ledger)
    assert parts.predict_many(queries) == whole.predict_many(queries)
    assert [parts.predict(q).probability for q in queries] == [
        whole.predict(q).probability for q in queries
    ]


def test_fit_keeps_a_given_empty_ledger_and_refuses_a_durable_one_with_entries(tmp_path):
    X, y, queries = _task()
    ledger = Ledger()
    assert Substrate(ledger=ledger).fit(X, y).ledger is ledger  # nothing to reset
    path = str(tmp_path / "ledger.db")
    durable = Substrate.open(path).fit(X, y)  # empty: fit appends the seed set
    with pytest.raises(LedgerError, match="partial_fit"):
        durable.fit(X, y)
    assert len(durable.ledger) == len(X)
    durable.partial_fit(X[:3], y[:3])
    assert len(Substrate.open(path).ledger) == len(X) + 3


# -- vote objects -------------------------------------------------------------------------


def test_rule_names_and_keywords_are_shortcuts_for_the_vote_objects():
    assert Substrate().rule == HybridVote()
    assert Substrate(vote="band", k=3).rule == BandVote(k=3)
    assert Substrate(vote="sumsim").rule == BandVote(rule="sumsim")
    assert Substrate(mix=0.5, head=False).rule == HybridVote(mix=0.5, head=False)
    assert make_vote("band_count_only", margin=0.1) == BandVote(margin=0.1, rule="band_count_only")
    clf = Substrate(vote=HybridVote(k=7, mix=0.5))
    assert (clf.vote, clf.k, clf.mix, clf.margin) == ("hybrid", 7, 0.5, None)
    assert Substrate(vote=BandVote(margin=0.2)).margin == 0.2
    with pytest.raises(TypeError, match="mix"):
        Substrate(vote="band", mix=0.5)
    with pytest.raises(TypeError, match="HybridVote"):
        Substrate(k=3, vote=HybridVote())
    with pytest.raises(ValueError, match="band"):
        BandVote(rule="majority")


def test_objects_and_shortcuts_predict_identically():
    X, y, queries = _task()
    pairs = [
        (Substrate(mix=0.5, tau=0.05), Substrate(vote=HybridVote(mix=0.5, tau=0.05))),
        (Substrate(vote="band", k=3), Substrate(vote=BandVote(k=3))),
        (Substrate(vote="band_no_recency"), Substrate(vote=BandVote(rule="band_no_recency"))),
    ]
    for old, new in pairs:
        old.fit(X, y)
        new.fit(X, y)
        assert old.predict_many(queries) == new.predict_many(queries)
        assert [old.predict(q) for q in queries] == [new.predict(q) for q in queries]


def test_a_fitted_substrate_survives_pickling():
    X, y, queries = _task()
    clf = Substrate().fit(X, y)
    clf.correct(queries[0], "new")
    copy = pickle.loads(pickle.dumps(clf))
    assert copy.rule == clf.rule and copy.predict_many(queries) == clf.predict_many(queries)


# -- what "voted" means -------------------------------------------------------------------


def test_hybrid_marks_the_neighbours_that_carry_weight_as_voters():
    X, y, queries = _task()
    clf = Substrate(vote=HybridVote(tau=0.05)).fit(X, y)
    seen = set()
    for q in queries:
        p = clf.predict(q)
        sims = np.array([[n.similarity for n in p.neighbours]])
        weights = neighbour_weights(sims, 0.05)[0]
        assert [n.voted for n in p.neighbours] == list(weights >= VOTED_WEIGHT)
        assert p.neighbours[0].voted  # the top neighbour always weighs 1
        seen.update(n.voted for n in p.neighbours)
    assert seen == {True, False}  # the cutoff separates, it does not mark all or none


def test_band_rules_still_mark_the_margin_band():
    X, y, queries = _task()
    clf = Substrate(vote="band", margin=0.1).fit(X, y)
    for q in queries:
        p = clf.predict(q)
        top = p.neighbours[0].similarity
        assert [n.voted for n in p.neighbours] == [n.similarity >= top - 0.1 for n in p.neighbours]
