"""The single-query prediction path gives exactly the answers of the batch path.

``predict_one`` and ``predict`` take a path of their own (a 1-D top-k, a plain-Python band
vote for one row, the discriminant's map cached between changes); these tests hold it to
the vectorised code the batch path uses, bit for bit: the same neighbours, labels and
probabilities, ties included.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import assert_rebuilds_identically, make_clusters
from ocrr.index.exact import top_k, top_k_one
from ocrr.index.sketch import exact_scores
from ocrr.substrate import BandVote, HybridVote, Substrate
from ocrr.substrate.vote import BAND_RULES, band_vote, neighbour_distribution, neighbour_weights
from ocrr.vectors import unit_vector


def _tied_sims(rng: np.random.Generator, n: int) -> np.ndarray:
    """Similarities with many exact ties (few distinct values) and some removed rows."""
    sims = (rng.integers(0, int(rng.choice([2, 5, 1000])), n) / 7).astype(np.float32)
    if rng.random() < 0.3:
        sims[rng.integers(0, n, max(1, n // 3))] = -np.inf
    return sims


@pytest.mark.parametrize("n", [1, 7, 300, 1300, 5000, 20_000])
@pytest.mark.parametrize("k", [1, 5, 20])
def test_top_k_one_is_the_batch_top_k(n, k):
    rng = np.random.default_rng(n * 100 + k)
    for trial in range(40):
        sims = _tied_sims(rng, n) if trial % 2 else rng.standard_normal(n).astype(np.float32)
        rows, top = top_k_one(sims, np.arange(n), k)
        batch_rows, batch_top = top_k(sims[None, :], 0, k)
        assert rows.dtype == batch_rows.dtype and top.dtype == batch_top.dtype
        np.testing.assert_array_equal(rows, batch_rows[0])
        np.testing.assert_array_equal(top, batch_top[0])


@pytest.mark.parametrize("rule", list(BAND_RULES))
def test_band_vote_for_one_row_is_the_vectorised_vote(rule):
    rng = np.random.default_rng(5)
    for _ in range(500):
        k = int(rng.integers(1, 12))
        # few distinct similarities and labels: ties in every score
        sims = -np.sort(-(rng.integers(0, 20, (2, k)) / 200).astype(np.float32), axis=1)
        if rng.random() < 0.3:
            sims[:, -1] = -np.inf
        codes, seqs = rng.integers(0, 4, (2, k)), rng.integers(0, 50, (2, k))
        batch = band_vote(sims, codes, seqs, 0.05, BAND_RULES[rule])  # two rows: vectorised
        for q in range(2):
            one = band_vote(sims[q : q + 1], codes[q : q + 1], seqs[q : q + 1], 0.05,
                            BAND_RULES[rule])
            assert one.tolist() == [batch[q]]


def test_neighbour_distribution_adds_weights_in_neighbour_order():
    rng = np.random.default_rng(2)
    for _ in range(200):
        n, k, classes = int(rng.integers(1, 20)), int(rng.integers(1, 25)), int(rng.integers(1, 90))
        sims = -np.sort(-rng.random((n, k)).astype(np.float32), axis=1)
        sims[:, k // 2 + 1 :][rng.random((n, k - k // 2 - 1)) < 0.2] = -np.inf
        codes = rng.integers(0, classes, (n, k))
        weights = neighbour_weights(sims, 0.02)
        reference = np.zeros((n, classes))  # the unbuffered scatter-add, one weight at a time
        np.add.at(reference, (np.arange(n)[:, None], codes), weights)
        reference /= reference.sum(axis=1, keepdims=True)
        np.testing.assert_array_equal(neighbour_distribution(sims, codes, classes, 0.02), reference)


@pytest.fixture(scope="module")
def banking77_sized():
    """77 classes, about 10,000 training rows of dimension 384 (Banking77's shape), and
    queries from those classes and 5 new ones."""
    X, y, centroids = make_clusters(77, 130, 384, noise=1.2, seed=7, prefix="intent_")
    new = make_clusters(5, 1, 384, seed=8)[2]
    Q, qy, _ = make_clusters(82, 4, 384, noise=1.2, seed=9, prefix="intent_",
                             centroids=np.vstack([centroids, new]))
    return X.astype(np.float32), y, Q.astype(np.float32), qy


def _reference(clf: Substrate, q: np.ndarray) -> tuple[str, float | None, np.ndarray]:
    """The batch path's answer for one query: every row scored exactly (the scores one
    query's search returns, :func:`~ocrr.index.sketch.exact_scores`), the batch top-k, and
    the rule's vectorised vote (a second row forces it for the band vote)."""
    state, index = clf._state, clf.index
    q = unit_vector(q)  # as the substrate takes it in
    sims = exact_scores(index.vectors, np.arange(len(index)), q)
    sims[index.removed] = -np.inf
    rows, top = top_k(sims[None, :], 0, clf.rule.k)
    if isinstance(clf.rule, BandVote):
        winners, probs = clf.rule.choose(np.vstack([q, q]), np.vstack([rows, rows]),
                                         np.vstack([top, top]), state)
    else:
        winners, probs = clf.rule.choose(q[None, :], rows, top, state)
    probability = None if probs is None else float(probs[0])
    return state.labels[winners[0]], probability, rows[0]


@pytest.mark.parametrize("vote", [BandVote(), HybridVote()], ids=["band", "hybrid"])
def test_one_query_answers_as_the_batch_path_on_a_banking77_sized_ledger(vote, banking77_sized):
    X, y, Q, qy = banking77_sized
    clf = Substrate(vote=vote).fit(X, y)
    for i, (q, label) in enumerate(zip(Q, qy, strict=True)):
        expected_label, expected_probability, expected_rows = _reference(clf, q)
        p = clf.predict(q)
        assert clf.predict_one(q) == p.label == expected_label
        assert p.probability == expected_probability  # bit for bit (None under band)
        seqs = clf._state.row_seqs[expected_rows]
        assert [n.seq for n in p.neighbours] == seqs[np.isfinite(seqs)].tolist()
        if i % 3 == 0:  # corrections and revocations between predictions change the state
            entry = clf.correct(q, label)
            if i % 30 == 0:
                clf.revoke(entry.seq, "test")
    assert_rebuilds_identically(clf, Q[:50], vote=vote)
