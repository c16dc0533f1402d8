"""Random feature maps and an inverse kept exact under rank-one updates: the parts the
closed-form frozen-encoder learners share (:mod:`ocrr.systems.closed_form`).

- :class:`RandomFeatures`: a seeded, untrained map from the encoder's vectors to ``dim``
  features. ``kind="rff"`` is random Fourier features for the RBF kernel
  ``exp(-gamma ||x - y||^2)`` (Rahimi & Recht 2007; what KLDA and RanDumb use),
  ``sqrt(2 / dim) cos(x W + b)`` with ``W ~ N(0, 2 gamma)`` and ``b ~ U[0, 2 pi)``;
  ``gamma="scale"`` is scikit-learn's ``RBFSampler`` rule ``1 / (width * var(X))`` over the
  first rows the map sees. ``kind="relu"`` is RanPAC's random projection
  ``max(0, x W)`` with ``W ~ N(0, 1)``.
- :class:`RankOneInverse`: ``(A + ridge I)^-1`` for a symmetric positive semi-definite
  ``A``, updated by Sherman-Morrison when ``A`` gains ``a u u^T``: a correction costs one
  matrix-vector product and one rank-one update of the inverse (``O(dim^2)``), where
  inverting afresh costs ``O(dim^3)``.
- :func:`oas_ridge`: the ridge that makes ``S + ridge I`` proportional to the Oracle
  Approximating Shrinkage estimate (Chen et al. 2010) of a covariance from its scatter.

>>> import numpy as np
>>> features = RandomFeatures("rff", dim=8, gamma=1.0, seed=0)
>>> features.transform(np.eye(3)[:2]).shape
(2, 8)
>>> inverse = RankOneInverse(np.zeros((2, 2)), ridge=1.0)
>>> _ = inverse.update(np.array([1.0, 0.0]), 1.0)      # A = [[1, 0], [0, 0]]
>>> inverse.matrix
array([[0.5, 0. ],
       [0. , 1. ]])
"""

from __future__ import annotations

import numpy as np

KINDS = ("rff", "relu")


class RandomFeatures:
    """A seeded random feature map; its weights are drawn for the width of the first
    vectors it is given (:meth:`draw`) and never trained.

    Parameters
    ----------
    kind
        ``"rff"`` (random Fourier features of the RBF kernel) or ``"relu"`` (RanPAC's
        ``max(0, x W)``).
    dim
        The number of features.
    gamma
        The RBF kernel's ``exp(-gamma ||x - y||^2)`` parameter (``"rff"`` only), or
        ``"scale"``: ``1 / (width * X.var())`` of the rows :meth:`draw` is given.
    seed
        Seeds the weights: the same seed and width give the same map.

    >>> import numpy as np
    >>> relu = RandomFeatures("relu", dim=4, seed=1)
    >>> bool((relu.transform(np.ones((1, 3))) >= 0).all()), relu.width
    (True, 3)
    """

    def __init__(self, kind: str = "rff", dim: int = 1024, gamma: float | str = 1.0,
                 seed: int = 0) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if dim < 1:
            raise ValueError(f"dim must be at least 1, got {dim}")
        if gamma != "scale" and not (isinstance(gamma, int | float) and gamma > 0):
            raise ValueError(f"gamma must be a positive number or 'scale', got {gamma!r}")
        self.kind, self.dim, self.gamma, self.seed = kind, dim, gamma, seed
        self.weights: np.ndarray | None = None
        self.offsets: np.ndarray | None = None
        self.gamma_used: float | None = None

    @property
    def width(self) -> int | None:
        """The input width the weights were drawn for (None before :meth:`draw`)."""
        return None if self.weights is None else self.weights.shape[0]

    def draw(self, X: np.ndarray) -> None:
        """Draw the weights for ``X``'s width (``gamma="scale"`` reads ``X``'s variance)."""
        X = np.asarray(X, dtype=np.float64)
        rng = np.random.default_rng(self.seed)
        width = X.shape[-1]
        if self.kind == "relu":
            self.weights = rng.standard_normal((width, self.dim))
            return
        if self.gamma == "scale":
            var = float(X.var())
            gamma = 1.0 / (width * var) if var > 0 else 1.0
        else:
            gamma = float(self.gamma)
        self.gamma_used = gamma
        self.weights = np.sqrt(2.0 * gamma) * rng.standard_normal((width, self.dim))
        self.offsets = rng.uniform(0.0, 2.0 * np.pi, self.dim)

    def transform(self, X: np.ndarray) -> np.ndarray:
        """The features of one vector or of rows, float64 (weights drawn on first use)."""
        X = np.asarray(X, dtype=np.float64)
        if self.weights is None:
            self.draw(X.reshape(-1, X.shape[-1]))
        assert self.weights is not None
        projected = X @ self.weights
        if self.kind == "relu":
            return np.maximum(projected, 0.0)
        assert self.offsets is not None
        projected += self.offsets
        return np.sqrt(2.0 / self.dim) * np.cos(projected, out=projected)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.weights, self.offsets) if a is not None)


