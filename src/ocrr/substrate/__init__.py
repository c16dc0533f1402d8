"""The substrate classifier: ledger + derived state (index, label table, the hybrid rule's
statistics and seed head) + a vote rule: OCRR's hybrid rule or the paper's band vote.

Modules: :mod:`~ocrr.substrate.substrate` (the public class), :mod:`~ocrr.substrate.state`
(what is derived from the ledger), :mod:`~ocrr.substrate.votes` (the rules as objects) and
:mod:`~ocrr.substrate.vote` (their vectorised arithmetic), :mod:`~ocrr.substrate.explain`
(predictions with their evidence, suspects), :mod:`~ocrr.substrate.inputs`,
:mod:`~ocrr.substrate.statistics` and :mod:`~ocrr.substrate.head` (the hybrid's parts).
"""

from ocrr.substrate.explain import Neighbour, Prediction, Suspect
from ocrr.substrate.substrate import Substrate
from ocrr.substrate.vote import band_mask, band_vote
from ocrr.substrate.votes import SMALL, SPARSE, BandVote, HybridVote, Vote, make_vote

__all__ = [
    "SMALL",
    "SPARSE",
    "BandVote",
    "HybridVote",
    "Neighbour",
    "Prediction",
    "Substrate",
    "Suspect",
    "Vote",
    "band_mask",
    "band_vote",
    "make_vote",
]
