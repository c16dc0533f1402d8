"""What compressing the stored vectors would buy and cost, measured (``ocrr scale``).

Two standard codes, applied to the ledger's vectors while queries stay float32 (asymmetric
search, as faiss's ``IndexScalarQuantizer`` / ``IndexPQ`` do):

- **int8** (scalar quantisation, faiss's ``SQ8``): each dimension mapped linearly from its
  [min, max] over the stored vectors to 0..255; one byte per dimension (4x smaller).
- **PQ m x 8** (product quantisation): the vector cut into ``m`` sub-vectors, each replaced
  by the nearest of 256 k-means centroids learnt on a sample; ``m`` bytes per vector
  (384-d: PQ48 is 32x smaller, PQ96 16x).

Neighbours are found by an exact scan over the decoded vectors (chunked), so the numbers
isolate what the code loses, without any graph approximation on top; the substrate's band
vote then runs on them exactly as it does on float32 neighbours.
"""

from __future__ import annotations

import numpy as np

from ocrr.index import top_k

_CHUNK = 65_536


class Codec:
    """A vector code: ``encode`` (float32 rows -> uint8 codes) and ``decode``."""

    def __init__(self, name: str, bytes_per_vector: int) -> None:
        self.name = name
        self.bytes_per_vector = bytes_per_vector

    def encode(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def decode(self, codes: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError


class Int8Codec(Codec):
    def __init__(self, x: np.ndarray) -> None:
        super().__init__("int8", x.shape[1])
        lo = np.full(x.shape[1], np.inf, np.float32)
        hi = np.full(x.shape[1], -np.inf, np.float32)
        for at in range(0, len(x), _CHUNK):
            lo = np.minimum(lo, x[at : at + _CHUNK].min(axis=0))
            hi = np.maximum(hi, x[at : at + _CHUNK].max(axis=0))
        self.lo = lo
        self.step = np.maximum(hi - lo, 1e-12) / 255.0

    def encode(self, x: np.ndarray) -> np.ndarray:
        return np.clip(np.rint((x - self.lo) / self.step), 0, 255).astype(np.uint8)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        return (codes.astype(np.float32) * self.step + self.lo).astype(np.float32)


class PQCodec(Codec):
    """``m`` sub-quantisers of 256 centroids each, trained by k-means on a sample."""

    def __init__(self, x: np.ndarray, m: int, *, sample: int = 10_000, seed: int = 0) -> None:
        dim = x.shape[1]
        if dim % m:
            raise ValueError(f"PQ needs m dividing the dimension ({dim} % {m} != 0)")
        super().__init__(f"pq{m}", m)
        self.m = m
        self.sub = dim // m
        rng = np.random.default_rng(seed)
        train = x[np.sort(rng.choice(len(x), min(sample, len(x)), replace=False))]
        self.centroids = np.stack(
            [
                _kmeans(train[:, j * self.sub : (j + 1) * self.sub], 256, rng)
                for j in range(m)
            ]
        )  # (m, 256, sub)

    def encode(self, x: np.ndarray) -> np.ndarray:
        codes = np.empty((len(x), self.m), dtype=np.uint8)
        for j in range(self.m):
            part = x[:, j * self.sub : (j + 1) * self.sub]
            c = self.centroids[j]
            dist = (c * c).sum(axis=1)[None, :] - 2 * part @ c.T
            codes[:, j] = dist.argmin(axis=1)
        return codes

    def decode(self, codes: np.ndarray) -> np.ndarray:
        out = np.empty((len(codes), self.m * self.sub), dtype=np.float32)
        for j in range(self.m):
            out[:, j * self.sub : (j + 1) * self.sub] = self.centroids[j][codes[:, j]]
        return out


def _kmeans(x: np.ndarray, k: int, rng: np.random.Generator, iters: int = 12) -> np.ndarray:
    """Lloyd's k-means (k-means++-free: k distinct random rows to start); empty clusters
    are re-seeded from random rows. Returns (k, dim) float32 centroids."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    k_eff = min(k, len(x))
    centres = x[rng.choice(len(x), k_eff, replace=False)].copy()
    for _ in range(iters):
        dist = (centres * centres).sum(axis=1)[None, :] - 2 * x @ centres.T
        assign = dist.argmin(axis=1)
        counts = np.bincount(assign, minlength=k_eff)
        sums = np.stack(
            [np.bincount(assign, weights=x[:, d], minlength=k_eff) for d in range(x.shape[1])],
            axis=1,
        )
        empty = counts == 0
        centres[~empty] = sums[~empty] / counts[~empty, None]
        centres[empty] = x[rng.choice(len(x), int(empty.sum()))]
    if k_eff < k:  # fewer training rows than codes: repeat (codes stay valid)
        centres = np.concatenate([centres, centres[np.arange(k - k_eff) % k_eff]])
    return centres


def make_codec(name: str, x: np.ndarray, *, seed: int = 0) -> Codec:
    if name == "int8":
        return Int8Codec(x)
    if name.startswith("pq") and name[2:].isdigit():
        return PQCodec(x, int(name[2:]), seed=seed)
    raise ValueError(f"unknown codec {name!r}; valid: int8, pqM (M divides the dimension)")


def compressed_search(
    codec: Codec, x: np.ndarray, queries: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Encode ``x`` (chunk by chunk, as a store would), then exact top-k of every query
    over the decoded vectors. Returns (rows, similarities) ordered like every index."""
    best_rows = np.zeros((len(queries), 0), dtype=np.int64)
    best_sims = np.zeros((len(queries), 0), dtype=np.float32)
    for at in range(0, len(x), _CHUNK):
        decoded = codec.decode(codec.encode(x[at : at + _CHUNK]))
        rows, sims = top_k(queries @ decoded.T, at, k)
        best_rows, best_sims = top_k(
            np.concatenate([best_sims, sims], 1), np.concatenate([best_rows, rows], 1), k
        )
    return best_rows, best_sims
