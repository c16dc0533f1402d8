"""A tiny deterministic text encoder for the server tests: words and character trigrams
hashed into 64 dimensions. No model to load, the same vectors in every process (the
replica and crash tests start real server processes with it: ``--encoder-factory
server_fakes:hashing_encoder`` with this folder on PYTHONPATH)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

DIM = 64


def _slot(feature: str) -> tuple[int, float]:
    digest = hashlib.blake2b(feature.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    return value % DIM, 1.0 if (value >> 32) & 1 else -1.0


class HashingEncoder:
    identity = "test-hashing-64"
    dim = DIM

    def __init__(self) -> None:
        self.calls = 0
        self.batches: list[int] = []

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        self.calls += 1
        self.batches.append(len(texts))
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for row, text in enumerate(texts):
            words = re.findall(r"\w+", text.lower())
            padded = f"  {text.lower()}  "
            features = words * 2 + [padded[i : i + 3] for i in range(len(padded) - 2)]
            for feature in features:
                slot, sign = _slot(feature)
                out[row, slot] += sign
            if not out[row].any():
                out[row, 0] = 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def hashing_encoder() -> HashingEncoder:
    return HashingEncoder()


class SmallHashingEncoder(HashingEncoder):
    """Another encoder for moves between encoders (issue 19): the first 32 dimensions of
    the hashing encoder's, shifted, so every moved vector is visibly new."""

    identity = "test-small-32"
    dim = 32

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        rows = super().encode(texts)[:, :32] + 1e-3
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def small_encoder() -> SmallHashingEncoder:
    return SmallHashingEncoder()
