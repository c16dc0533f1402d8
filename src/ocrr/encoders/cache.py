"""On-disk embedding cache keyed by (encoder identity, text content).

Each encoder identity owns a folder of shard files; a shard holds the SHA-256 of each text
and its vector. A call encodes only the texts no shard has yet, then writes them as a new
shard (atomically), so a second benchmark run encodes nothing and a new dataset adds a shard.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ocrr.encoders.base import Encoder, EncoderError, FittableEncoder


def default_cache_dir() -> Path:
    """``$OCRR_CACHE_DIR``, else ``$XDG_CACHE_HOME/ocrr``, else ``~/.cache/ocrr``."""
    if os.environ.get("OCRR_CACHE_DIR"):
        return Path(os.environ["OCRR_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ocrr"


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


class CachedEncoder:
    """Wraps an encoder; same interface, same vectors, computed once per distinct text."""

    def __init__(self, encoder: Encoder, cache_dir: str | Path | None = None) -> None:
        self.encoder = encoder
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self._rows: dict[bytes, np.ndarray] = {}
        self._loaded_for: str | None = None

    @property
    def identity(self) -> str:
        return self.encoder.identity

    def fit(self, texts: Sequence[str]) -> CachedEncoder:
        """Fit the wrapped encoder (only a :class:`FittableEncoder` can be fitted)."""
        if not isinstance(self.encoder, FittableEncoder):
            raise EncoderError(f"{self.identity} is not fitted on a corpus; it needs no fit")
        self.encoder.fit(texts)
        return self

    @property
    def folder(self) -> Path:
        key = hashlib.sha256(self.identity.encode("utf-8")).hexdigest()[:24]
        return self.cache_dir / key

    def _load(self) -> None:
        if self._loaded_for == self.identity:
            return
        self._rows = {}
        for shard in sorted(self.folder.glob("*.npz")):
            try:
                with np.load(shard) as data:
                    digests, vectors = data["digests"], data["vectors"]
            except (OSError, ValueError, KeyError):
                continue  # a damaged shard only costs a re-encode
            for digest, vector in zip(digests, vectors, strict=True):
                self._rows[digest.tobytes()] = vector
        self._loaded_for = self.identity

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        self._load()
        digests = [_digest(t) for t in texts]
        missing: dict[bytes, str] = {}
        for digest, text in zip(digests, texts, strict=True):
            if digest not in self._rows:
                missing.setdefault(digest, text)
        if missing:
            vectors = self.encoder.encode(list(missing.values()), progress=progress)
            self._write_shard(list(missing), vectors)
            self._rows.update(zip(missing, vectors, strict=True))
        if not digests:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([self._rows[d] for d in digests]).astype(np.float32, copy=False)

    def _write_shard(self, digests: list[bytes], vectors: np.ndarray) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "identity.txt").write_text(self.identity + "\n", encoding="utf-8")
        raw = np.frombuffer(b"".join(digests), dtype=np.uint8).reshape(len(digests), 32)
        fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, digests=raw, vectors=np.asarray(vectors, dtype=np.float32))
        name = hashlib.sha256(raw.tobytes()).hexdigest()[:16]
        os.replace(tmp, self.folder / f"{name}.npz")
