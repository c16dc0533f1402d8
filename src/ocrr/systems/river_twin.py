"""river's one-vs-rest logistic regression in numpy, update for update.

``river.multiclass.OneVsRestClassifier(river.linear_model.LogisticRegression(
optimizer=river.optim.SGD(lr)))`` keeps one binary model per class, each a dict of one Python
float per feature, and trains every one of them on every ``learn_one``. With 384-d embeddings
and 77 classes that is three dict operations over 384 keys per class per example (the dot
product, the scaled gradient, the SGD step), about 140 us a class in river 0.26's Rust
``VectorDict``: the bulk of the ``river_logreg`` baseline's time. :class:`OneVsRestLogRegTwin`
keeps the same models as columns of one float64 matrix and makes the same floating-point
operations in the same order, so its weights, intercepts and predictions are river's, bit for
bit (``tests/test_systems_river_twin.py`` checks it against river itself):

- a new class gets a zero column (river clones the empty model; a missing weight is 0) at the
  end of the column order (river's dict of classifiers keeps insertion order), then every
  class's model learns, the new one included;
- the raw score is ``sum_j w_j x_j`` accumulated left to right over the features, then
  ``+ intercept`` (river's dict dot product); numpy sums a column of a C-ordered matrix in
  that order, while BLAS and a 1-d sum do not;
- the loss gradient is river's ``optim.losses.Log.gradient`` (its 18-logit cut-offs, through
  ``math.exp``, whose rounding numpy's ``exp`` need not share), clipped to
  ``clip_gradient``;
- the intercept steps by ``intercept_lr * g`` before the weights step by ``(x_j * g) * lr``
  (river scales the example by ``g``, then the gradient by ``lr``: the product is not
  re-associated);
- ``predict_one`` is river's: ``utils.math.sigmoid`` per class, normalised by their sum (a
  uniform vote when every sigmoid is 0), the first class with the largest share in column
  order.

It covers the configuration the benchmark uses: constant learning rates, the log loss with
unit class weights, no L1/L2 penalty, zero initial weights and intercept.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import TypeVar

import numpy as np

LabelT = TypeVar("LabelT", bound=Hashable)


def sequential_column_dots(W: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``x @ W`` with each column's products summed left to right, as river's dict dot does.

    numpy reduces the rows of a C-ordered (d, C) matrix one after another for C >= 2; a single
    column would be summed pairwise, so it goes through ``add.accumulate`` instead.
    """
    products = W * x[:, None]
    if products.shape[1] == 1:
        return np.add.accumulate(products[:, 0])[-1:]
    return np.add.reduce(products, axis=0)


def _log_gradient(raw: float, positive: bool) -> float:
    """``river.optim.losses.Log().gradient(positive, raw)``, unit weights."""
    y = 1 if positive else -1
    z = raw * y
    if z > 18.0:
        return math.exp(-z) * -y
    if z < -18.0:
        return float(-y)
    return -y / (math.exp(z) + 1.0)


def _sigmoid(x: float) -> float:
    """``river.utils.math.sigmoid``."""
    if x < -30:
        return 0
    if x > 30:
        return 1
    return 1 / (1 + math.exp(-x))


