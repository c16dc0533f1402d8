"""The online-learning library baseline: river's one-vs-rest logistic regression.

``river`` (the successor of scikit-multiflow and creme) is the well-kept library for exactly
this per-example regime, so this baseline is river itself, configured as in the paper:
``OneVsRestClassifier(LogisticRegression(optimizer=SGD(0.01)))``, one ``learn_one`` pass over
a 3,000-row random subsample of the seed set (river learns one dict-featured example at a
time, about 4 ms each here), then ``learn_one`` per correction.

Every ``learn_one`` also trains each other class's binary model on a negative example, so a
stream of corrections that are all novel classes teaches the original classes' models to say
"no": river recovers the novel classes quickly and forgets the original ones.

Learning and ``predict_one`` go through river. ``predict_many`` (the checkpoints) computes
the same probabilities, ``sigmoid(w . x + b)`` per binary model, normalised and arg-maxed as
river's own ``predict_many`` does, from each model's weights in one matrix product: river's
batch API needs a dataframe library, and per-row ``predict_one`` would dominate the grid.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ocrr.validation import CheckedInputs


class RiverLogReg(CheckedInputs):
    """river's one-vs-rest logistic regression, ``learn_one`` per example.

    ``learns = "at_once"``: a new label's binary model starts at probability 0.5 while the
    fitted ones' intercepts have learned to say "no" to most rows, so one ``learn_one`` of a
    new label wins its own example. ``storage = "fixed"``: one weight per feature per class.
    """

    learns = "at_once"
    storage = "fixed"

    def __init__(self, lr: float = 0.01, subsample: int = 3000, *, seed: int = 0) -> None:
        self.lr = lr
        self.subsample = subsample
        self.seed = seed
        self.model = self._new_model()
        self._features: list[str] = []

    def _width(self) -> int | None:
        return len(self._features) or None

    def _new_model(self):  # noqa: ANN202 (river's type)
        from river import linear_model, multiclass, optim

        return multiclass.OneVsRestClassifier(
            linear_model.LogisticRegression(optimizer=optim.SGD(self.lr))
        )

    def _dict(self, x: np.ndarray) -> dict[str, float]:
        return dict(zip(self._features, np.asarray(x, dtype=np.float64).tolist(), strict=True))

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
            self.model.learn_one(self._dict(X[i]), y[i])
        return self

    def correct(self, x: np.ndarray, y: str) -> None:
        self._check_example(x)
        self.model.learn_one(self._dict(x), y)

    def predict_one(self, x: np.ndarray) -> str | None:
        self._check_one(x)
        return self.model.predict_one(self._dict(x))

    def _weights(self) -> tuple[list[str], np.ndarray, np.ndarray]:
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
        labels, W, b = self._weights()
        if not labels:
            return [None] * len(X)
        clf = next(iter(self.model.classifiers.values()))
        proba = clf.loss.mean_func(np.asarray(X, dtype=np.float64) @ W + b)
        # river normalises each row to sum to 1 (which leaves the arg-max unchanged)
        return [labels[i] for i in np.argmax(proba, axis=1)]

    def storage_bytes(self) -> int:
        """One weight per feature plus an intercept per class, as float64 (river's dicts of
        Python floats take more in memory; the parameters are what is counted)."""
        return 8 * len(self.model.classifiers) * (len(self._features) + 1)

    def storage_entries(self) -> int:
        return 0
