"""The hybrid rule (the library's default Substrate, the system substrate_plus): it learns a
class from one correction, stays a deterministic function of its ledger, and forgets a
revoked example exactly."""

from __future__ import annotations

import numpy as np
import pytest

from ocrr import Substrate
from ocrr.ledger import Ledger
from ocrr.substrate.statistics import schedule_point
from ocrr.substrate.vote import hybrid_vote, neighbour_distribution, softmax


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _clusters(n_classes: int, per_class: int, dim: int = 24, noise: float = 0.35, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = _unit(rng.standard_normal((n_classes, dim)))
    labels = np.repeat(np.arange(n_classes), per_class)
    X = _unit(centres[labels] + noise * rng.standard_normal((len(labels), dim)) / np.sqrt(dim))
    return X, [f"c{i}" for i in labels], centres


def test_default_substrate_is_the_hybrid_rule():
    clf = Substrate()
    assert clf.vote == "hybrid"
    with pytest.raises(ValueError, match="mix"):
        Substrate(mix=1.5)
    with pytest.raises(ValueError, match="shrinkage"):
        Substrate(shrinkage=0.0)


def test_schedule_points_are_geometric_and_monotone():
    assert schedule_point(0) == 0 and schedule_point(255) == 0
    assert schedule_point(256) == 256
    points = sorted({schedule_point(n) for n in range(0, 5000)})
    ratios = np.array(points[2:]) / np.array(points[1:-1])
    assert np.all((ratios > 1.05) & (ratios < 1.12))  # 2 ** (1 / 8) = 1.09, rounded
    for n in (300, 1000, 4321):
        assert schedule_point(n) <= n < schedule_point(n) * 1.1 + 1


def test_one_correction_teaches_a_new_class_for_that_vector():
    X, y, _ = _clusters(6, 60)
    clf = Substrate().fit(X, y)
    novel = _unit(np.random.default_rng(5).standard_normal(X.shape[1]))
    assert clf.predict_one(novel) != "brand-new"
    clf.correct(novel, "brand-new")
    assert clf.predict_one(novel) == "brand-new"


def test_predictions_mix_the_neighbours_and_the_discriminant():
    # the mixture is mix * neighbours + (1 - mix) * softmax(scores / temperature)
    sims = np.array([[0.9, 0.8, 0.2]])
    codes = np.array([[0, 1, 1]])
    scores = np.array([[0.0, 0.0, 5.0]])
    knn = neighbour_distribution(sims, codes, 3, tau=0.1)
    assert knn[0, 2] == 0 and knn[0, 0] == pytest.approx(1 / (1 + np.exp(-1) + np.exp(-7)))
    lda = softmax(scores, 1.0)
    winners, probs = hybrid_vote(sims, codes, scores, mix=0.5, tau=0.1, temperature=1.0)
    expected = 0.5 * knn + 0.5 * lda
    assert winners[0] == expected.argmax() == 2  # the discriminant outvotes the neighbours
    assert probs[0] == pytest.approx(expected.max())
    winners, _ = hybrid_vote(sims, codes, scores, mix=1.0, tau=0.1, temperature=1.0)
    assert winners[0] == 0  # neighbours only


def test_removed_neighbours_weigh_nothing():
    sims = np.array([[0.9, 0.5, -np.inf]])
    dist = neighbour_distribution(sims, np.array([[0, 1, 2]]), 3, tau=0.1)
    assert dist[0, 2] == 0 and dist.sum() == pytest.approx(1.0)


def test_rebuilt_from_its_ledger_predicts_identically():
    X, y, _ = _clusters(8, 50, seed=1)
    clf = Substrate().fit(X, y)
    rng = np.random.default_rng(2)
    entries = [clf.correct(_unit(rng.standard_normal(X.shape[1])), f"n{i % 3}") for i in range(40)]
    clf.revoke(entries[3].seq, "mislabelled")
    clf.revoke(5, "bad seed row")
    queries = _unit(rng.standard_normal((300, X.shape[1])))
    rebuilt = Substrate.from_ledger(clf.ledger)
    assert rebuilt.predict_many(queries) == clf.predict_many(queries)
    assert [rebuilt.predict(q) for q in queries[:20]] == [clf.predict(q) for q in queries[:20]]
    # and a copy of the ledger, replayed entry by entry, keeps learning the same way
    copy = Ledger()
    for e in clf.ledger:
        copy.append(e.label, e.vector if e.kind == "example" else None,
                    provenance=e.provenance, kind=e.kind)
    replayed = Substrate.from_ledger(copy)
    for q in queries[:30]:
        clf.correct(q, "later")
        replayed.correct(q, "later")
    assert replayed.predict_many(queries) == clf.predict_many(queries)


def test_revoking_every_wrong_correction_restores_the_clean_classifier_exactly():
    # past the covariance schedule's first points, so the shared covariance is recomputed
    X, y, centres = _clusters(10, 40, seed=3)
    rng = np.random.default_rng(4)
    stream = [(_unit(centres[i % 10] + 0.4 * rng.standard_normal(X.shape[1]) / 5), f"c{i % 10}")
              for i in range(150)]
    noisy, clean = Substrate().fit(X, y), Substrate().fit(X, y)
    wrong = []
    for i, (x, label) in enumerate(stream):
        if i % 4 == 0:  # a user mislabels every fourth correction
            wrong.append(noisy.correct(x, f"c{(i + 3) % 10}" if i % 8 else "nonsense"))
        else:
            noisy.correct(x, label)
            clean.correct(x, label)
    queries = _unit(rng.standard_normal((400, X.shape[1])))
    assert noisy.predict_many(queries) != clean.predict_many(queries)
    for entry in wrong:
        noisy.revoke(entry.seq, "wrong label")
    assert noisy.predict_many(queries) == clean.predict_many(queries)
    # bit for bit: statistics are summed again, not decremented, and the head replayed
    mine, theirs = noisy._state.extra, clean._state.extra
    assert np.array_equal(mine.stats.scores(queries, noisy._state.vectors)[:, :10],
                          theirs.stats.scores(queries, clean._state.vectors))
    assert np.array_equal(mine.head.distribution(queries, noisy._index.rows)[1],
                          theirs.head.distribution(queries, clean._index.rows)[1])
    # the index's float32 similarities may differ in the last bit (BLAS sums a row's dot
    # product in an order that depends on its position, and the noisy index has more rows)
    np.testing.assert_allclose([noisy.predict(q).probability for q in queries[:50]],
                               [clean.predict(q).probability for q in queries[:50]], rtol=1e-6)
    # the revoked entries stay in the ledger for audit, and it still verifies
    assert len(noisy.ledger) == len(clean.ledger) + 2 * len(wrong)
    assert noisy.ledger.verify()


def test_revoked_class_disappears():
    X, y, _ = _clusters(4, 30, seed=6)
    clf = Substrate().fit(X, y)
    x = _unit(np.ones(X.shape[1]))
    entry = clf.correct(x, "typo-label")
    assert clf.predict_one(x) == "typo-label"
    clf.revoke(entry.seq, "typo")
    assert clf.predict_one(x) != "typo-label"
    assert clf.predict(x).label != "typo-label"


def test_confidence_is_the_mixture_probability():
    X, y, _ = _clusters(5, 30, seed=7)
    clf = Substrate().fit(X, y)
    p = clf.predict(X[0])
    assert p.label == y[0]
    assert 0 < p.confidence <= 1 and p.probability == p.confidence


def test_storage_counts_the_statistics_it_holds():
    X, y, _ = _clusters(5, 30, seed=8)
    hybrid, band = Substrate().fit(X, y), Substrate(vote="band").fit(X, y)
    hybrid.predict_one(X[0])
    assert band.storage_bytes() == band.ledger.nbytes
    assert hybrid.storage_bytes() > hybrid.ledger.nbytes


def test_the_seed_head_shares_the_known_classes_probability():
    sims = np.array([[0.9, 0.8]])
    codes = np.array([[0, 1]])
    scores = np.array([[0.0, 0.0, 0.0]])  # classes 0, 1 known; 2 arrived by correction
    plain, p_plain = hybrid_vote(sims, codes, scores, mix=0.5, tau=0.1, temperature=1.0)
    head = np.array([[0.1, 0.9]])  # the head prefers class 1
    winners, probs = hybrid_vote(
        sims, codes, scores, mix=0.5, tau=0.1, temperature=1.0, known=(np.array([0, 1]), head)
    )
    assert plain[0] == 0 and winners[0] == 1
    knn = neighbour_distribution(sims, codes, 3, tau=0.1)[0]
    known_total = 0.5 * (knn[0] + knn[1]) + 0.5 * 2 / 3
    assert probs[0] == pytest.approx(0.9 * known_total)


def test_the_head_is_trained_on_fit_examples_and_knows_only_their_classes():
    X, y, _ = _clusters(4, 30, seed=9)
    clf = Substrate().fit(X, y)
    x = _unit(np.ones(X.shape[1]))
    clf.correct(x, "corrected-class")
    clf.predict_one(x)
    known, _ = clf._head.distribution(x[None, :], clf._index.rows)
    assert sorted(clf.labels[c] for c in known) == sorted(set(y))
    assert clf.predict_one(x) == "corrected-class"
    assert Substrate(head=False).fit(X, y)._head is None


def test_corrections_of_known_classes_step_the_head_and_stay_derived_from_the_ledger():
    X, y, centres = _clusters(4, 30, seed=10)
    rng = np.random.default_rng(11)
    # the known class c1 drifts into a region the fit examples gave to c0
    drifted = _unit(centres[0] + 0.3 * rng.standard_normal((40, X.shape[1])))
    stepping, frozen = Substrate().fit(X, y), Substrate(head_lr=0).fit(X, y)
    before = stepping._head.distribution(drifted, stepping._index.rows)[1].copy()
    for x in drifted[:30]:
        stepping.correct(x, "c1")
        frozen.correct(x, "c1")
    known, after = stepping._head.distribution(drifted, stepping._index.rows)
    c1 = list(known).index(stepping._codes["c1"])
    assert after[:, c1].mean() > before[:, c1].mean() + 0.2  # the head heard them
    _, unchanged = frozen._head.distribution(drifted, frozen._index.rows)
    np.testing.assert_array_equal(unchanged, before)
    rebuilt = Substrate.from_ledger(stepping.ledger)
    assert [rebuilt.predict(q).probability for q in drifted[30:]] == [
        stepping.predict(q).probability for q in drifted[30:]
    ]
    with pytest.raises(ValueError, match="head_lr"):
        Substrate(head_lr=-1)


def test_a_mislabelled_correction_is_flagged_once_later_corrections_contradict_it():
    X, y, centres = _clusters(6, 30, seed=10)
    clf = Substrate().fit(X, y)
    rng = np.random.default_rng(11)
    novel = _unit(rng.standard_normal(X.shape[1]))
    near = lambda: _unit(novel + 0.15 * rng.standard_normal(X.shape[1]) / 5)  # noqa: E731
    right = clf.correct(near(), "refund")
    wrong = clf.correct(near(), "c2")  # the user slipped
    assert clf.suspects() == []  # nothing contradicts it yet
    later = [clf.correct(near(), "refund") for _ in range(3)]
    flagged = clf.suspects()
    assert [s.seq for s in flagged] == [wrong.seq]
    assert flagged[0].likely_label == "refund" and flagged[0].label == "c2"
    assert set(flagged[0].contradicted_by) <= {e.seq for e in later}
    assert right.seq not in {s.seq for s in flagged}
    clf.revoke(wrong.seq, "reviewed: mislabelled")
    assert clf.suspects() == []
