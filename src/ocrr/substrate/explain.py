"""What a substrate says about its answers: predictions with their evidence, and suspects.

- :class:`Prediction`: the label, its probability (hybrid rule) and the neighbours behind
  it, each a :class:`Neighbour` (sequence number, label, similarity, whether it voted);
- :class:`Suspect`: a correction that later corrections around it keep contradicting, found
  by :func:`find_suspects` (``Substrate.suspects``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ocrr.substrate.state import DerivedState
    from ocrr.substrate.votes import Vote


@dataclass(frozen=True)
class Neighbour:
    """One of the nearest live examples behind a prediction.

    ``voted`` says whether it counted: under the band rules (and ``sumsim``), whether it
    fell inside the margin band (similarity at least the top's minus ``margin``); under the
    hybrid rule, whether its weight in the neighbour part, ``exp((sim - top) / tau)``, is
    at least :data:`~ocrr.substrate.votes.VOTED_WEIGHT` (1 %) of the top neighbour's.

    >>> Neighbour(seq=3, label="refund", similarity=0.91, voted=True).label
    'refund'
    """

    seq: int
    label: str
    similarity: float
    voted: bool
    """Whether it took part in the vote (see the class's description)."""


@dataclass(frozen=True)
class Suspect:
    """A correction that later corrections around it keep contradicting: worth a review."""

    seq: int
    label: str
    contradicted_by: tuple[int, ...]
    """Later corrections among its nearest live neighbours that carry another label."""
    likely_label: str
    """The label most of those contradicting corrections carry."""


@dataclass(frozen=True)
class Prediction:
    """A label with the evidence for it: the neighbours retrieved and which of them voted.

    >>> p = Prediction("a", (Neighbour(0, "a", 0.9, True), Neighbour(1, "b", 0.8, True)))
    >>> p.confidence  # band rules: the winner's share of the voters
    0.5
    >>> Prediction("a", (), probability=0.75).confidence  # hybrid rule: its probability
    0.75
    """

    label: str | None
    neighbours: tuple[Neighbour, ...]
    probability: float | None = None
    """The hybrid rule's probability for the label (None under the band rules)."""

    @property
    def confidence(self) -> float:
        """The hybrid rule's probability; under the band rules, the share of the band's
        votes that went to the winning label (0 with no entries)."""
        if self.probability is not None:
            return self.probability
        voters = [n for n in self.neighbours if n.voted]
        if not voters:
            return 0.0
        return sum(n.label == self.label for n in voters) / len(voters)


def explain(
    state: DerivedState, vote: Vote, label: str | None, rows: np.ndarray, sims: np.ndarray,
    probability: float | None,
) -> Prediction:
    """The prediction of ``label`` for one query whose neighbours are (rows, sims)."""
    live = np.isfinite(sims)  # fewer live entries than k: removed rows fill the tail
    rows, sims = rows[live], sims[live]
    voted = vote.voted(sims[None, :])[0]
    names = state.labels
    # whole columns to Python values at once (the same ints, floats and bools as element by
    # element, a fraction of the cost: the service explains every prediction)
    neighbours = tuple(
        Neighbour(seq, names[code], sim, v)
        for seq, code, sim, v in zip(state.row_seqs[rows].tolist(),
                                     state.row_codes[rows].tolist(), sims.tolist(),
                                     voted.tolist(), strict=True)
    )
    return Prediction(label, neighbours, probability)


def find_suspects(state: DerivedState, k: int, min_contradictions: int) -> list[Suspect]:
    """Live examples not from ``fit`` whose ``k`` nearest live neighbours include at least
    ``min_contradictions`` later corrections with another label, outnumbering the
    neighbours that agree (see ``Substrate.suspects``)."""
    if not state.has_voters:
        return []
    assert state.index is not None
    seqs, codes, seed = state.row_seqs, state.row_codes, state.row_seeds
    rows = np.flatnonzero(seed == 0)
    rows = rows[[state.live_row(int(r)) for r in rows]]
    if len(rows) == 0:
        return []
    found, _ = state.index.search_many(state.vectors()[rows], k + 1)
    suspects = []
    for row, neighbours in zip(rows, found, strict=True):
        others = [n for n in neighbours if n != row and n >= 0 and state.live_row(n)]
        later = [n for n in others if seqs[n] > seqs[row] and not seed[n]]
        against = [n for n in later if codes[n] != codes[row]]
        agree = [n for n in others if codes[n] == codes[row]]
        if len(against) >= min_contradictions and len(against) > len(agree):
            votes = np.bincount(codes[against])
            suspects.append(
                Suspect(
                    int(seqs[row]),
                    state.labels[codes[row]],
                    tuple(int(seqs[n]) for n in against),
                    state.labels[int(votes.argmax())],
                )
            )
    return suspects
