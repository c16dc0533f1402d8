"""The hybrid rule's options for sparse corrections (``correction_weight``, ``balance``,
``debias``, ``direct`` and its ``direct_veto``, ``head_share``): what each changes, and that
with any of them the classifier stays a function of its ledger (rebuild, revoke and erase
exact)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import make_clusters, unit
from ocrr import Substrate
from ocrr.substrate import SMALL, SPARSE, HybridVote
from ocrr.substrate.statistics import DiscriminantStatistics
from ocrr.systems import make_system

ALL_ON = {"correction_weight": 3.0, "balance": 0.5, "debias": 1.0, "direct": 0.9, "direct_agree": 2}


def test_the_options_are_off_by_default_the_named_settings_turn_them_on_and_are_checked():
    rule = HybridVote()  # the default keeps the rule every other table measured
    assert (rule.correction_weight, rule.balance, rule.debias, rule.direct, rule.direct_veto,
            rule.dense_at, rule.head_share) == (1.0, 0, 0, 0, 0, 0, 1.0)
    # chosen on validation splits (docs/results.md, "Sparse corrections"), both opt-in
    sparse, small = HybridVote(**SPARSE), HybridVote(**SMALL)
    assert (sparse.balance, sparse.debias, sparse.direct, sparse.direct_agree, sparse.dense_at) == (
        1, 0.35, 0.6, 2, 0)
    assert (small.balance, small.debias, small.direct, small.direct_agree, small.dense_at) == (
        2, 0.5, 0.6, 2, 16)
    assert make_system("substrate_sparse", 0).rule == sparse  # type: ignore[attr-defined]
    assert make_system("substrate_small", 0).rule == small  # type: ignore[attr-defined]
    assert Substrate(debias=0.5).rule == HybridVote(debias=0.5)
    for bad, match in (({"correction_weight": 0}, "correction_weight"),
                       ({"balance": -1}, "balance"), ({"debias": -0.1}, "debias"),
                       ({"direct": 1.5}, "direct"), ({"dense_at": -1}, "dense_at"),
                       ({"head_share": 1.5}, "head_share"), ({"head_share": -0.1}, "head_share")):
        with pytest.raises(ValueError, match=match):
            HybridVote(**bad)  # type: ignore[arg-type]


def _known_and_novel(seed: int = 0):
    """Eight dense known classes (80 rows each, 32-d, past the covariance's first schedule
    point) and a ninth class's queries near (not on) them."""
    X, y, _ = make_clusters(9, 80, 32, noise=2.0, seed=seed)
    known = np.array([label != "c08" for label in y])
    return X[known], [v for v, k in zip(y, known, strict=True) if k], X[~known]


def test_debias_credits_a_class_taught_by_few_corrections():
    X, y, novel = _known_and_novel()
    teach, queries = novel[:3], novel[3:]
    hits = {}
    for debias in (0.0, 1.0):
        clf = Substrate(debias=debias, head=False).fit(X, y)
        for x in teach:
            clf.correct(x, "c08")
        hits[debias] = np.mean(np.array(clf.predict_many(queries)) == "c08")
    assert hits[1.0] > hits[0.0] + 0.1


def test_debias_is_the_expected_excess_distance_of_a_noisy_mean():
    rng = np.random.default_rng(1)
    dim = 8
    plain, debiased = DiscriminantStatistics(dim), DiscriminantStatistics(dim, debias=1.0)
    rows = unit(rng.standard_normal((300, dim)))
    codes = [0] * 296 + [1] * 4
    for stats in (plain, debiased):
        for code, x in zip(codes, rows, strict=True):
            stats.add(code, x)
    q = rows[:5]
    gap = debiased.scores(q, lambda: rows) - plain.scores(q, lambda: rows)
    trace = debiased._trace
    assert 0 < trace <= dim + 1e-6
    np.testing.assert_allclose(gap, np.tile([trace / 2 / 296, trace / 2 / 4], (5, 1)))


