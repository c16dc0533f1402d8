"""OCRR: a classifier that learns from each correction at once, forgets nothing, and can
prove what it learned from; and the benchmark that measures how fast any system recovers.

Data flows one way: text -> encoder -> vectors -> system -> harness -> results -> report.
"""

from ocrr.ledger import Entry, Ledger
from ocrr.substrate import Prediction, Substrate

__version__ = "0.1.0"

__all__ = ["Entry", "Ledger", "Prediction", "Substrate", "__version__"]
