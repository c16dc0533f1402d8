"""Vote rules over the k nearest entries, vectorised over a batch of queries.

The paper's rule (``"band"``): the neighbours within ``margin`` of the top similarity form
the band; each label in the band scores (count, max similarity, newest sequence number) and
the largest tuple wins. The other rules are the paper's ablations: the same band with fewer
tie-breakers, and a similarity-weighted vote with no band. Whatever ties remain go to the
label of the most similar neighbour. The hybrid rule's arithmetic is here too
(:func:`hybrid_vote`); the rules as objects with their parameters are in
:mod:`ocrr.substrate.votes`.
"""

from __future__ import annotations

import numpy as np

from ocrr.vectors import softmax

BAND_RULES: dict[str, tuple[str, ...]] = {
    "band": ("count", "max_sim", "recency"),
    "band_no_recency": ("count", "max_sim"),
    "band_count_only": ("count",),
}
VOTE_RULES = ("hybrid", *BAND_RULES, "sumsim")


def band_mask(sims: np.ndarray, margin: float) -> np.ndarray:
    """Which neighbours vote: similarity >= top - margin (computed in float64)."""
    sims = np.asarray(sims, dtype=np.float64)
    return sims >= sims[:, :1] - margin


def band_vote(
    sims: np.ndarray,
    codes: np.ndarray,
    seqs: np.ndarray,
    margin: float,
    keys: tuple[str, ...] = BAND_RULES["band"],
) -> np.ndarray:
    """Winning label code per row.

    ``sims``, ``codes`` and ``seqs`` have shape (n, k): each row's neighbours sorted by
    similarity, most similar first. ``keys`` are the label scores compared in order.
    """
    if len(sims) == 1:
        return np.array([_band_vote_one(sims[0], codes[0], seqs[0], margin, keys)])
    sims = np.asarray(sims, dtype=np.float64)
    band = band_mask(sims, margin)
    # same[q, i, j]: neighbour j votes and shares neighbour i's label
    same = (codes[:, :, None] == codes[:, None, :]) & band[:, None, :]
    scores = {
        "count": lambda: same.sum(axis=2).astype(np.float64),
        "max_sim": lambda: np.where(same, sims[:, None, :], -np.inf).max(axis=2),
        "recency": lambda: np.where(same, seqs[:, None, :], -1).max(axis=2).astype(np.float64),
    }
    candidate = band.copy()
    for key in keys:
        score = np.where(candidate, scores[key](), -np.inf)
        candidate &= score == score.max(axis=1, keepdims=True)
    return codes[np.arange(len(codes)), candidate.argmax(axis=1)]


_KEY_FIELDS = {"count": 0, "max_sim": 1, "recency": 2}


def _band_vote_one(
    sims: np.ndarray, codes: np.ndarray, seqs: np.ndarray, margin: float, keys: tuple[str, ...]
) -> int:
    """:func:`band_vote` for one query, in plain Python over its k neighbours (a tenth of
    the vectorised path's cost at k = 5): the same scores in float64, the same winner, and
    the same tie-break (the label of the most similar neighbour among the tied)."""
    row = sims.tolist()  # float32 -> Python float (float64), exactly
    floor = row[0] - margin
    labels: dict[int, list[float]] = {}  # code -> [count, max sim, newest seq, first place]
    for place, (sim, code, seq) in enumerate(zip(row, codes.tolist(), seqs.tolist(), strict=True)):
        if not sim >= floor:
            continue
        score = labels.get(code)
        if score is None:
            labels[code] = [1, sim, seq, -place]
        else:
            score[0] += 1
            score[1] = max(score[1], sim)
            score[2] = max(score[2], seq)
    fields = [_KEY_FIELDS[key] for key in keys]
    return max(labels, key=lambda c: (*(labels[c][f] for f in fields), labels[c][3]))