def test_dense_at_limits_the_debias_credit_to_small_classes_fading_at_dense_at():
    rng = np.random.default_rng(1)
    dim = 8
    rows = unit(rng.standard_normal((300, dim)))
    codes = [0] * 280 + [1] * 4 + [2] * 16
    plain = DiscriminantStatistics(dim)
    faded = DiscriminantStatistics(dim, debias=0.7, dense_at=10)
    for stats in (plain, faded):
        for code, x in zip(codes, rows, strict=True):
            stats.add(code, x)
    q = rows[:5]
    gap = faded.scores(q, lambda: rows) - plain.scores(q, lambda: rows)
    # the class of 4 gains 0.7 * tr / 2 * (1/4 - 1/10); classes of 16 and 280 gain nothing
    expected = [0.0, 0.7 * faded._trace / 2 * (1 / 4 - 1 / 10), 0.0]
    np.testing.assert_allclose(gap, np.tile(expected, (5, 1)), atol=1e-12)
    with pytest.raises(ValueError, match="dense_at"):
        HybridVote(dense_at=-1)


def test_dense_at_weighs_up_only_the_neighbours_of_small_classes():
    X, y, _ = make_clusters(3, 40, 8, noise=0.5, seed=2)
    clf = Substrate(balance=2.0, dense_at=10.0).fit(X, y)
    for x in X[:4]:
        clf.correct(x, "small")  # a class of 4 corrections beside three of 40 (c00: 36)
    state = clf._state
    rows = np.arange(len(state.row_codes))[None, :]
    sims = np.zeros(rows.shape)
    counts = state.extra.stats.counts
    scale, _ = clf.rule._sparse_terms(rows, sims, state.row_codes[rows], state, counts)
    by_class = {label: set(np.round(scale[0][state.row_codes == code], 9))
                for label, code in clf._codes.items() if counts[code] > 0}
    # dense classes (36 and 40 examples) weigh 1 each; the class of 4, (10 / 4) ** 2
    assert by_class == {"c00": {1.0}, "c01": {1.0}, "c02": {1.0}, "small": {6.25}}


def test_a_weighted_correction_moves_its_class_mean_further():
    X, y, centres = make_clusters(4, 40, 16, noise=0.3, seed=2)
    drifted = unit(centres[0] + 0.8 * centres[1])  # c00 phrased nearer c01
    means = {}
    for weight in (1.0, 5.0):
        clf = Substrate(correction_weight=weight).fit(X, y)
        clf.correct(drifted, "c00")
        stats = clf._state.extra.stats
        code = clf._codes["c00"]
        means[weight] = stats._sums[code] / stats.counts[code]
        assert stats.counts[code] == 40 + weight
    assert means[5.0] @ drifted > means[1.0] @ drifted


def test_direct_lets_the_nearest_correction_decide_over_the_head():
    X, y, centres = make_clusters(4, 40, 16, noise=0.3, seed=3)
    # a known class phrased where the fit examples (and the head) say another class
    x = unit(centres[1] + 0.05 * np.random.default_rng(4).standard_normal(16))
    for direct, expected in ((0.0, "c01"), (0.95, "c00")):
        clf = Substrate(direct=direct, direct_agree=1, head_lr=0).fit(X, y)
        clf.correct(x, "c00")
        near = unit(x + 0.02 * np.random.default_rng(5).standard_normal(16))
        assert clf.predict_one(near) == expected
        assert (clf.predict(near).probability == 1.0) == bool(direct)
        assert clf.predict_one(X[0]) == y[0]  # far from the correction: as before


