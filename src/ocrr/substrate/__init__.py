"""The substrate classifier: ledger + derived index (+ the hybrid rule's derived statistics
and seed head) + a vote: the paper's band vote or OCRR's hybrid rule."""

from ocrr.substrate.substrate import Neighbour, Prediction, Substrate, Suspect
from ocrr.substrate.vote import band_mask, band_vote

__all__ = ["Neighbour", "Prediction", "Substrate", "Suspect", "band_mask", "band_vote"]
