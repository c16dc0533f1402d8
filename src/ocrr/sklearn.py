"""OCRR's classifier behind scikit-learn's conventions: :class:`OcrrClassifier`.

A thin layer over :class:`~ocrr.substrate.Substrate`: ``fit`` builds a fresh substrate (a
new ledger) from ``X, y``; ``partial_fit`` appends to it, and a label never seen before is a
new class at once; ``predict`` is the substrate's vote; ``predict_proba`` its probabilities
(see :meth:`OcrrClassifier.predict_proba`). ``X`` is a matrix of vectors (any scale: the
substrate compares directions, so a row of zeros is refused) or a list of texts, encoded by
``encoder``. The fitted substrate is ``substrate_``, with its ledger, explanations, audit and
revocation.

It passes scikit-learn's estimator checks except the few listed in
``tests/test_sklearn.py`` (with the reason for each).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data

from ocrr._frontdoor import SubstrateParams, probabilities
from ocrr.errors import NotFittedError as OcrrNotFittedError


class NotFittedError(OcrrNotFittedError, SklearnNotFittedError):
    """Predicting before ``fit``: both :class:`ocrr.errors.NotFittedError` and
    scikit-learn's ``NotFittedError`` (so ``except`` clauses written for either catch it).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.exceptions import NotFittedError as SklearnNotFittedError
    >>> try:
    ...     OcrrClassifier().predict(np.ones((1, 4)))
    ... except SklearnNotFittedError as err:
    ...     print(type(err).__name__)
    NotFittedError
    """


def _is_texts(X: object) -> bool:
    """A list, tuple or 1-D array of strings (and nothing else)."""
    if isinstance(X, np.ndarray):
        return X.ndim == 1 and len(X) > 0 and all(isinstance(t, str) for t in X)
    return isinstance(X, (list, tuple)) and len(X) > 0 and all(isinstance(t, str) for t in X)


class OcrrClassifier(SubstrateParams, ClassifierMixin, BaseEstimator):
    """OCRR's substrate as a scikit-learn classifier.

    Parameters
    ----------
    vote, k, margin, mix, tau, temperature, shrinkage, head, head_lr, exact : optional
        :class:`~ocrr.substrate.Substrate`'s (``None``: its default); ``vote`` is
        ``"hybrid"`` (the default) or the paper's ``"band"`` (:mod:`ocrr.substrate.vote`).
    encoder : str or Encoder, optional
        What encodes ``X`` when it is a list of texts: a name for
        :func:`ocrr.encoders.get_encoder` (``"default"``, the offline all-MiniLM-L6-v2, when
        None; ``"tfidf"`` is fitted on the texts given to ``fit``) or an encoder object
        (copied before fitting, so the parameter is never changed). Unused for vectors.

    Attributes
    ----------
    substrate_ : Substrate
        The fitted classifier and its ledger.
    classes_ : ndarray
        The labels seen, sorted (``predict_proba``'s column order).
    n_features_in_ : int
        The vectors' width (vectors only).
    encoder_ : Encoder or None
        The (fitted) encoder, when fitted on texts.

    Examples
    --------
    >>> import numpy as np
    >>> from ocrr.sklearn import OcrrClassifier
    >>> X = np.array([[1.0, 0.1], [0.9, 0.2], [0.1, 1.0], [0.2, 0.9]])
    >>> clf = OcrrClassifier(vote="band").fit(X, ["card", "card", "rate", "rate"])
    >>> clf.predict([[1.0, 0.0], [0.0, 1.0]]).tolist()
    ['card', 'rate']
    >>> clf.classes_.tolist(), clf.predict_proba([[1.0, 0.0]]).round(3).tolist()
    (['card', 'rate'], [[1.0, 0.0]])
    >>> _ = clf.partial_fit([[-1.0, 0.0]], ["close"])   # a new class, learned at once
    >>> clf.predict([[-0.9, 0.1]]).tolist(), clf.classes_.tolist()
    (['close'], ['card', 'close', 'rate'])

    On texts, with TF-IDF (fitted on the training texts):

    >>> texts = ["where is my card", "card not arrived", "exchange rate", "euro rate today"]
    >>> clf = OcrrClassifier(encoder="tfidf").fit(texts, ["card", "card", "rate", "rate"])
    >>> clf.predict(["my card has not arrived"]).tolist()
    ['card']
    """

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
        encoder: Any = None,
    ) -> None:  # scikit-learn reads the parameters back from this signature
        super().__init__(vote, k, margin, mix, tau, temperature, shrinkage, head, head_lr, exact)
        self.encoder = encoder

    # -- learning ------------------------------------------------------------------------
    def fit(self, X: Any, y: Any) -> OcrrClassifier:
        """Build a fresh substrate (a new ledger) holding one example per row of ``X``."""
        for name in ("substrate_", "classes_", "n_features_in_", "encoder_"):
            self.__dict__.pop(name, None)
        return self._learn(X, y, classes=None)

    def partial_fit(self, X: Any, y: Any, classes: Sequence[Any] | None = None) -> OcrrClassifier:
        """Append the rows of ``X`` to the substrate (the first call builds it). A label never
        seen before is a new class at once; ``classes`` only adds columns ahead of time."""
        return self._learn(X, y, classes=classes)

    def _learn(self, X: Any, y: Any, classes: Sequence[Any] | None) -> OcrrClassifier:
        first = not hasattr(self, "substrate_")
        if _is_texts(X):
            y = np.asarray(y)
            if len(y) != len(X):
                raise ValueError(f"{len(X)} texts but {len(y)} labels")
            if first:
                self.encoder_ = self._make_encoder(X)
            vectors: Any = self._texts_to_vectors(X)
        else:
            vectors, y = validate_data(self, X, y, reset=first, dtype=[np.float64, np.float32])
            if first:
                self.encoder_ = None
        check_classification_targets(y)
        classes_ = self._sorted_classes(y, classes)
        if len({str(c) for c in classes_}) != len(classes_):  # the ledger keeps str(label)
            raise ValueError(f"two labels of {classes_.tolist()} read the same as strings")
        if first:
            self.substrate_ = self.make_substrate(encoder=self.encoder_)
        self.classes_ = classes_
        substrate = self.substrate_
        append = substrate.fit if first else (getattr(substrate, "partial_fit", None)
                                              or substrate.fit)
        append(vectors, [str(v) for v in np.ravel(y)])
        # derive now what the substrate derives lazily at its first prediction (the hybrid
        # rule's statistics and head), so predicting never writes into fitted arrays
        substrate.predict_one(np.asarray(vectors)[0])
        return self

    def _sorted_classes(self, y: Any, classes: Sequence[Any] | None) -> np.ndarray:
        """Every label seen so far (and ``classes``), sorted as ``np.unique`` sorts them."""
        known = getattr(self, "classes_", None)
        parts = [np.ravel(y)] + ([np.asarray(classes)] if classes is not None else [])
        if known is not None:
            parts.append(known)
        return np.unique(np.concatenate(parts))

    def _make_encoder(self, texts: Sequence[str]) -> Any:
        from ocrr.encoders import get_encoder, needs_fit, prepare_encoder

        if self.encoder is None or isinstance(self.encoder, str):
            encoder = get_encoder(self.encoder or "default", cache=False)
        else:
            encoder = copy.deepcopy(self.encoder) if needs_fit(self.encoder) else self.encoder
        return prepare_encoder(encoder, texts)

    # -- predicting ----------------------------------------------------------------------
    def _vectors(self, X: Any) -> np.ndarray:
        if not hasattr(self, "substrate_"):
            raise NotFittedError(
                f"this {type(self).__name__} has no examples yet: call fit(X, y) before "
                "predicting"
            )
        if _is_texts(X):
            return self._texts_to_vectors(X)
        if self.encoder_ is not None:  # fitted on texts: vectors of the encoder's width
            return np.asarray(X, dtype=np.float32)
        return validate_data(self, X, reset=False, dtype=[np.float64, np.float32])

    def _texts_to_vectors(self, texts: Sequence[str]) -> np.ndarray:
        if getattr(self, "encoder_", None) is None:
            raise ValueError("this classifier was fitted on vectors: pass vectors, not texts")
        return self.encoder_.encode(list(texts))

    def predict(self, X: Any) -> np.ndarray:
        """The substrate's answer for each row (a label of ``classes_``)."""
        vectors = self._vectors(X)
        labels = cast(list[str], self.substrate_.predict_many(vectors))  # fitted: no None
        column = self._columns()
        return self.classes_[[column[label] for label in labels]]

    def predict_proba(self, X: Any) -> np.ndarray:
        """Probabilities, columns in ``classes_`` order; the most probable column is always
        :meth:`predict`'s answer.

        With the hybrid rule, the answer's column is the substrate's probability for it and
        the other columns share the rest evenly: the substrate exposes the winner's
        probability only (:attr:`ocrr.substrate.Prediction.probability`). With the band rules
        each column is its label's share of the band's votes (the answer's is
        :attr:`~ocrr.substrate.Prediction.confidence`). One prediction per row.
        """
        vectors = self._vectors(X)
        column = self._columns()
        return np.array([
            probabilities(self.substrate_.predict(v), column, len(self.classes_))
            for v in vectors
        ]).reshape(len(vectors), len(self.classes_))

    def _columns(self) -> dict[str, int]:
        return {str(c): i for i, c in enumerate(self.classes_)}

    def __sklearn_tags__(self):  # noqa: ANN204 - sklearn's Tags
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True  # a list of texts, with an encoder
        # the hybrid rule's seed head, a softmax tuned for 384-d sentence embeddings, fits
        # scikit-learn's standardised 2-D blobs poorly (0.75 on its training rows; the band
        # rule 0.94): its accuracy threshold is not a test of this classifier
        tags.classifier_tags.poor_score = self.vote in (None, "hybrid")
        return tags
