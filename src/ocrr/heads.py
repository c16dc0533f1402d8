"""A softmax (multinomial logistic) head over frozen embeddings, in numpy.

Seed training follows the paper's harness: PyTorch ``nn.Linear`` initialisation, AdamW
(lr 1e-2, weight decay 1e-4), batch 256, 30 epochs, seeded shuffles. Each correction is one
plain SGD step (lr 0.05) on that example's cross-entropy; a label never seen before gets a
new zero-initialised output row first.

A neutral module at the bottom of the package (it imports only numpy and
:mod:`ocrr.vectors`): the substrate's hybrid rule builds its seed head on it
(:mod:`ocrr.substrate.head`), and the benchmark's linear baselines are it
(:mod:`ocrr.systems.linear`); the continual-learning baselines (EWC, A-GEM, LwF, experience
replay) are this same head with a ``strategy`` that changes the correction's gradient (see
:mod:`ocrr.systems.continual`): one SGD implementation, the method as a parameter.

>>> import numpy as np
>>> X = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]], dtype=np.float32)
>>> head = SoftmaxHead(epochs=50, seed=0).fit(X, ["a", "a", "b", "b"])
>>> head.classes, head.predict_many(X)
(['a', 'b'], ['a', 'a', 'b', 'b'])
>>> head.correct(np.array([0.7, 0.7], dtype=np.float32), "c")  # a new class: a new row
>>> head.classes, head.W.shape
(['a', 'b', 'c'], (3, 2))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from ocrr.validation import CheckedInputs
from ocrr.vectors import LabelTable, softmax


class UpdateStrategy(Protocol):
    """What a continual-learning method adds to the head's per-correction SGD step.

    A strategy that keeps corrections in a bounded memory declares ``storage = "bounded"``
    and a ``budget`` (the head reports them as its own; absent: ``"fixed"``).
    """

    def prepare(self, head: SoftmaxHead, X: np.ndarray, targets: np.ndarray) -> None:
        """Called once after seed training, with the seed rows and their class indices."""

    def gradient(
        self,
        head: SoftmaxHead,
        x: np.ndarray,
        target: int,
        grads: tuple[np.ndarray, np.ndarray],
    ) -> tuple[np.ndarray, np.ndarray]:
        """The (W, b) gradient to step along, given the correction's cross-entropy gradient.

        ``x`` has shape (1, d); the head already has a row for ``target``. May update the
        strategy's own state (a replay buffer, say).
        """
        ...

    def nbytes(self) -> int:
        """Bytes the strategy keeps (Fisher, anchors, teacher, memory ...)."""
        ...

    def entries(self) -> int:
        """Examples the strategy stores (a replay memory's size; 0 for none)."""
        ...


class SoftmaxHead(CheckedInputs):
    """Linear classifier ``W x + b`` trained by cross-entropy.

    ``lr`` is the per-correction SGD step; ``epochs``, ``batch_size``, ``adam_lr`` and
    ``weight_decay`` set the seed training; ``strategy`` (None: plain SGD) turns the head into
    EWC, A-GEM, LwF or experience replay. Deterministic for a given ``seed``.

    Contract declarations (:mod:`ocrr.systems.base`): ``learns = "gradually"`` (one SGD step
    per correction); ``storage`` is ``"fixed"`` (the weights), or what the strategy declares
    (experience replay's reservoir: ``"bounded"`` by its ``budget``).

    >>> import numpy as np
    >>> X = np.eye(4, dtype=np.float32)
    >>> head = SoftmaxHead(seed=0).fit(X, ["a", "b", "c", "d"])
    >>> head.predict_many(X)
    ['a', 'b', 'c', 'd']
    >>> SoftmaxHead().predict_one(X[0])
    Traceback (most recent call last):
    ...
    ocrr.errors.NotFittedError: SoftmaxHead has no examples yet: call fit(X, y) before predicting
    """

    learns = "gradually"

    def __init__(
        self,
        *,
        lr: float = 0.05,
        epochs: int = 30,
        batch_size: int = 256,
        adam_lr: float = 1e-2,
        weight_decay: float = 1e-4,
        seed: int = 0,
        strategy: UpdateStrategy | None = None,
    ) -> None:
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.adam_lr = adam_lr
        self.weight_decay = weight_decay
        self.seed = seed
        self.strategy = strategy
        self._table = LabelTable()  # class label <-> output row
        self.W = np.zeros((0, 0), dtype=np.float32)
        self.b = np.zeros(0, dtype=np.float32)

    @property
    def classes(self) -> list[str]:
        """The labels of the output rows, in row order (read-only by convention)."""
        return self._table.names

    def _width(self) -> int | None:
        return self.W.shape[1] if self.classes else None

    @property
    def storage(self) -> str:
        return getattr(self.strategy, "storage", "fixed")

    @property
    def budget(self) -> int | None:
        return getattr(self.strategy, "budget", None)

    # -- training ------------------------------------------------------------------------
    def fit(
        self, X: np.ndarray, y: Sequence[str], *, classes: Sequence[str] | None = None
    ) -> SoftmaxHead:
        """Seed training. ``classes`` (default: the labels in ``y``) pre-allocates output rows,
        randomly initialised like the rest, for labels with no rows yet: the paper's harness
        did this for the held-out classes; the benchmark's systems do not know them."""
        self._check_fit(X)
        X = np.asarray(X, dtype=np.float32)
        self._table = LabelTable(sorted(set(y) | set(classes or ())))
        targets = np.array([self._table.codes[label] for label in y])
        rng = np.random.default_rng(self.seed)
        n, d = X.shape
        c = len(self.classes)
        bound = 1.0 / np.sqrt(d)
        self.W = rng.uniform(-bound, bound, (c, d)).astype(np.float32)
        self.b = rng.uniform(-bound, bound, c).astype(np.float32)
        self._adamw(X, targets, rng)
        if self.strategy is not None:
            self.strategy.prepare(self, X, targets)
        return self

    def _adamw(self, X: np.ndarray, targets: np.ndarray, rng: np.random.Generator) -> None:
        beta1, beta2, eps = 0.9, 0.999, 1e-8
        params = [self.W, self.b]
        m = [np.zeros_like(p) for p in params]
        v = [np.zeros_like(p) for p in params]
        step = 0
        for _ in range(self.epochs):
            order = rng.permutation(len(X))
            for start in range(0, len(X), self.batch_size):
                idx = order[start : start + self.batch_size]
                grads = self.gradients(X[idx], targets[idx])
                step += 1
                for p, g, m_p, v_p in zip(params, grads, m, v, strict=True):
                    p *= 1 - self.adam_lr * self.weight_decay
                    m_p *= beta1
                    m_p += (1 - beta1) * g
                    v_p *= beta2
                    v_p += (1 - beta2) * g * g
                    m_hat = m_p / (1 - beta1**step)
                    v_hat = v_p / (1 - beta2**step)
                    p -= self.adam_lr * m_hat / (np.sqrt(v_hat) + eps)

    def gradients(self, X: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean cross-entropy gradient over the rows of ``X`` with respect to (W, b)."""
        delta = softmax(self.logits(X))
        delta[np.arange(len(X)), targets] -= 1.0
        delta /= len(X)
        return delta.T @ X, delta.sum(axis=0)

    def logits(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=np.float32) @ self.W.T + self.b

    def class_index(self, y: str) -> int:
        """The output row of label ``y``, adding a zero-initialised row for a new label."""
        if y not in self._table:
            self._table.code(y)
            self.W = np.vstack([self.W, np.zeros((1, self.W.shape[1]), dtype=np.float32)])
            self.b = np.append(self.b, np.float32(0.0))
        return self._table.codes[y]

    def correct(self, x: np.ndarray, y: str) -> None:
        self._check_example(x)
        target = self.class_index(y)
        x = np.asarray(x, dtype=np.float32)[None, :]
        grads = self.gradients(x, np.array([target]))
        if self.strategy is not None:
            grads = self.strategy.gradient(self, x, target, grads)
        self.W -= self.lr * grads[0]
        self.b -= self.lr * grads[1]

    # -- predicting ----------------------------------------------------------------------
    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return softmax(self.logits(X))

    def predict_many(self, X: np.ndarray) -> list[str]:
        self._check_many(X)
        return [self.classes[i] for i in self.logits(X).argmax(axis=1)]

    def predict_one(self, x: np.ndarray) -> str:
        self._check_one(x)
        return self.classes[int(np.argmax(self.W @ np.asarray(x, dtype=np.float32) + self.b))]

    def storage_bytes(self) -> int:
        """Weights, plus whatever the strategy keeps (Fisher and anchor, teacher, memory)."""
        extra = self.strategy.nbytes() if self.strategy is not None else 0
        return self.W.nbytes + self.b.nbytes + extra

    def storage_entries(self) -> int:
        return self.strategy.entries() if self.strategy is not None else 0


__all__ = ["SoftmaxHead", "UpdateStrategy"]
