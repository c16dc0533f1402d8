"""The softmax head baselines (``static_linear``, ``online_linear`` and, with a strategy, the
continual-learning ones): :class:`~ocrr.heads.SoftmaxHead`, which lives in the neutral
module :mod:`ocrr.heads` because the substrate's hybrid rule builds on it too.

Re-exported here, so ``from ocrr.systems.linear import SoftmaxHead`` keeps working.
"""

from __future__ import annotations

from ocrr.heads import SoftmaxHead, UpdateStrategy
from ocrr.vectors import softmax as _softmax

__all__ = ["SoftmaxHead", "UpdateStrategy", "_softmax"]
