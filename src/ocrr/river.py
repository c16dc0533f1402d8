"""OCRR's classifier behind river's conventions: :class:`OcrrRiverClassifier`.

A thin layer over :class:`~ocrr.substrate.Substrate` for streams of ``(x, y)`` with ``x`` a
dict of numeric features: every ``learn_one`` is a correction appended to the ledger (the
first ones land on an empty substrate) and counts at once; ``predict_one`` is the
substrate's vote; ``predict_proba_one`` its probabilities over the labels seen so far.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any, cast

import numpy as np
from river import base
from river.base.typing import ClfTarget

from ocrr._frontdoor import LabelMap, SubstrateParams, probabilities
from ocrr.substrate import Substrate


def _feature_key(name: Hashable) -> tuple[str, str]:
    """A total order over feature names of any type (what the vector's columns follow)."""
    return type(name).__name__, str(name)


class OcrrRiverClassifier(SubstrateParams, base.Classifier):
    """OCRR's substrate as a river classifier.

    The vector's columns are the features of the first ``x`` learned, sorted by name: that
    order is fixed from then on. A feature missing from a later ``x`` counts as 0, and a
    feature the first ``x`` did not have is ignored. The substrate compares directions
    (cosine), so an ``x`` whose known features are all 0 cannot be placed: ``learn_one``
    skips it and ``predict_one`` answers None (``predict_proba_one``: ``{}``), as before the
    first example. Labels may be any hashable (the ledger keeps ``str(y)``; two labels
    reading the same are refused). Scaling the features first (``StandardScaler() | ...``)
    usually helps, as for any nearest-neighbour model.

    Parameters
    ----------
    vote, k, margin, mix, tau, temperature, shrinkage, head, head_lr, exact : optional
        :class:`~ocrr.substrate.Substrate`'s (``None``: its default); ``vote`` is
        ``"hybrid"`` (the default) or the paper's ``"band"`` (:mod:`ocrr.substrate.vote`).

    Examples
    --------
    >>> from ocrr.river import OcrrRiverClassifier
    >>> model = OcrrRiverClassifier(vote="band")
    >>> model.predict_one({"x": 1.0, "y": 0.0}) is None    # nothing learned yet
    True
    >>> stream = [({"x": 1.0, "y": 0.1}, "card"), ({"x": 0.1, "y": 1.0}, "rate"),
    ...           ({"x": 0.9, "y": 0.2}, "card"), ({"x": 0.2, "y": 0.9}, "rate")]
    >>> for x, y in stream:
    ...     model.learn_one(x, y)
    >>> model.predict_one({"y": 0.0, "x": 2.0}), model.features
    ('card', ('x', 'y'))
    >>> model.predict_proba_one({"x": 0.0, "y": 1.0})
    {'card': 0.0, 'rate': 1.0}
    >>> model.learn_one({"x": -1.0, "y": 0.0}, "close")    # a new class, learned at once
    >>> model.predict_one({"x": -0.9})
    'close'
    """

    _substrate: Substrate | None = None
    _features: tuple[Hashable, ...] | None = None
    _labels: LabelMap

    @property
    def _multiclass(self) -> bool:
        return True

    @property
    def substrate(self) -> Substrate | None:
        """The classifier and its ledger (None before the first ``learn_one``)."""
        return self._substrate

    @property
    def features(self) -> tuple[Hashable, ...] | None:
        """The features the vector's columns hold, in order (fixed by the first ``x``)."""
        return self._features

    def _vector(self, x: Mapping[Hashable, Any]) -> np.ndarray | None:
        """``x`` in the fixed column order, or None when it cannot be placed (all 0)."""
        if self._features is None:
            return None
        vector = np.array([float(x.get(f, 0.0)) for f in self._features], dtype=np.float32)
        return vector if vector.any() else None

    def learn_one(self, x: dict[Hashable, Any], y: Hashable) -> None:
        """Append ``(x, y)`` to the ledger as a correction; it votes at once."""
        if self._features is None:  # the first example fixes the columns
            self._features = tuple(sorted(x, key=_feature_key))
            self._substrate = self.make_substrate()
            self._labels = LabelMap()
        label = self._labels.ledger_label(y)
        vector = self._vector(x)
        if vector is not None and self._substrate is not None:
            self._substrate.learn_one(vector, label)

    def predict_one(self, x: dict[Hashable, Any], **kwargs: Any) -> ClfTarget | None:
        """The substrate's answer, or None before it has an example (or for an ``x`` it
        cannot place)."""
        vector = self._vector(x)
        if vector is None or self._substrate is None or not self._substrate.labels:
            return None
        label = self._substrate.predict_one(vector)
        return None if label is None else cast(ClfTarget, self._labels.objects[label])

    def predict_proba_one(
        self, x: dict[Hashable, Any], **kwargs: Any
    ) -> dict[ClfTarget, float]:
        """Probabilities over every label learned so far (``{}`` before any): with the
        hybrid rule the answer's probability, the rest shared evenly (the substrate exposes
        the winner's only); with the band rules each label's share of the band's votes."""
        vector = self._vector(x)
        if vector is None or self._substrate is None or not self._substrate.labels:
            return {}
        columns = {text: i for i, text in enumerate(self._labels.objects)}
        row = probabilities(self._substrate.predict(vector), columns, len(columns))
        objects = cast("dict[str, ClfTarget]", self._labels.objects)
        return {y: float(p) for y, p in zip(objects.values(), row, strict=True)}
