"""The substrate classifier: ledger + derived index + the paper's band vote."""

from ocrr.substrate.substrate import Neighbour, Prediction, Substrate
from ocrr.substrate.vote import band_mask, band_vote

__all__ = ["Neighbour", "Prediction", "Substrate", "band_mask", "band_vote"]
