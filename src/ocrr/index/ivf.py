"""Approximate cosine top-k by an inverted file (IVF): k-means cells, a few cells scanned.

Why an inverted file. The scale study (``docs/scale.md``) found HNSW at one million
synthetic 384-d entries returning the right class for only 74 % of queries (recall@5 0.36),
so the substrate's accuracy fell from 0.993 to 0.742. An inverted file cannot get lost that
way: a query scans whole cells of its nearest centroids exactly, and a cell is a region of
the space, so the neighbours it finds are near the query even when they are not the very
nearest. It is plain numpy (no compiler, no extra package), and its layout is a
deterministic function of the rows.

Layout: segments, like a log-structured merge tree. The newest rows (fewer than
``segment_rows``, 4,096 by default) wait in an exact *tail* that every search scans, so a
correction counts at once and an append is an O(d) copy. The older rows form *segments* of
``segment_rows · 2^b`` rows, one per set bit ``b`` of ``rows // segment_rows``, largest
(oldest) first: 1,000,000 rows are segments of 524,288, 262,144, 131,072, 65,536 and
16,384 rows plus a tail of 576. Each segment is clustered on its own rows (seeded
spherical k-means, ``round(cells_per_sqrt · sqrt(size))`` cells); when the tail fills,
the segments the binary carry merges are clustered again as one. So every row is in cells
trained on rows that include it: classes that arrive late (a ledger is class-incremental:
corrections bring new classes) get cells of their own instead of being filed under
centroids that predate them. An index rebuilt from a ledger has exactly the segments, and
so the cells, of the one that appended the rows live. Retraining costs about log2(n /
4,096) passes over each row in all, spread over the appends.

Search ranks every segment's centroids against the query, scans the ``nprobe`` best cells
(more, in order, until they and the tail hold ``k`` live rows) and the tail, and orders the
neighbours by (similarity descending, row ascending), padded with removed rows scored
``-inf`` when fewer than ``k`` live rows exist, as :class:`ExactIndex` does. A removed
(revoked or erased) row is never returned.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ocrr.index.exact import top_k
from ocrr.index.recall import RowIndex, empty_answer
from ocrr.vectors import normalise

SEGMENT_ROWS = 4096  # rows of the smallest segment, and at most the exact tail's
_ASSIGN_ROWS = 16_384  # rows assigned to centroids per matrix product


def spherical_kmeans(
    rows: np.ndarray, cells: int, *, iterations: int = 10, seed: int | Sequence[int] = 0
) -> np.ndarray:
    """``cells`` unit centroids of ``rows`` by k-means on cosine similarity (seeded).

    A cell that loses all its rows keeps its previous centroid, so the count is exact.
    """
    rng = np.random.default_rng(seed)
    centroids = rows[np.sort(rng.choice(len(rows), cells, replace=False))].copy()
    for _ in range(iterations):
        assigned = nearest(rows, centroids)
        sums = np.zeros_like(centroids)
        np.add.at(sums, assigned, rows)
        empty = ~np.any(sums, axis=1)
        sums[empty] = centroids[empty]
        centroids = normalise(sums)
    return centroids


def nearest(rows: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of each row's most similar centroid (lowest index on ties), in blocks."""
    out = np.empty(len(rows), dtype=np.int64)
    for lo in range(0, len(rows), _ASSIGN_ROWS):
        out[lo : lo + _ASSIGN_ROWS] = np.argmax(rows[lo : lo + _ASSIGN_ROWS] @ centroids.T, 1)
    return out


def segment_ranges(rows: int, segment_rows: int = SEGMENT_ROWS) -> list[tuple[int, int]]:
    """(start, size) of the clustered segments of an index of ``rows`` rows, oldest first:
    one per set bit of ``rows // segment_rows``. The other rows are the exact tail."""
    out, start, blocks = [], 0, rows // segment_rows
    for bit in reversed(range(blocks.bit_length())):
        if blocks >> bit & 1:
            out.append((start, segment_rows << bit))
            start += segment_rows << bit
    return out


@dataclass
class _Segment:
    """Rows ``start .. start+size-1`` clustered into cells (rows grouped by nearest centroid)."""

    start: int
    size: int
    centroids: np.ndarray
    cells: list[np.ndarray]
    cell_rows: list[np.ndarray]

    def vectors(self) -> np.ndarray:
        out = np.empty((self.size, self.centroids.shape[1]), np.float32)
        for cell, rows in zip(self.cells, self.cell_rows, strict=True):
            out[rows - self.start] = cell
        return out


