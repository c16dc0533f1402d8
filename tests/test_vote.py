"""The paper's band vote and its ablations, on hand-made neighbour lists and end to end."""

from __future__ import annotations

import numpy as np
import pytest

from ocrr.substrate import Substrate, band_mask, band_vote
from ocrr.substrate.vote import BAND_RULES, VOTE_RULES, sumsim_vote

A, B, C = 0, 1, 2


def vote(sims, codes, seqs=None, margin=0.05, rule="band"):
    sims = np.array([sims], dtype=np.float32)
    codes = np.array([codes])
    seqs = np.array([seqs if seqs is not None else list(range(len(codes[0])))])
    if rule == "sumsim":
        return int(sumsim_vote(sims, codes)[0])
    return int(band_vote(sims, codes, seqs, margin, BAND_RULES[rule])[0])


def test_count_decides_first():
    # A holds the top neighbour, B has two votes in the band
    assert vote([0.90, 0.89, 0.88, 0.10, 0.05], [A, B, B, A, A]) == B


def test_count_tie_goes_to_max_similarity():
    # A: 0.90, 0.87; B: 0.89, 0.88 -> two each; A holds the higher maximum
    assert vote([0.90, 0.89, 0.88, 0.87, 0.2], [A, B, B, A, C], seqs=[0, 9, 8, 1, 2]) == A
    # the other way round: B has the top neighbour
    assert vote([0.90, 0.89, 0.88, 0.87, 0.2], [B, A, A, B, C], seqs=[0, 9, 8, 1, 2]) == B


def test_count_and_similarity_tie_goes_to_the_newest_entry():
    # A and B each have one neighbour at exactly the same similarity
    assert vote([0.75, 0.75, 0.1, 0.1, 0.1], [A, B, C, C, C], seqs=[3, 7, 0, 1, 2]) == B
    assert vote([0.75, 0.75, 0.1, 0.1, 0.1], [A, B, C, C, C], seqs=[7, 3, 0, 1, 2]) == A
    # recency is the label's newest voting entry, not its first
    sims = [0.75, 0.75, 0.75, 0.75, 0.1]
    assert vote(sims, [A, B, A, B, C], seqs=[10, 11, 12, 4, 99]) == A
    assert vote(sims, [A, B, A, B, C], seqs=[10, 11, 2, 13, 0]) == B


def test_band_excludes_neighbours_below_top_minus_margin():
    # band = {0.90 (A), 0.86 (B)}; the B at 0.84 and 0.83 would win on count if they voted
    assert vote([0.90, 0.86, 0.84, 0.83, 0.80], [A, B, B, B, B]) == A
    # widen the margin and they vote
    assert vote([0.90, 0.86, 0.84, 0.83, 0.80], [A, B, B, B, B], margin=0.2) == B
    mask = band_mask(np.array([[0.90, 0.86, 0.84, 0.83, 0.80]], dtype=np.float32), 0.05)
    assert mask.tolist() == [[True, True, False, False, False]]


def test_band_boundary_is_inclusive():
    mask = band_mask(np.array([[1.0, 0.75, 0.5]]), 0.25)
    assert mask.tolist() == [[True, True, False]]
    assert vote([1.0, 0.75, 0.75, 0.5, 0.5], [A, B, B, A, A], margin=0.25) == B


def test_zero_margin_band_is_the_top_similarity_only():
    assert vote([0.9, 0.9, 0.89, 0.89, 0.89], [A, B, C, C, C], seqs=[5, 1, 2, 3, 4], margin=0) == A


def test_no_recency_ablation_leaves_exact_ties_to_the_most_similar_neighbour():
    sims, codes, seqs = [0.75, 0.75, 0.1, 0.1, 0.1], [A, B, C, C, C], [3, 7, 0, 1, 2]
    assert vote(sims, codes, seqs, rule="band") == B
    assert vote(sims, codes, seqs, rule="band_no_recency") == A
    # but max similarity still breaks count ties
    assert vote([0.9, 0.89, 0.88, 0.87, 0], [A, B, B, A, C], rule="band_no_recency") == A


def test_count_only_ablation_ignores_similarity_and_recency_among_count_ties():
    sims, codes, seqs = [0.75, 0.75, 0.1, 0.1, 0.1], [A, B, C, C, C], [3, 7, 0, 1, 2]
    assert vote(sims, codes, seqs, rule="band_count_only") == A
    # count still decides first
    assert vote([0.90, 0.89, 0.88, 0.1, 0.1], [A, B, B, A, A], rule="band_count_only") == B


def test_sumsim_ablation_has_no_band():
    # band: only A votes; summed similarity: B 0.8 + 0.8 > A 0.9
    sims, codes = [0.90, 0.80, 0.80, 0.10, 0.05], [A, B, B, C, C]
    assert vote(sims, codes, rule="band") == A
    assert vote(sims, codes, rule="sumsim") == B
    assert vote([0.9, 0.4, 0.3, 0.2, 0.1], [A, B, B, C, C], rule="sumsim") == A