def test_head_share_lets_corrections_of_a_known_class_move_the_answer_at_once():
    X, y, centres = make_clusters(4, 40, 16, noise=0.3, seed=3)
    # a known class phrased where the fit examples (and the head) say another class
    x = unit(centres[1] + 0.05 * np.random.default_rng(4).standard_normal(16))
    near = unit(x + 0.02 * np.random.default_rng(5).standard_normal(16))

    def corrected(**params):
        clf = Substrate(head_lr=0, **params).fit(X, y)  # the head never steps
        rng = np.random.default_rng(6)
        for _ in range(10):
            clf.correct(unit(x + 0.02 * rng.standard_normal(16)), "c00")
        return clf

    answers = {share: corrected(head_share=share).predict(near) for share in (1.0, 0.5, 0.0)}
    assert [answers[s].label for s in (1.0, 0.5, 0.0)] == ["c01", "c01", "c00"]
    assert answers[0.5].probability < answers[1.0].probability  # c01 less sure
    # no share for the head is the rule without a head, bit for bit; a rebuild the same
    assert corrected(head=False).predict(near).probability == answers[0.0].probability
    clf = corrected(head_share=0.5)
    rebuilt = Substrate.from_ledger(clf.ledger, head_share=0.5, head_lr=0)
    assert rebuilt.predict(near).probability == answers[0.5].probability
    assert clf.predict_one(X[0]) == y[0]  # far from the corrections: as before


def test_direct_agree_keeps_one_correction_from_taking_over():
    X, y, centres = make_clusters(4, 40, 16, noise=0.3, seed=3)
    x = unit(centres[1] + 0.05 * np.random.default_rng(4).standard_normal(16))
    near = unit(x + 0.02 * np.random.default_rng(5).standard_normal(16))
    clf = Substrate(direct=0.95, direct_agree=2, head_lr=0).fit(X, y)
    clf.correct(x, "c00")
    assert clf.predict_one(near) == "c01"  # one correction alone does not decide
    clf.correct(unit(x + 0.01 * np.random.default_rng(6).standard_normal(16)), "c00")
    assert clf.predict_one(near) == "c00"  # two that agree do
    with pytest.raises(ValueError, match="direct_agree"):
        HybridVote(direct_agree=0)