class IvfIndex(RowIndex):
    """Inverted file over unit vectors: segments of k-means cells plus an exact tail.

    ``nprobe`` (cells scanned per query, over all segments) trades speed for recall (see
    ``docs/scale.md``); ``cells_per_sqrt`` sets a segment's cells (the square root of its
    rows by default: 724 cells of ~724 rows for the largest segment at a million rows);
    ``segment_rows`` is the smallest segment and the tail's bound; ``seed`` fixes the
    k-means (each segment's draws are seeded by (seed, its first row)).

    Examples
    --------
    >>> import numpy as np
    >>> rows = np.random.default_rng(0).standard_normal((100, 8)).astype(np.float32)
    >>> rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    >>> index = IvfIndex(8, segment_rows=32, nprobe=2)
    >>> index.add_many(rows)  # segments of 64 and 32 rows, clustered, and a tail of 4
    >>> index.cells, int(index.search(rows[7], 1)[0][0])
    (14, 7)
    """

    kind = "ivf"

    def __init__(
        self,
        dim: int,
        capacity: int = 1024,
        *,
        nprobe: int = 4,
        cells_per_sqrt: float = 1.0,
        segment_rows: int = SEGMENT_ROWS,
        iterations: int = 10,
        sample_per_cell: int = 64,
        seed: int = 0,
    ) -> None:
        if dim <= 0:
            raise ValueError(f"dim must be positive, got {dim}")
        if nprobe < 1 or segment_rows < 2 or iterations < 1 or sample_per_cell < 1:
            raise ValueError("nprobe, iterations and sample_per_cell must be >= 1, "
                             "segment_rows >= 2")
        if cells_per_sqrt <= 0:
            raise ValueError(f"cells_per_sqrt must be positive, got {cells_per_sqrt}")
        self.dim = dim
        self.nprobe = nprobe
        self.cells_per_sqrt = cells_per_sqrt
        self.segment_rows = segment_rows
        self.iterations = iterations
        self.sample_per_cell = sample_per_cell
        self.seed = seed
        self._n = 0
        self._segments: list[_Segment] = []
        self._tail = np.zeros((segment_rows, dim), np.float32)
        self._t = 0  # rows in the tail: n-t .. n-1
        self._cell_of = np.zeros(max(capacity, 1), dtype=np.int64)  # row -> cell in segment
        self._slot_of = np.zeros(max(capacity, 1), dtype=np.int64)  # row -> place in cell
        self._dead = np.zeros(max(capacity, 1), dtype=bool)  # row -> removed
        self._removed = np.zeros(0, dtype=np.int64)  # sorted removed rows
        self._flatten()

    # -- size ----------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._n

    @property
    def cells(self) -> int:
        return len(self._cells)

    @property
    def nbytes(self) -> int:
        """Memory held: cells (vectors and row ids), centroids, the tail, per-row maps."""
        held = sum(c.nbytes + r.nbytes for c, r in zip(self._cells, self._cell_rows, strict=True))
        maps = self._cell_of.nbytes + self._slot_of.nbytes + self._dead.nbytes
        return int(held + maps + self._centroids.nbytes + self._tail.nbytes
                   + self._removed.nbytes)

    def _flatten(self) -> None:
        """The search tables: every segment's centroids and cells, in one numbering."""
        segments = self._segments
        self._centroids = (
            np.concatenate([s.centroids for s in segments]) if segments
            else np.zeros((0, self.dim), np.float32)
        )
        self._cells = [c for s in segments for c in s.cells]
        self._cell_rows = [r for s in segments for r in s.cell_rows]
        self._sizes = [len(r) for r in self._cell_rows]
        self._starts = [s.start for s in segments]

    # -- writing -------------------------------------------------------------------------
    def add(self, vector: np.ndarray) -> int:
        """Append one row; return its row number."""
        self.add_many(np.asarray(vector, dtype=np.float32)[None, :])
        return self._n - 1

    def add_many(self, vectors: np.ndarray) -> None:
        vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        if not len(vectors):
            return
        n, new_n = self._n, self._n + len(vectors)
        self._reserve_rows(new_n)
        if new_n // self.segment_rows == n // self.segment_rows:  # the tail takes them
            self._tail[self._t : self._t + len(vectors)] = vectors
            self._t += len(vectors)
            self._n = new_n
            return
        wanted = segment_ranges(new_n, self.segment_rows)
        kept = 0
        while (kept < len(self._segments) and kept < len(wanted)
               and (self._segments[kept].start, self._segments[kept].size) == wanted[kept]):
            kept += 1
        # rows from the first changed segment on: merged segments, the tail, the new rows
        redo = self._segments[kept:]
        rest = np.concatenate([*(s.vectors() for s in redo), self._tail[: self._t], vectors])
        first = wanted[kept][0] if kept < len(wanted) else new_n
        self._segments = self._segments[:kept]
        for start, size in wanted[kept:]:
            self._segments.append(self._cluster(start, rest[start - first : start - first + size]))
        clustered = sum(size for _, size in wanted)
        self._t = new_n - clustered
        self._tail[: self._t] = rest[clustered - first :]
        self._n = new_n
        self._flatten()

    def _cluster(self, start: int, vectors: np.ndarray) -> _Segment:
        """Cluster rows ``start ..`` (their vectors given) into one segment's cells."""
        size = len(vectors)
        cells = max(1, min(size, round(self.cells_per_sqrt * math.sqrt(size))))
        rng = np.random.default_rng([self.seed, start])
        take = min(size, cells * self.sample_per_cell)
        sample = vectors[np.sort(rng.choice(size, take, replace=False))]
        centroids = spherical_kmeans(
            sample, cells, iterations=self.iterations, seed=[self.seed, start]
        )
        assigned = nearest(vectors, centroids)
        order = np.argsort(assigned, kind="stable")
        bounds = np.searchsorted(assigned[order], np.arange(cells + 1))
        segment = _Segment(start, size, centroids, [], [])
        for cell in range(cells):
            local = order[bounds[cell] : bounds[cell + 1]]
            segment.cells.append(vectors[local])
            segment.cell_rows.append(local + start)
            self._cell_of[local + start] = cell
            self._slot_of[local + start] = np.arange(len(local))
        return segment

    def _reserve_rows(self, need: int) -> None:
        if need <= len(self._cell_of):
            return
        room = max(need, 2 * len(self._cell_of))
        for name in ("_cell_of", "_slot_of", "_dead"):
            old = getattr(self, name)
            grown = np.zeros(room, dtype=old.dtype)
            grown[: len(old)] = old
            setattr(self, name, grown)

    def remove(self, row: int) -> None:
        """Exclude a row from every later search (idempotent)."""
        if self._remove_row(row):
            self._dead[row] = True

    # -- searching -----------------------------------------------------------------------
    def search_many(
        self, queries: np.ndarray, k: int, *, remember: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (rows, similarities) per query, shape (n_queries, min(k, len)).

        ``remember`` is accepted for interface compatibility with :class:`ExactIndex` and
        ignored: a cell scan is cheap and its answers cannot be merged incrementally.
        """
        del remember
        queries = self._queries(queries)
        kk = min(k, self._n)
        out_rows, out_sims = empty_answer(len(queries), kk)
        if kk == 0:
            return out_rows, out_sims
        want = min(kk, self.live)
        scores = queries @ self._centroids.T
        tail_rows = np.arange(self._n - self._t, self._n)
        alive = ~self._dead[tail_rows]
        tail_rows = tail_rows[alive]
        tail_sims = (queries @ self._tail[: self._t].T)[:, alive]
        for i in range(len(queries)):
            rows, sims = self._probe(queries[i], scores[i], tail_rows, tail_sims[i], want)
            out_rows[i], out_sims[i] = self._pad(rows, sims, kk)
        return out_rows, out_sims

    def _probe(
        self, query: np.ndarray, scores: np.ndarray, rows: np.ndarray, sims: np.ndarray,
        want: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The tail's live rows plus cells in order of centroid similarity: at least
        ``nprobe`` cells, and on until ``want`` live rows are found."""
        parts_rows, parts_sims, found = [rows], [sims], len(rows)
        for probed, cell in enumerate(self._ranked(scores)):
            if probed >= self.nprobe and found >= want:
                break
            cell_rows = self._cell_rows[cell]
            cell_sims = self._cells[cell] @ query
            alive = ~self._dead[cell_rows]
            if not alive.all():
                cell_rows, cell_sims = cell_rows[alive], cell_sims[alive]
            parts_rows.append(cell_rows)
            parts_sims.append(cell_sims)
            found += len(cell_rows)
        return np.concatenate(parts_rows), np.concatenate(parts_sims)

    def _ranked(self, scores: np.ndarray) -> Iterator[int]:
        """Cells by (centroid similarity desc, cell asc): the best ``nprobe`` by a partial
        sort, the others sorted only if the search needs them."""
        cells = np.arange(len(scores))
        if self.nprobe < len(cells):
            best = np.argpartition(-scores, self.nprobe)[: self.nprobe]
            yield from best[np.lexsort((best, -scores[best]))]
            cells = np.setdiff1d(cells, best)
        yield from cells[np.lexsort((cells, -scores[cells]))]

    def _pad(
        self, rows: np.ndarray, sims: np.ndarray, kk: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The kk best by (sim desc, row asc); removed rows at -inf fill a short answer."""
        if len(rows) < kk:
            missing = kk - len(rows)
            rows = np.concatenate([rows, self._removed[:missing]])
            sims = np.concatenate([sims, np.full(missing, -np.inf, np.float32)])
        best_rows, best_sims = top_k(sims[None, :], rows[None, :], kk)
        return best_rows[0], best_sims[0]

    def exact_search_many(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-k over the same live rows, cell by cell (no second copy of the vectors):
        the reference :meth:`verify_recall` compares against. Removed rows answer -1."""
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)
        kk = min(k, self._n)
        best_rows = np.zeros((len(queries), 0), np.int64)
        best_sims = np.zeros((len(queries), 0), np.float32)
        tail_rows = np.arange(self._n - self._t, self._n)
        for vectors, rows in [*zip(self._cells, self._cell_rows, strict=True),
                              (self._tail[: self._t], tail_rows)]:
            if not len(rows):
                continue
            sims = queries @ vectors.T
            sims[:, self._dead[rows]] = -np.inf
            ids, top = top_k(sims, np.broadcast_to(rows, sims.shape), kk)
            best_rows, best_sims = top_k(
                np.concatenate([best_sims, top], 1), np.concatenate([best_rows, ids], 1), kk
            )
        return np.where(np.isfinite(best_sims), best_rows, -1), best_sims

    def rows(self, rows: np.ndarray) -> np.ndarray:
        """The stored vectors of the given rows."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), self.dim), np.float32)
        first_tail = self._n - self._t
        for i, row in enumerate(rows):
            if row >= first_tail:
                out[i] = self._tail[row - first_tail]
            else:
                segment = self._segments[bisect.bisect_right(self._starts, row) - 1]
                out[i] = segment.cells[self._cell_of[row]][self._slot_of[row]]
        return out

    @property
    def vectors(self) -> np.ndarray:
        """A copy of every stored row, in row order."""
        return np.concatenate(
            [*(s.vectors() for s in self._segments), self._tail[: self._t]]
        ) if self._n else np.zeros((0, self.dim), np.float32)

    # -- persistence ---------------------------------------------------------------------
    def _params(self) -> dict[str, object]:
        return {
            "nprobe": self.nprobe, "cells_per_sqrt": self.cells_per_sqrt,
            "segment_rows": self.segment_rows, "iterations": self.iterations,
            "sample_per_cell": self.sample_per_cell, "seed": self.seed,
        }

    def _save_data(self, folder: Path) -> dict[str, object]:
        empty = np.zeros((0, self.dim), np.float32)
        np.save(folder / "centroids.npy", self._centroids)
        np.save(folder / "cell_sizes.npy", np.asarray(self._sizes, dtype=np.int64))
        np.save(folder / "cell_rows.npy", np.concatenate([np.zeros(0, np.int64),
                                                          *self._cell_rows]))
        np.save(folder / "cell_vectors.npy", np.concatenate([empty, *self._cells]))
        np.save(folder / "tail.npy", self._tail[: self._t])
        np.save(folder / "removed.npy", self._removed)
        segments = [[s.start, s.size, len(s.cells)] for s in self._segments]
        return {"params": self._params(), "segments": segments}

    @classmethod
    def _load_data(cls, folder: Path, meta: dict[str, Any]) -> IvfIndex:
        index = cls(int(meta["dim"]), 1, **dict(meta["params"]))
        centroids = np.load(folder / "centroids.npy")
        sizes = np.load(folder / "cell_sizes.npy")
        rows = np.load(folder / "cell_rows.npy")
        vectors = np.load(folder / "cell_vectors.npy")
        tail = np.load(folder / "tail.npy")
        segments = meta["segments"]
        if (len(sizes) != len(centroids) or not int(sizes.sum()) == len(rows) == len(vectors)
                or sum(c for _, _, c in segments) != len(sizes)):
            raise ValueError(f"{folder}: cell data does not match its centroids")
        n = len(rows) + len(tail)
        index._reserve_rows(n)
        ends = np.cumsum(sizes)
        cell = 0
        for start, size, count in segments:
            segment = _Segment(int(start), int(size), centroids[cell : cell + count], [], [])
            for local in range(count):
                lo, hi = ends[cell] - sizes[cell], ends[cell]
                segment.cells.append(vectors[lo:hi])
                segment.cell_rows.append(rows[lo:hi])
                index._cell_of[rows[lo:hi]] = local
                index._slot_of[rows[lo:hi]] = np.arange(hi - lo)
                cell += 1
            index._segments.append(segment)
        index._tail[: len(tail)] = tail
        index._t = len(tail)
        index._n = n
        index._flatten()
        for row in np.load(folder / "removed.npy"):
            index.remove(int(row))
        return index


__all__ = ["SEGMENT_ROWS", "IvfIndex", "nearest", "segment_ranges", "spherical_kmeans"]
