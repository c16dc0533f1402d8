"""TF-IDF + LSA: a torch-free encoder for environments without the default model's runtime."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from ocrr.encoders.base import EncoderError, l2_normalise


class TfidfEncoder:
    """Word 1-2-gram TF-IDF reduced by truncated SVD (latent semantic analysis).

    It must be fitted on a corpus; the corpus is part of its identity, so the embedding
    cache never mixes vectors from two fits.
    """

    def __init__(self, dim: int = 256, *, seed: int = 0) -> None:
        self.dim = dim
        self.seed = seed
        self.identity = f"tfidf-lsa{dim}:unfitted"
        self._pipeline = None

    def fit(self, texts: Sequence[str]) -> TfidfEncoder:
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import make_pipeline

        texts = list(texts)
        if len(texts) < 2:
            raise EncoderError("tfidf needs at least 2 texts to fit")
        tfidf = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
        n_features = len(tfidf.fit(texts).vocabulary_)
        components = max(1, min(self.dim, n_features - 1, len(texts) - 1))
        svd = TruncatedSVD(n_components=components, random_state=self.seed)
        self._pipeline = make_pipeline(tfidf, svd).fit(texts)
        corpus = hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest()[:16]
        self.identity = f"tfidf-lsa{self.dim}-seed{self.seed}:{corpus}"
        return self

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        if self._pipeline is None:
            raise EncoderError("the tfidf encoder must be fitted on a corpus before encoding")
        vectors = self._pipeline.transform(list(texts))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        out[:, : vectors.shape[1]] = vectors
        return l2_normalise(out)
