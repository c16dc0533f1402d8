"""The online-learning library baseline: river's one-vs-rest logistic regression.

``river`` (the successor of scikit-multiflow and creme) is the well-kept library for exactly
this per-example regime, so this baseline is river's model, configured as in the paper:
``OneVsRestClassifier(LogisticRegression(optimizer=SGD(0.01)))``, one ``learn_one`` pass over
a 3,000-row random subsample of the seed set, then ``learn_one`` per correction.

Every ``learn_one`` also trains each other class's binary model on a negative example, so a
stream of corrections that are all novel classes teaches the original classes' models to say
"no": river recovers the novel classes quickly and forgets the original ones.

Two implementations give the same numbers:

- ``impl="numpy"`` (the default, what ``river_logreg`` runs):
  :class:`~ocrr.systems.river_twin.OneVsRestLogRegTwin`, river's models as the columns of one
  float64 matrix, stepped by the same floating-point operations in the same order (weights,
  intercepts and ``predict_one`` equal river's bit for bit; the tests check it against river).
  About 30x faster: river's dict-of-floats models cost about 140 us per class per example
  with 384-d vectors, 29 of the 30 s of a Banking77 oracle cell.
- ``impl="river"`` (``river_logreg(impl=river)``): river's own classes, one dict-featured
  ``learn_one``/``predict_one`` at a time; the reference the twin is tested against.

``predict_many`` (the checkpoints) computes, for both, ``sigmoid(x @ W + b)`` per binary model
in one matrix product and takes the arg-max, as river's own ``predict_many`` does (river's
batch API needs a dataframe library, and per-row ``predict_one`` would dominate the grid).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ocrr.systems.river_twin import OneVsRestLogRegTwin, ovr_arg_max
from ocrr.validation import CheckedInputs

IMPLEMENTATIONS = ("numpy", "river")


class RiverLogReg(CheckedInputs):
    """river's one-vs-rest logistic regression over a seeded subsample, then per correction.

    ``learns = "at_once"``: a new label's binary model starts at probability 0.5 while the
    fitted ones' intercepts have learned to say "no" to most rows, so one ``learn_one`` of a
    new label wins its own example. ``storage = "fixed"``: one weight per feature per class.

    Parameters
    ----------
    lr : float, default 0.01
        SGD's learning rate of the weights (the intercepts keep river's 0.01).
    subsample : int, default 3000
        Seed rows learned by ``fit``, drawn at random (all of them when fewer).
    seed : int, default 0
        Seeds the subsample and its order.
    impl : {"numpy", "river"}, default "numpy"
        ``"numpy"``: the vectorised twin of river's models (same numbers, ~30x faster);
        ``"river"``: river's own ``OneVsRestClassifier``.

    Examples
    --------
    >>> import numpy as np
    >>> from ocrr.systems import RiverLogReg
    >>> X = np.eye(4, dtype=np.float32)
    >>> model = RiverLogReg(lr=0.5).fit(X, ["a", "b", "c", "d"])
    >>> model.predict_one(X[2]), model.predict_many(X)
    ('c', ['a', 'b', 'c', 'd'])
    >>> reference = RiverLogReg(lr=0.5, impl="river").fit(X, ["a", "b", "c", "d"])
    >>> reference.predict_many(X)
    ['a', 'b', 'c', 'd']
    """

    learns = "at_once"
    storage = "fixed"

    def __init__(
        self, lr: float = 0.01, subsample: int = 3000, *, seed: int = 0, impl: str = "numpy"
    ) -> None:
        if impl not in IMPLEMENTATIONS:
            raise ValueError(f"impl {impl!r}: expected one of {', '.join(IMPLEMENTATIONS)}")
        self.lr = lr
        self.subsample = subsample
        self.seed = seed
        self.impl = impl
        self.model = self._new_model()
        self._features: list[str] = []

    def _width(self) -> int | None:
        return len(self._features) or None

    def _new_model(self):  # noqa: ANN202 (the twin or river's type)
        if self.impl == "numpy":
            return OneVsRestLogRegTwin(lr=self.lr)
        from river import linear_model, multiclass, optim

        return multiclass.OneVsRestClassifier(
            linear_model.LogisticRegression(optimizer=optim.SGD(self.lr))
        )

    def _input(self, x: np.ndarray) -> np.ndarray | dict[str, float]:
        """The twin's float64 row, or river's feature dict (a wrong width: ValueError)."""
        x = np.asarray(x, dtype=np.float64)
        if x.shape != (len(self._features),):
            raise ValueError(
                f"expected a vector of {len(self._features)} features, got shape {x.shape}"
            )
        if self.impl == "numpy":
            return x
        return dict(zip(self._features, x.tolist(), strict=True))

    def fit(self, X: np.ndarray, y: Sequence[str]) -> RiverLogReg:
        """One ``learn_one`` pass over a random ``subsample`` of the seed rows."""
        self._check_fit(X)
        X = np.asarray(X)
        self.model = self._new_model()
        self._features = [f"f{i}" for i in range(X.shape[1])]
        rng = np.random.default_rng(self.seed)
        rows = np.arange(len(X))
        if len(X) > self.subsample:
            rows = rng.choice(len(X), size=self.subsample, replace=False)
        for i in rows[rng.permutation(len(rows))]:
            self.model.learn_one(self._input(X[i]), y[i])
        return self

    def correct(self, x: np.ndarray, y: str) -> None:
        self._check_example(x)
        self.model.learn_one(self._input(x), y)

    def predict_one(self, x: np.ndarray) -> str | None:
        self._check_one(x)
        return self.model.predict_one(self._input(x))

    @property
    def classes(self) -> list[str]:
        """The classes learned so far, in the models' order."""
        if self.impl == "numpy":
            return list(self.model.labels)
        return list(self.model.classifiers)

    def parameters(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """(classes, W of shape (features, classes), intercepts): river's dicts as arrays."""
        if self.impl == "numpy":
            return list(self.model.labels), self.model.weights, self.model.intercepts
        labels = list(self.model.classifiers)
        W = np.zeros((len(self._features), len(labels)))
        b = np.zeros(len(labels))
        for j, label in enumerate(labels):
            clf = self.model.classifiers[label]
            weights = clf.weights
            W[:, j] = [weights.get(f, 0.0) for f in self._features]
            b[j] = clf.intercept
        return labels, W, b

    def predict_many(self, X: np.ndarray) -> list[str | None]:
        self._check_many(X)
        return ovr_arg_max(X, *self.parameters())

    def storage_bytes(self) -> int:
        """One weight per feature plus an intercept per class, as float64 (river's dicts of
        Python floats take more in memory; the parameters are what is counted)."""
        return 8 * len(self.classes) * (len(self._features) + 1)

    def storage_entries(self) -> int:
        return 0