class OneVsRestLogRegTwin:
    """river's ``OneVsRestClassifier(LogisticRegression(optimizer=SGD(lr)))``, vectorised.

    One float64 column of weights and one intercept per class, trained by the same per-example
    SGD steps as river's binary models and in the same order, so the weights, the intercepts
    and ``predict_one`` equal river's exactly (see the module's notes on how).

    Parameters
    ----------
    lr : float, default 0.01
        SGD's constant learning rate for the weights (``optim.SGD(lr)``).
    intercept_lr : float, default 0.01
        The constant learning rate of the intercepts (``LogisticRegression``'s default, which
        does not follow ``lr``).
    clip_gradient : float, default 1e12
        The loss gradient is clipped to ``[-clip_gradient, clip_gradient]``.

    Attributes
    ----------
    labels : list
        The classes in the order they were first learned (river's ``classifiers`` order).
    weights : ndarray of shape (n_features, n_classes)
        Column ``j`` is the binary model of ``labels[j]``: river's ``weights`` dict in feature
        order (features never seen by a model are 0).
    intercepts : ndarray of shape (n_classes,)

    Examples
    --------
    The twin and river, fed the same stream, hold the same weights:

    >>> import numpy as np
    >>> from river import linear_model, multiclass, optim
    >>> from ocrr.systems.river_twin import OneVsRestLogRegTwin
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(40, 6)), [f"c{i % 3}" for i in range(40)]
    >>> twin = OneVsRestLogRegTwin(lr=0.1)
    >>> ref = multiclass.OneVsRestClassifier(
    ...     linear_model.LogisticRegression(optimizer=optim.SGD(0.1)))
    >>> for x, label in zip(X, y):
    ...     twin.learn_one(x, label)
    ...     ref.learn_one(dict(enumerate(x.tolist())), label)
    >>> twin.labels
    ['c0', 'c1', 'c2']
    >>> all(twin.weights[:, j].tolist() == [ref.classifiers[c].weights[i] for i in range(6)]
    ...     for j, c in enumerate(twin.labels))
    True
    >>> twin.predict_one(X[0]) == ref.predict_one(dict(enumerate(X[0].tolist())))
    True
    """

    def __init__(
        self, lr: float = 0.01, intercept_lr: float = 0.01, clip_gradient: float = 1e12
    ) -> None:
        self.lr = lr
        self.intercept_lr = intercept_lr
        self.clip_gradient = clip_gradient
        self.labels: list[Hashable] = []
        self._column: dict[Hashable, int] = {}
        self.weights = np.zeros((0, 0))
        self.intercepts = np.zeros(0)

    def _vector(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if not self.labels and x.ndim == 1:
            self.weights = np.zeros((len(x), 0))
        if x.shape != (self.weights.shape[0],):
            raise ValueError(
                f"expected a vector of {self.weights.shape[0]} features, got shape {x.shape}"
            )
        return x

    def learn_one(self, x: np.ndarray, y: Hashable) -> None:
        """One SGD step of every class's binary model on ``x`` (positive for ``y`` only);
        a new ``y`` first gets its own model."""
        x = self._vector(x)
        if y not in self._column:
            self._column[y] = len(self.labels)
            self.labels.append(y)
            self.weights = np.hstack([self.weights, np.zeros((len(x), 1))])
            self.intercepts = np.append(self.intercepts, 0.0)
        positive = self._column[y]
        raw = sequential_column_dots(self.weights, x) + self.intercepts
        clip = self.clip_gradient
        gradient = np.array(
            [
                float(max(min(_log_gradient(r, j == positive), clip), -clip))
                for j, r in enumerate(raw.tolist())
            ]
        )
        self.intercepts -= self.intercept_lr * gradient
        self.weights -= (x[:, None] * gradient) * self.lr

    def predict_proba_one(self, x: np.ndarray) -> dict[Hashable, float]:
        """river's normalised one-vs-rest probabilities, in ``labels`` order."""
        x = self._vector(x)
        raw = sequential_column_dots(self.weights, x) + self.intercepts
        votes = [_sigmoid(r) for r in raw.tolist()]
        total = 0.0
        for vote in votes:
            total += vote
        if total:
            return {label: vote / total for label, vote in zip(self.labels, votes, strict=True)}
        return {label: 1 / len(votes) for label in self.labels}

    def predict_one(self, x: np.ndarray) -> Hashable | None:
        """The first class with the largest probability; None before any class."""
        proba = self.predict_proba_one(x)
        return max(proba, key=proba.__getitem__) if proba else None

    def predict_many(self, X: np.ndarray) -> list[Hashable | None]:
        """Each row's class by :func:`ovr_arg_max` (one BLAS product, not river's summation
        order: ``predict_one`` is river's exact answer on a near-tie)."""
        return ovr_arg_max(X, self.labels, self.weights, self.intercepts)


def ovr_arg_max(
    X: np.ndarray, labels: Sequence[LabelT], W: np.ndarray, b: np.ndarray
) -> list[LabelT | None]:
    """Each row's label by the largest ``sigmoid(x @ W + b)`` (river's ``predict_many`` rule:
    its row normalisation does not move the arg-max, ties go to the first column); None for
    every row when there are no labels yet."""
    if not labels:
        return [None] * len(X)
    # river's Log loss mean function on arrays
    proba = 1.0 / (1.0 + np.exp(-(np.asarray(X, dtype=np.float64) @ W + b)))
    return [labels[i] for i in np.argmax(proba, axis=1)]