def test_direct_veto_holds_back_a_correction_with_a_sister_close_behind():
    X, y, centres = make_clusters(4, 40, 16, noise=0.3, seed=3)
    query = centres[1]
    # two directions orthogonal to the query and to each other
    basis, _ = np.linalg.qr(np.column_stack(
        [query, np.random.default_rng(4).standard_normal((16, 2))]))
    mine = unit(query + 0.1 * basis[:, 1])  # similarity 0.995 to the query
    sister = unit(query + 0.25 * basis[:, 2])  # 0.970: 0.025 behind
    answers = {}
    for direct, veto in ((0.9, 0.0), (0.9, 0.01), (0.9, 0.05), (0.9, 1.0), (0.98, 1.0)):
        clf = Substrate(direct=direct, direct_agree=1, direct_veto=veto, head_lr=0).fit(X, y)
        clf.correct(mine, "fine_a")
        rival = clf.correct(sister, "fine_b")
        p = clf.predict(query)
        answers[direct, veto] = p.label if p.probability == 1.0 else None
        if (direct, veto) == (0.9, 0.05):  # the veto is the live corrections' doing
            clf.revoke(rival.seq, "wrong class")
            assert clf.predict(query).probability == 1.0
            rebuilt = Substrate.from_ledger(clf.ledger, direct=direct, direct_agree=1,
                                            direct_veto=veto, head_lr=0)
            assert rebuilt.predict(query).label == "fine_a"
            assert rebuilt.predict(query).probability == 1.0
    assert answers == {
        (0.9, 0.0): "fine_a",  # no veto: the nearest correction answers
        (0.9, 0.01): "fine_a",  # the sister is 0.025 behind, outside a veto of 0.01
        (0.9, 0.05): None,  # inside 0.05: the vote decides
        (0.9, 1.0): None,  # unanimity asked
        (0.98, 1.0): "fine_a",  # the sister is below direct: not near, no say
    }
    # with veto_agree=2 one sister correction (a slip, perhaps) does not veto; two do
    clf = Substrate(direct=0.9, direct_agree=1, direct_veto=0.05, veto_agree=2,
                    head_lr=0).fit(X, y)
    clf.correct(mine, "fine_a")
    clf.correct(sister, "fine_b")
    assert clf.predict(query).probability == 1.0
    clf.correct(unit(query + 0.2 * basis[:, 2] + 0.05 * basis[:, 1]), "fine_b")  # 0.979
    assert clf.predict(query).probability < 1.0
    for bad in ({"direct_veto": -0.1}, {"veto_agree": 0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            HybridVote(**bad)  # type: ignore[arg-type]


VETOED = {**SMALL, "direct_veto": 0.1, "veto_agree": 2}


@pytest.mark.parametrize(
    "params",
    [{}, ALL_ON, SMALL, VETOED, {"balance": 0.0, "debias": 0.0}, {"correction_weight": 0.5},
     {"head_share": 0.5}],
)
def test_with_the_options_a_rebuild_predicts_bit_for_bit_the_same(params):
    X, y, centres = make_clusters(8, 50, 24, noise=0.6, seed=6)
    clf = Substrate(**params).fit(X, y)
    rng = np.random.default_rng(7)
    entries = [
        clf.correct(unit(centres[i % 8] + 0.5 * rng.standard_normal(24) / 5),
                    f"n{i % 3}" if i % 2 else f"c{i % 8:02d}", subject=f"s{i % 5}")
        for i in range(60)
    ]
    clf.revoke(entries[4].seq, "wrong")
    queries = unit(rng.standard_normal((200, 24)))
    rebuilt = Substrate.from_ledger(clf.ledger, **params)
    assert rebuilt.predict_many(queries) == clf.predict_many(queries)
    assert [rebuilt.predict(q).probability for q in queries[:40]] == [
        clf.predict(q).probability for q in queries[:40]
    ]
    # after an erasure the rebuilt index holds fewer rows, and its similarities may differ
    # in the last bit (any rule, the default's too): the same answers, not the same bits
    clf.erase("s3")
    rebuilt = Substrate.from_ledger(clf.ledger, **params)
    assert rebuilt.predict_many(queries) == clf.predict_many(queries)
    np.testing.assert_allclose([rebuilt.predict(q).probability for q in queries[:40]],
                               [clf.predict(q).probability for q in queries[:40]], rtol=1e-6)


@pytest.mark.parametrize("params", [ALL_ON, SMALL, VETOED])
def test_with_the_options_revoke_and_erase_leave_no_trace(params):
    X, y, centres = make_clusters(10, 40, 24, noise=0.6, seed=8)
    rng = np.random.default_rng(9)
    stream = [(unit(centres[i % 10] + 0.5 * rng.standard_normal(24) / 5), f"c{i % 10:02d}")
              for i in range(150)]
    noisy, clean = Substrate(**params).fit(X, y), Substrate(**params).fit(X, y)
    wrong = []
    for i, (x, label) in enumerate(stream):
        if i % 5 == 0:  # a slip, revoked later
            wrong.append(noisy.correct(x, f"c{(i + 3) % 10:02d}"))
        elif i % 7 == 0:  # a person who later asks to be forgotten
            noisy.correct(x, "novel", subject="alice")
        else:
            noisy.correct(x, label)
            clean.correct(x, label)
    queries = unit(rng.standard_normal((300, 24)))
    assert noisy.predict_many(queries) != clean.predict_many(queries)
    for entry in wrong:
        noisy.revoke(entry.seq, "wrong label")
    noisy.erase("alice")
    mine, theirs = noisy._state.extra, clean._state.extra
    assert np.array_equal(mine.stats.scores(queries, noisy._state.vectors)[:, :10],
                          theirs.stats.scores(queries, clean._state.vectors)[:, :10])
    assert np.array_equal(mine.head.distribution(queries, noisy._index.rows)[1],
                          theirs.head.distribution(queries, clean._index.rows)[1])
    assert noisy.predict_many(queries) == clean.predict_many(queries)
    # the index's float32 similarities may differ in the last bit (tests/test_hybrid.py)
    np.testing.assert_allclose([noisy.predict(q).probability for q in queries[:60]],
                               [clean.predict(q).probability for q in queries[:60]], rtol=1e-6)