def sumsim_vote(sims: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Ablation: each label scores the sum of its neighbours' similarities; no band."""
    sims = np.asarray(sims, dtype=np.float64)
    live = np.isfinite(sims)  # removed entries score -inf and take no part
    same = (codes[:, :, None] == codes[:, None, :]) & live[:, None, :]
    totals = np.where(same, sims[:, None, :], 0.0).sum(axis=2)
    totals = np.where(live, totals, -np.inf)
    return codes[np.arange(len(codes)), totals.argmax(axis=1)]


def neighbour_weights(sims: np.ndarray, tau: float) -> np.ndarray:
    """(n, k) weights of the hybrid rule's neighbours: ``exp((sim - top) / tau)`` (the top
    neighbour weighs 1); removed neighbours (``-inf``) weigh nothing."""
    sims = np.asarray(sims, dtype=np.float64)
    return np.exp((sims - sims[:, :1]) / tau)  # exp(-inf) = 0


def neighbour_distribution(
    sims: np.ndarray,
    codes: np.ndarray,
    n_classes: int,
    tau: float,
    scale: np.ndarray | None = None,
) -> np.ndarray:
    """(n, classes) class probabilities from the k neighbours, each weighing
    :func:`neighbour_weights`, times ``scale`` (n, k) where given."""
    weights = neighbour_weights(sims, tau)
    if scale is not None:
        weights = weights * scale
    n = len(weights)
    # one bincount over (query, class) cells adds each cell's weights in neighbour order,
    # from 0.0, exactly as np.add.at did (a tenth of its cost for one query)
    cells = (codes + n_classes * np.arange(n)[:, None]).ravel()
    dist = np.bincount(cells, weights.ravel(), minlength=n * n_classes).reshape(n, n_classes)
    return dist / dist.sum(axis=1, keepdims=True)


def hybrid_vote(
    sims: np.ndarray,
    codes: np.ndarray,
    discriminant: np.ndarray,
    *,
    mix: float,
    tau: float,
    temperature: float,
    known: tuple[np.ndarray, np.ndarray] | None = None,
    scale: np.ndarray | None = None,
    direct: np.ndarray | None = None,
    head_share: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """The hybrid rule: ``mix`` x the neighbours' distribution + (1 - ``mix``) x the
    softmax of the discriminant's scores. With ``known`` = (codes, head probabilities),
    the mixture's total for those classes is shared among them as the head says
    (``head_share`` < 1: that share of it; the rest as the mixture itself shares it).
    ``scale`` (n, k) multiplies the neighbours' weights; where ``direct`` (n,) is true the
    nearest neighbour's label is the answer, with probability 1.
    Returns (winning codes, their probabilities); exact ties go to the lowest code (the
    label taught first).

    Classes with no live example (discriminant ``-inf`` everywhere: a revoked or retired
    class) take no part: the sums then run over the same classes as in a ledger that never
    had them, so revoking gives bit for bit the classifier that never saw them."""
    live = np.isfinite(discriminant).any(axis=0)
    if len(discriminant) and not live.all():
        keep = np.flatnonzero(live)
        where = np.cumsum(live) - 1  # code -> column among the live classes
        if known is not None:
            alive = live[known[0]]
            known = (where[known[0][alive]], known[1][:, alive])
        winners, probability = hybrid_vote(
            sims, where[codes], discriminant[:, keep], mix=mix, tau=tau,
            temperature=temperature, known=known, scale=scale, direct=direct,
            head_share=head_share,
        )
        return keep[winners], probability
    n_classes = discriminant.shape[1]
    neighbours = neighbour_distribution(sims, codes, n_classes, tau, scale)
    probs = mix * neighbours
    probs += (1 - mix) * softmax(np.asarray(discriminant, dtype=np.float64), temperature)
    if known is not None and len(known[0]):
        known_codes, head = known
        mass = probs[:, known_codes]
        shared = mass.sum(axis=1, keepdims=True) * head
        if head_share != 1.0:  # the same total, part of it split as the mixture splits it
            shared = head_share * shared + (1.0 - head_share) * mass
        probs[:, known_codes] = shared
    if direct is not None and direct.any():
        probs[direct] = 0.0
        probs[np.flatnonzero(direct), codes[direct, 0]] = 1.0
    winners = probs.argmax(axis=1)
    return winners, probs[np.arange(len(probs)), winners]


__all__ = [
    "BAND_RULES",
    "VOTE_RULES",
    "band_mask",
    "band_vote",
    "hybrid_vote",
    "neighbour_distribution",
    "neighbour_weights",
    "softmax",
    "sumsim_vote",
]
