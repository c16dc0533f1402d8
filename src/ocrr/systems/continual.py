"""Continual-learning methods as update strategies for the one softmax head.

Each is what the method adds to the head's per-correction SGD step (lr 0.05), with the
paper's hyperparameters, so that EWC, A-GEM, LwF and experience replay differ from
``online_linear`` in exactly one place:

- :class:`EWC` (Kirkpatrick et al. 2017): a quadratic pull, weighted by the diagonal Fisher
  information of the seed task, back towards the weights after seed training.
- :class:`AGEM` (Chaudhry et al. 2019): if the correction's gradient would raise the loss on a
  batch from a memory of seed rows, project out the conflicting component.
- :class:`LwF` (Li & Hoiem 2017): distil a frozen copy of the seed head (the teacher) on the
  corrected example, so the known classes' outputs move as little as possible.
- :class:`ExperienceReplay` (Chaudhry et al. 2019, "tiny episodic memories"): add the gradient
  of a batch replayed from a reservoir of everything seen.

The head adds a zero-initialised row when a correction brings a new label; each strategy
treats that row as unconstrained (no Fisher, no anchor, not distilled).
"""

from __future__ import annotations

import numpy as np

from ocrr.systems.linear import SoftmaxHead, _softmax
from ocrr.systems.memory import BoundedMemory

Grads = tuple[np.ndarray, np.ndarray]


def _pad_rows(a: np.ndarray, rows: int) -> np.ndarray:
    """``a`` with zero rows appended up to ``rows`` (new classes carry no constraint)."""
    if a.shape[0] == rows:
        return a
    pad = np.zeros((rows - a.shape[0], *a.shape[1:]), dtype=a.dtype)
    return np.concatenate([a, pad])


class EWC:
    """Elastic weight consolidation: step along ``grad + lam * F * (theta - theta_seed)``.

    ``F`` is the empirical diagonal Fisher on the predicted label (Kirkpatrick's recipe),
    averaged over ``samples`` seed rows drawn without replacement by a generator seeded
    with ``seed``; it is the gradient of ``lam / 2 * sum(F * (theta - theta_seed) ** 2)``.
    """

    def __init__(self, lam: float = 1000.0, samples: int = 2000, *, seed: int = 0) -> None:
        self.lam = lam
        self.samples = samples
        self.seed = seed
        self.fisher: Grads | None = None
        self.anchor: Grads | None = None

    def prepare(self, head: SoftmaxHead, X: np.ndarray, targets: np.ndarray) -> None:
        rng = np.random.default_rng(self.seed)
        rows = rng.choice(len(X), size=min(self.samples, len(X)), replace=False)
        Xs = X[rows].astype(np.float64)
        p = _softmax(Xs @ head.W.T.astype(np.float64) + head.b)
        # d log p(predicted) / d logits = onehot(predicted) - p, one row per sample
        g = -p
        g[np.arange(len(Xs)), p.argmax(axis=1)] += 1.0
        g2 = g * g
        self.fisher = (
            ((g2.T @ (Xs * Xs)) / len(Xs)).astype(np.float32),
            g2.mean(axis=0).astype(np.float32),
        )
        self.anchor = (head.W.copy(), head.b.copy())

    def gradient(self, head: SoftmaxHead, x: np.ndarray, target: int, grads: Grads) -> Grads:
        assert self.fisher is not None and self.anchor is not None, "fit first"
        rows = head.W.shape[0]
        self.fisher = (_pad_rows(self.fisher[0], rows), _pad_rows(self.fisher[1], rows))
        self.anchor = (_pad_rows(self.anchor[0], rows), _pad_rows(self.anchor[1], rows))
        return (
            grads[0] + self.lam * self.fisher[0] * (head.W - self.anchor[0]),
            grads[1] + self.lam * self.fisher[1] * (head.b - self.anchor[1]),
        )

    def nbytes(self) -> int:
        if self.fisher is None or self.anchor is None:
            return 0
        return sum(a.nbytes for a in (*self.fisher, *self.anchor))

    def entries(self) -> int:
        return 0


