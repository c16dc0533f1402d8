"""The input checks at a vector classifier's boundary: one implementation for every system.

The system contract (:mod:`ocrr.systems.base`) says what misuse raises: a prediction before
the classifier has any example raises :class:`~ocrr.errors.NotFittedError`, and an input of
the wrong width or the wrong number of dimensions raises :class:`~ocrr.errors.DimensionError`
in ``predict_one``, ``predict_many`` and ``correct`` (and leaves the classifier as it was).
:class:`CheckedInputs` is those checks, written once; a system inherits it, says where its
fitted width lives (:meth:`CheckedInputs._width`), and calls the check matching each public
method before touching its state. The checks only look at shapes: they never copy or convert
the input, so what the system computes from a valid input is unchanged.

It imports nothing of OCRR but :mod:`ocrr.errors`, so any module can use it without an
import cycle (the substrate, the heads, the baselines).

>>> import numpy as np
>>> class Mean(CheckedInputs):
...     def __init__(self):
...         self.mean = None
...     def _width(self):
...         return None if self.mean is None else len(self.mean)
...     def fit(self, X, y):
...         self._check_fit(X)
...         self.mean = np.asarray(X).mean(axis=0)
...         return self
...     def predict_one(self, x):
...         self._check_one(x)
...         return "the mean"
>>> Mean().predict_one(np.ones(3))
Traceback (most recent call last):
...
ocrr.errors.NotFittedError: Mean has no examples yet: call fit(X, y) before predicting
>>> Mean().fit(np.ones((2, 3)), ["a", "b"]).predict_one(np.ones(4))  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ocrr.errors.DimensionError: expected vectors of dimension 3, got 4: encode the input ...
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ocrr.errors import DimensionError, NotFittedError


class CheckedInputs:
    """Mixin: fitted-ness and shape checks for ``fit``, ``predict_one``, ``predict_many`` and
    ``correct`` of a classifier over vectors.

    A subclass overrides :meth:`_width` (the width its state was fitted with, None before
    any example) and calls :meth:`_check_fit`, :meth:`_check_one`, :meth:`_check_many` and
    :meth:`_check_example` first thing in the matching method.
    """

    def _width(self) -> int | None:
        """The vector width the classifier holds examples of; None before it has any."""
        raise NotImplementedError

    def _fitted_width(self) -> int:
        width = self._width()
        if width is None:
            raise NotFittedError.for_system(type(self).__name__)
        return width

    @staticmethod
    def _check_fit(X: ArrayLike) -> None:
        """``fit``'s vectors: a 2-D matrix, one row per example (any width: fit sets it)."""
        if np.ndim(X) != 2:
            raise DimensionError(
                f"fit takes a matrix of vectors (2-D, one row per example), got shape "
                f"{np.shape(X)}"
            )

    def _check_one(self, x: ArrayLike) -> None:
        """``predict_one``'s vector: fitted, 1-D, the fitted width."""
        _check_shape(x, 1, self._fitted_width(), "predict_one takes one vector (1-D)")

    def _check_many(self, X: ArrayLike) -> None:
        """``predict_many``'s vectors: fitted, 2-D, rows of the fitted width."""
        _check_shape(X, 2, self._fitted_width(), "predict_many takes a matrix of vectors (2-D)")

    def _check_example(self, x: ArrayLike, *, before_fit: bool = False) -> None:
        """``correct``'s vector: 1-D, the fitted width. Before any example it raises
        :class:`~ocrr.errors.NotFittedError`, unless ``before_fit`` (a classifier that learns
        from nothing: then the first example sets the width)."""
        width = self._width()
        if width is None and not before_fit:
            raise NotFittedError.for_system(type(self).__name__)
        _check_shape(x, 1, width, "correct takes one vector (1-D)")


def _check_shape(x: ArrayLike, ndim: int, width: int | None, what: str) -> None:
    shape = np.shape(x)
    if len(shape) != ndim:
        raise DimensionError(f"{what}, got shape {shape}")
    if width is not None and shape[-1] != width:
        raise DimensionError.width(expected=width, got=shape[-1])


__all__ = ["CheckedInputs"]