def test_batch_vote_equals_row_by_row():
    rng = np.random.default_rng(0)
    n, k = 300, 5
    sims = -np.sort(-rng.choice([0.9, 0.88, 0.86, 0.8, 0.5], size=(n, k)), axis=1)
    codes = rng.integers(0, 3, size=(n, k))
    seqs = rng.permutation(n * k).reshape(n, k)
    for rule in BAND_RULES:
        batch = band_vote(sims, codes, seqs, 0.05, BAND_RULES[rule])
        single = [
            band_vote(sims[i : i + 1], codes[i : i + 1], seqs[i : i + 1], 0.05, BAND_RULES[rule])[0]
            for i in range(n)
        ]
        assert batch.tolist() == single
    batch = sumsim_vote(sims, codes)
    assert batch.tolist() == [sumsim_vote(sims[i : i + 1], codes[i : i + 1])[0] for i in range(n)]


def test_winner_is_always_a_band_member():
    rng = np.random.default_rng(1)
    sims = -np.sort(-rng.uniform(0.5, 1.0, size=(500, 5)), axis=1)
    codes = rng.integers(0, 4, size=(500, 5))
    seqs = rng.permutation(2500).reshape(500, 5)
    band = band_mask(sims, 0.05)
    winners = band_vote(sims, codes, seqs, 0.05)
    for row in range(500):
        assert winners[row] in set(codes[row][band[row]].tolist())


# -- through the substrate, on vectors whose similarities are exact ---------------------------


def ternary(*support: int, dim: int = 16, signs: tuple[int, ...] | None = None) -> np.ndarray:
    """A unit vector with four entries of +-0.5: every dot product is a multiple of 0.25."""
    assert len(support) == 4
    vec = np.zeros(dim, dtype=np.float32)
    vec[list(support)] = 0.5 * np.array(signs or (1, 1, 1, 1), dtype=np.float32)
    return vec


QUERY = ternary(0, 1, 2, 3)
NEAR_1 = ternary(0, 1, 2, 4)  # similarity 0.75 to QUERY
NEAR_2 = ternary(0, 1, 3, 5)  # 0.75
NEAR_3 = ternary(1, 2, 3, 6)  # 0.75
FAR = [ternary(8, 9, 10, 11), ternary(9, 10, 11, 12), ternary(0, 9, 10, 11)]  # 0, 0, 0.25


def test_substrate_breaks_exact_ties_by_recency():
    X = np.stack([NEAR_1, NEAR_2, *FAR])
    clf = Substrate(vote="band").fit(X, ["old", "new", "far", "far", "far"])
    assert clf.predict_one(QUERY) == "new"
    assert clf.predict_many(QUERY[None, :]) == ["new"]
    swapped = Substrate(vote="band").fit(X, ["new", "old", "far", "far", "far"])
    assert swapped.predict_one(QUERY) == "old"  # the later entry again
    clf.correct(NEAR_3, "newest")
    assert clf.predict_one(QUERY) == "newest"
    assert clf.predict_many(QUERY[None, :]) == ["newest"]
    # the no-recency ablation keeps the most similar neighbour's label (lowest row on a tie)
    ablation = Substrate(vote="band_no_recency").fit(X, ["old", "new", "far", "far", "far"])
    ablation.correct(NEAR_3, "newest")
    assert ablation.predict_one(QUERY) == "old"


def test_substrate_count_beats_similarity_and_k1_does_not():
    top = ternary(0, 1, 2, 3)  # similarity 1.0 to the query... and its twins at 0.75
    X = np.stack([top, NEAR_1, NEAR_2, *FAR[:2]])
    labels = ["solo", "pair", "pair", "far", "far"]
    # margin 0.3 puts the 0.75 neighbours in the band: count 2 beats the single 1.0
    assert Substrate(vote="band", margin=0.3).fit(X, labels).predict_one(QUERY) == "pair"
    assert Substrate(vote="band", margin=0.05).fit(X, labels).predict_one(QUERY) == "solo"
    assert Substrate(vote="band", k=1, margin=0.3).fit(X, labels).predict_one(QUERY) == "solo"
    assert Substrate(k=5, vote="sumsim").fit(X, labels).predict_one(QUERY) == "pair"


def test_every_vote_rule_is_accepted_and_unknown_rules_are_refused():
    X = np.stack([NEAR_1, NEAR_2, *FAR])
    for rule in VOTE_RULES:
        assert Substrate(vote=rule).fit(X, list("aabbb")).predict_one(QUERY) == "a"
    with pytest.raises(ValueError, match="band"):
        Substrate(vote="majority")
    with pytest.raises(ValueError):
        Substrate(vote="band", k=0)
    with pytest.raises(ValueError):
        Substrate(vote="band", margin=-0.1)