class _ReplayStrategy:
    """What A-GEM and experience replay share: a reservoir of the seed rows (offered in
    seed-set order) and the mean gradient of a batch drawn from it."""

    def __init__(self, memory_size: int = 1000, batch_size: int = 64, *, seed: int = 0) -> None:
        self.memory_size = memory_size
        self.batch_size = batch_size
        self.seed = seed
        self.memory: BoundedMemory | None = None
        self._rng = np.random.default_rng((seed, 1))

    def prepare(self, head: SoftmaxHead, X: np.ndarray, targets: np.ndarray) -> None:
        # a new fit starts over: the batches drawn are the same as a fresh strategy's
        self._rng = np.random.default_rng((self.seed, 1))
        self.memory = BoundedMemory(self.memory_size, "reservoir", seed=self.seed)
        for x, t in zip(X, targets.tolist(), strict=True):
            self.memory.offer(x, t)

    def _memory_gradient(self, head: SoftmaxHead) -> Grads:
        assert self.memory is not None, "fit first"
        rows = self.memory.sample(self.batch_size, self._rng)
        return head.gradients(self.memory.vectors[rows], self.memory.codes[rows])

    def nbytes(self) -> int:
        return self.memory.nbytes if self.memory is not None else 0

    def entries(self) -> int:
        return len(self.memory) if self.memory is not None else 0


class AGEM(_ReplayStrategy):
    """Averaged gradient episodic memory over a reservoir of ``memory_size`` seed rows.

    Per correction, the mean cross-entropy gradient of ``batch_size`` memory rows is the
    reference ``g_mem``; a correction gradient ``g`` with ``g . g_mem < 0`` becomes
    ``g - (g . g_mem / |g_mem|^2) g_mem``, which does not increase the memory loss (to first
    order).
    """

    def gradient(self, head: SoftmaxHead, x: np.ndarray, target: int, grads: Grads) -> Grads:
        ref = self._memory_gradient(head)
        dot = float(np.vdot(grads[0], ref[0]) + np.vdot(grads[1], ref[1]))
        if dot >= 0:
            return grads
        scale = dot / (float(np.vdot(ref[0], ref[0]) + np.vdot(ref[1], ref[1])) + 1e-12)
        return grads[0] - scale * ref[0], grads[1] - scale * ref[1]


class LwF:
    """Learning without forgetting: cross-entropy plus ``lam * T^2 * KL(teacher || student)``
    at temperature ``T`` on the corrected example, over the classes the teacher knows.

    The teacher is a frozen copy of the head after seed training.
    """

    def __init__(self, lam: float = 1.0, temperature: float = 2.0) -> None:
        self.lam = lam
        self.temperature = temperature
        self.teacher: Grads | None = None

    def prepare(self, head: SoftmaxHead, X: np.ndarray, targets: np.ndarray) -> None:
        self.teacher = (head.W.copy(), head.b.copy())

    def gradient(self, head: SoftmaxHead, x: np.ndarray, target: int, grads: Grads) -> Grads:
        assert self.teacher is not None, "fit first"
        W_t, b_t = self.teacher
        known, T = len(b_t), self.temperature
        teacher = _softmax((x @ W_t.T + b_t) / T)
        student = _softmax(head.logits(x)[:, :known] / T)
        # d/dz of T^2 * KL(teacher || softmax(z / T)) = T * (student - teacher)
        delta = self.lam * T * (student - teacher)
        grad_W, grad_b = grads[0].copy(), grads[1].copy()
        grad_W[:known] += delta.T @ x
        grad_b[:known] += delta[0]
        return grad_W, grad_b

    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.teacher) if self.teacher is not None else 0

    def entries(self) -> int:
        return 0


class ExperienceReplay(_ReplayStrategy):
    """Experience replay from a reservoir of ``memory_size`` examples.

    The reservoir samples uniformly from everything seen: the seed rows, then each corrected
    example. Per correction the step follows the correction's gradient plus the mean gradient
    of ``batch_size`` replayed examples (the correction keeps its full weight rather than
    1/(batch+1) of a joint batch, so a single correction still moves the head as far as
    ``online_linear``'s does).
    """

    storage = "bounded"  # the reservoir keeps corrections until it holds memory_size

    @property
    def budget(self) -> int:
        return self.memory_size

    def gradient(self, head: SoftmaxHead, x: np.ndarray, target: int, grads: Grads) -> Grads:
        replay = self._memory_gradient(head)
        assert self.memory is not None
        self.memory.offer(x[0], target)
        return grads[0] + replay[0], grads[1] + replay[1]