class RankOneInverse:
    """``P = (A + ridge I)^-1`` for symmetric positive semi-definite ``A``, kept exact as
    ``A`` gains rank-one terms (Sherman-Morrison), in float64.

    ``update(u, a)`` makes ``P`` the inverse of ``A + a u u^T + ridge I`` in ``O(dim^2)``;
    the result equals inverting afresh up to rounding (``tests/test_systems_closed_form.py``
    checks 1e-9).

    >>> import numpy as np
    >>> inverse = RankOneInverse(np.eye(2), ridge=0.0)
    >>> k, beta = inverse.update(np.array([1.0, 1.0]), 2.0)
    >>> np.allclose(inverse.matrix, np.linalg.inv(np.eye(2) + 2.0 * np.ones((2, 2))))
    True
    """

    def __init__(self, A: np.ndarray, ridge: float) -> None:
        A = np.asarray(A, dtype=np.float64)
        if ridge < 0:
            raise ValueError(f"ridge must be non-negative, got {ridge}")
        self.ridge = float(ridge)
        shifted = A + self.ridge * np.eye(len(A))
        inverse = np.linalg.inv(shifted)
        self.matrix = (inverse + inverse.T) / 2  # symmetric; updates keep it so up to rounding

    def apply(self, v: np.ndarray) -> np.ndarray:
        """``P v`` (``v`` a vector, or a matrix of columns)."""
        return self.matrix @ v

    def update(self, u: np.ndarray, a: float = 1.0) -> tuple[np.ndarray, float]:
        """Take ``A += a u u^T``; return ``(k, beta)`` with ``k = P u`` (the old ``P``) and
        the new ``P = P - beta k k^T``, ``beta = a / (1 + a u^T k)``."""
        k = self.matrix @ u
        beta = a / (1.0 + a * float(u @ k))
        self.matrix -= np.outer(beta * k, k)
        return k, beta

    @property
    def nbytes(self) -> int:
        return self.matrix.nbytes


def oas_ridge(scatter: np.ndarray, n: int) -> float:
    """The ridge ``r`` with ``scatter + r I`` proportional to the OAS covariance estimate.

    OAS (Chen, Wiesel, Eldar & Hero 2010; scikit-learn's ``OAS``) shrinks the empirical
    covariance ``C = scatter / n`` towards ``mu I`` (``mu = trace(C) / p``):
    ``(1 - rho) C + rho mu I`` with ``rho = min(1, (alpha + mu^2) / ((n + 1)(alpha -
    mu^2 / p)))``, ``alpha = mean(C^2)``. That is ``(1 - rho) / n`` times
    ``scatter + rho / (1 - rho) * n mu I``; a positive factor changes no discriminant's
    argmax, so the ridge is what matters. ``rho = 1`` (no information in the scatter) is
    capped at ``1 - 1e-6``.

    >>> import numpy as np
    >>> X = np.random.default_rng(0).standard_normal((50, 5))
    >>> oas_ridge(X.T @ X, 50) > 0
    True
    """
    p = len(scatter)
    emp = np.asarray(scatter, dtype=np.float64) / max(n, 1)
    mu = float(np.trace(emp)) / p
    alpha = float(np.mean(emp**2))
    den = (n + 1) * (alpha - mu**2 / p)
    rho = 1.0 if den <= 0 else min((alpha + mu**2) / den, 1.0)
    rho = min(rho, 1.0 - 1e-6)
    return rho / (1.0 - rho) * max(n, 1) * mu


__all__ = ["KINDS", "RandomFeatures", "RankOneInverse", "oas_ridge"]
