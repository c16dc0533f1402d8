"""An encoder that only reads the warmed embedding cache (``~/.cache/ocrr``, read-only) of the
default model: the same vectors as all-MiniLM-L6-v2 without loading it, for tests that
compare a namespace with ``Substrate().fit`` on a built-in dataset. A text the cache lacks raises
:class:`NotCached`; tests skip when the cache was not warmed (``ocrr bench`` warms it).
Loadable by ``--encoder-factory cached_encoders:cached_minilm`` with tests/ on PYTHONPATH."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ocrr.encoders import CachedEncoder

IDENTITY = "sentence-transformers:all-MiniLM-L6-v2"


class NotCached(RuntimeError):
    pass


class _Refuse:
    identity = IDENTITY

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        raise NotCached(f"{len(texts)} texts are not in the embedding cache, e.g. {texts[0]!r}")


def warmed_cache() -> Path:
    """The cache ``ocrr bench`` warmed: ``$OCRR_TEST_CACHE``, else ``~/.cache/ocrr`` (the
    suite points ``OCRR_CACHE_DIR`` at a fresh folder per test; this one is only read)."""
    return Path(os.environ.get("OCRR_TEST_CACHE") or Path.home() / ".cache" / "ocrr")


def cached_minilm() -> CachedEncoder:
    return CachedEncoder(_Refuse(), warmed_cache())


def all_cached(texts: Sequence[str]) -> bool:
    """Whether the cache holds every one of ``texts``."""
    try:
        cached_minilm().encode(list(texts))
    except NotCached:
        return False
    return True
