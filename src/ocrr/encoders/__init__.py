"""Text encoders: the offline default (all-MiniLM-L6-v2), the named optional ones that ship
offline in packages (``minilm-int8``, ``use-multilingual``, ``wordllama``, ``mpnet``:
:mod:`ocrr.encoders.named`), any
sentence-transformers model, and TF-IDF for machines without torch; all wrapped in an
on-disk cache.

Nothing here imports torch at module load: code that only needs vectors never pays for it.
"""

from __future__ import annotations

from pathlib import Path

from ocrr.encoders.base import (
    Encoder,
    EncoderError,
    FittableEncoder,
    l2_normalise,
    needs_fit,
    prepare_encoder,
)
from ocrr.encoders.cache import CachedEncoder, default_cache_dir
from ocrr.encoders.named import NAMED_ENCODERS, EncoderInfo, named_encoder
from ocrr.encoders.sentence import DEFAULT_MODEL_NAME, SentenceTransformerEncoder
from ocrr.encoders.tfidf import TfidfEncoder

DEFAULT_ENCODER = "default"


def get_encoder(
    name: str = DEFAULT_ENCODER,
    *,
    cache: bool = True,
    cache_dir: str | Path | None = None,
    backend: str = "torch",
) -> Encoder:
    """Resolve an ``--encoder`` argument.

    ``default`` (or ``minilm``, ``all-MiniLM-L6-v2``) is the offline packaged model;
    ``minilm-int8``, ``use-multilingual``, ``wordllama`` and ``mpnet`` are the named
    optional encoders
    (:data:`NAMED_ENCODERS`, each behind an extra); ``tfidf`` is TF-IDF + LSA (fit it
    before use); anything else is a sentence-transformers hub name or local folder.
    ``backend`` (``torch``, ``onnx``, ``auto``): what runs a sentence-transformers model
    (see :class:`SentenceTransformerEncoder`), and ``mpnet``'s; the other named optional
    encoders have one each.
    """
    if name in (DEFAULT_ENCODER, DEFAULT_MODEL_NAME, "minilm"):
        encoder: Encoder = SentenceTransformerEncoder(backend=backend, cache_dir=cache_dir)
    elif name in NAMED_ENCODERS:
        encoder = named_encoder(name, cache_dir=cache_dir, backend=backend)
    elif name == "tfidf":
        encoder = TfidfEncoder()
    else:
        encoder = SentenceTransformerEncoder(name, backend=backend, cache_dir=cache_dir)
    return CachedEncoder(encoder, cache_dir) if cache else encoder


__all__ = [
    "DEFAULT_ENCODER",
    "NAMED_ENCODERS",
    "CachedEncoder",
    "Encoder",
    "EncoderError",
    "EncoderInfo",
    "FittableEncoder",
    "SentenceTransformerEncoder",
    "TfidfEncoder",
    "default_cache_dir",
    "get_encoder",
    "l2_normalise",
    "needs_fit",
    "prepare_encoder",
]
