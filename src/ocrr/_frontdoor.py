"""What the two front doors (:mod:`ocrr.sklearn`, :mod:`ocrr.river`) share: the substrate's
parameters they pass through, the map between their label objects and the ledger's label
strings, and one prediction as a row of probabilities."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np

from ocrr.substrate import Prediction, Substrate

SUBSTRATE_PARAMS = (
    "vote", "k", "margin", "mix", "tau", "temperature", "shrinkage", "head", "head_lr", "exact",
)
"""The :class:`~ocrr.substrate.Substrate` parameters a front door takes; ``None`` keeps the
substrate's default."""

TIE_BREAK = 1e-9
"""Added to the substrate's answer where its column ties another (then renormalised), so the
most probable column is always the answer the substrate gives."""


class SubstrateParams:
    """The front doors' parameters, kept as given (scikit-learn's and river's ``clone`` and
    ``get_params`` read them back from the ``__init__`` signature)."""

    def __init__(
        self,
        vote: str | None = None,
        k: int | None = None,
        margin: float | None = None,
        mix: float | None = None,
        tau: float | None = None,
        temperature: float | None = None,
        shrinkage: float | None = None,
        head: bool | None = None,
        head_lr: float | None = None,
        exact: bool | None = None,
    ) -> None:
        self.vote = vote
        self.k = k
        self.margin = margin
        self.mix = mix
        self.tau = tau
        self.temperature = temperature
        self.shrinkage = shrinkage
        self.head = head
        self.head_lr = head_lr
        self.exact = exact

    def make_substrate(self, **extra: Any) -> Substrate:
        """A fresh substrate with these parameters (those not ``None``)."""
        params = {name: getattr(self, name) for name in SUBSTRATE_PARAMS}
        return Substrate(**{k: v for k, v in params.items() if v is not None}, **extra)


class LabelMap:
    """Label objects (ints, bools, strings, ...) ↔ the strings the ledger keeps (``str(y)``),
    refusing two labels that would read the same."""

    def __init__(self) -> None:
        self.objects: dict[str, Hashable] = {}

    def ledger_label(self, y: Hashable) -> str:
        text = str(y)
        known = self.objects.setdefault(text, y)
        if known != y:
            raise ValueError(f"labels {known!r} and {y!r} both read {text!r} in the ledger")
        return text

    def __len__(self) -> int:
        return len(self.objects)


def probabilities(prediction: Prediction, columns: Mapping[str, int], n: int) -> np.ndarray:
    """One prediction as ``n`` probabilities, ``columns`` mapping ledger labels to columns.

    The hybrid rule: the answer's column holds its probability (the only one
    :class:`~ocrr.substrate.Prediction` exposes) and the other columns share the rest evenly.
    The band rules: each column holds its label's share of the band's votes (so the answer's
    column is :attr:`Prediction.confidence`). A column tying the answer's leaves the answer
    ahead by :data:`TIE_BREAK`, as the rule's own tie-break does.
    """
    row = np.zeros(n)
    win = columns.get(prediction.label) if prediction.label is not None else None
    if win is None:  # no answer: nothing to tell the columns apart
        return np.full(n, 1.0 / n)
    if prediction.probability is not None:
        row[:] = (1.0 - prediction.probability) / (n - 1) if n > 1 else 0.0
        row[win] = prediction.probability
    else:
        voters = [nb.label for nb in prediction.neighbours if nb.voted and nb.label in columns]
        for label in voters:
            row[columns[label]] += 1.0 / len(voters)
    if n > 1 and np.delete(row, win).max() >= row[win]:
        row[win] += TIE_BREAK
    return row / row.sum()
