"""The paper's margin-band majority vote, vectorised over a batch of queries.

Among the k nearest entries, those within ``margin`` of the top similarity form the band.
Each label in the band scores (count, max similarity, newest sequence number) and the
largest tuple wins: ties by count go to the closer label, then to the more recent one.
"""

from __future__ import annotations

import numpy as np


def band_mask(sims: np.ndarray, margin: float) -> np.ndarray:
    """Which neighbours vote: similarity >= top - margin (computed in float64)."""
    sims = np.asarray(sims, dtype=np.float64)
    return sims >= sims[:, :1] - margin


def band_vote(sims: np.ndarray, codes: np.ndarray, seqs: np.ndarray, margin: float) -> np.ndarray:
    """Winning label code per row.

    ``sims``, ``codes`` and ``seqs`` have shape (n, k): each row's neighbours sorted by
    similarity, most similar first. Returns an (n,) array of label codes.
    """
    sims = np.asarray(sims, dtype=np.float64)
    band = band_mask(sims, margin)
    # same[q, i, j]: neighbour j votes and shares neighbour i's label
    same = (codes[:, :, None] == codes[:, None, :]) & band[:, None, :]
    count = np.where(band, same.sum(axis=2), -1)
    max_sim = np.where(same, sims[:, None, :], -np.inf).max(axis=2)
    newest = np.where(same, seqs[:, None, :], -1).max(axis=2)

    candidate = count == count.max(axis=1, keepdims=True)
    closest = np.where(candidate, max_sim, -np.inf)
    candidate &= closest == closest.max(axis=1, keepdims=True)
    position = np.where(candidate, newest, -1).argmax(axis=1)
    return codes[np.arange(len(codes)), position]
