"""What every index shares: live-row bookkeeping, one query through the batch search, and
recall@k against exact search over the same live rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np

from ocrr.index.base import Index


@dataclass(frozen=True)
class RecallReport:
    """Recall@k of an index against exact search over the same live rows."""

    recall: float
    k: int
    queries: int
    per_query: np.ndarray

    def __str__(self) -> str:
        return f"recall@{self.k} = {self.recall:.3f} over {self.queries} queries"


class RowIndex:
    """Base of the indexes: rows numbered from 0 in insertion order, some removed.

    A subclass keeps ``_removed`` (sorted removed rows) and defines ``__len__``,
    ``search_many``, ``vectors`` and, where it can do better than indexing ``vectors``,
    ``rows``: together, the :class:`~ocrr.index.base.Index` protocol.
    """

    dim: int
    _removed: np.ndarray

    def __len__(self) -> int:
        raise NotImplementedError

    @property
    def live(self) -> int:
        """Rows that searches can return."""
        return len(self) - len(self._removed)

    @property
    def removed(self) -> np.ndarray:
        """The removed rows, sorted (read-only)."""
        view = self._removed.view()
        view.flags.writeable = False
        return view

    def search_many(
        self, queries: np.ndarray, k: int, *, remember: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _remove_row(self, row: int) -> bool:
        """Add ``row`` to the sorted removed rows; False where it already was there."""
        if not 0 <= row < len(self):
            raise IndexError(f"no row {row} (index has {len(self)})")
        at = int(np.searchsorted(self._removed, row))
        if at < len(self._removed) and self._removed[at] == row:
            return False
        self._removed = np.insert(self._removed, at, row)
        return True

    def _queries(self, queries: np.ndarray) -> np.ndarray:
        """``queries`` as a contiguous float32 matrix of this index's width; a ValueError
        that names the shape otherwise."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.dim:
            raise ValueError(f"queries must have shape (n, {self.dim}), got {queries.shape}")
        return queries

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (rows, similarities) for one query."""
        rows, sims = self.search_many(np.asarray(query, dtype=np.float32)[None, :], k)
        return rows[0], sims[0]

    def rows(self, rows: np.ndarray) -> np.ndarray:
        """The stored vectors of the given rows."""
        return np.asarray(self.vectors)[np.asarray(rows, dtype=np.int64)]  # type: ignore[attr-defined]

    def verify_recall(
        self, sample: int | np.ndarray = 1000, k: int = 5, *, seed: int = 0
    ) -> RecallReport:
        """Recall@k against exact search over the same live rows (see :func:`verify_recall`;
        1.0 by construction for an exact index)."""
        return verify_recall(cast(Index, self), sample, k, seed=seed)


def empty_answer(queries: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Uninitialised (rows, similarities) of shape (queries, k): what a search fills in.

    >>> rows, sims = empty_answer(2, 0)
    >>> rows.shape, rows.dtype, sims.dtype
    ((2, 0), dtype('int64'), dtype('float32'))
    """
    return np.empty((queries, k), dtype=np.int64), np.empty((queries, k), dtype=np.float32)


def verify_recall(
    index: Index, sample: int | np.ndarray = 1000, k: int = 5, *, seed: int = 0
) -> RecallReport:
    """Recall@k of ``index``'s ``search_many`` against exact search over its live rows.

    ``sample`` is a matrix of queries, or a number of stored live rows drawn at random
    (seeded) to use as queries. Recall per query is |approximate ∩ exact| / k', where
    k' = min(k, live rows). An index with ``exact_search_many`` is compared against it; an
    exact index against itself (1.0).
    """
    live = index.live
    if isinstance(sample, (int, np.integer)):
        if live == 0 or sample < 1:
            raise ValueError("verify_recall needs at least one live row and one query")
        rng = np.random.default_rng(seed)
        pool = np.setdiff1d(np.arange(len(index)), index.removed)
        picked = np.sort(rng.choice(pool, min(int(sample), len(pool)), replace=False))
        queries = index.rows(picked)
    else:
        queries = np.asarray(sample, dtype=np.float32).reshape(-1, index.dim)
    kk = min(k, live)
    if kk == 0:
        raise ValueError("verify_recall needs at least one live row")
    got, _ = index.search_many(queries, kk)
    exact = getattr(index, "exact_search_many", index.search_many)
    want, _ = exact(queries, kk)
    per_query = np.array(
        [len(set(g.tolist()) & set(w[w >= 0].tolist())) / kk
         for g, w in zip(got, want, strict=True)]
    )
    return RecallReport(float(per_query.mean()), kk, len(queries), per_query)
