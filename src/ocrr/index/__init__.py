"""Nearest-neighbour indexes over ledger vectors: derived state, rebuildable from the ledger."""

from ocrr.index.exact import ExactIndex

__all__ = ["ExactIndex"]
