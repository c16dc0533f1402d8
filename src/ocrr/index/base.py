"""What an index is, and what it needs of the ledger it indexes.

:class:`Index` is the complete protocol the substrate (and the persistence, the recall check
and the index choice) use; :class:`~ocrr.index.exact.ExactIndex`,
:class:`~ocrr.index.ivf.IvfIndex`, :class:`~ocrr.index.hnsw.HnswIndex` and
:class:`~ocrr.index.gpu.TorchExactIndex` all conform (they share
:class:`~ocrr.index.recall.RowIndex`). An index is built from a ledger's entries but does
not import :mod:`ocrr.ledger`: it reads a ledger only through :class:`LedgerLike`,
:class:`EntryLike` and :class:`HeadLike`, which the ledger's classes satisfy.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from ocrr.index.recall import RecallReport

EXAMPLE_KIND = "example"
"""The kind of a ledger's example entries (:data:`ocrr.ledger.EXAMPLE`)."""


@runtime_checkable
class Index(Protocol):
    """A nearest-neighbour index over unit vectors: rows numbered from 0 in insertion order,
    some removed (they never come back), searched by inner product.

    Every search orders neighbours by (similarity descending, row ascending); an answer with
    fewer live rows than ``k`` is padded with removed rows scored ``-inf``.

    >>> import numpy as np
    >>> from ocrr.index import ExactIndex
    >>> index: Index = ExactIndex(2)
    >>> index.add_many(np.eye(2, dtype=np.float32))
    >>> index.remove(1)
    >>> index.search(np.array([0.6, 0.8], dtype=np.float32), 2)
    (array([0, 1]), array([ 0.6, -inf], dtype=float32))
    >>> isinstance(index, Index), len(index), index.live, index.removed.tolist()
    (True, 2, 1, [1])
    """

    dim: int

    def __len__(self) -> int:
        """Rows added, removed ones included."""
        ...

    @property
    def live(self) -> int:
        """Rows that searches can return."""
        ...

    @property
    def removed(self) -> np.ndarray:
        """The removed rows, sorted."""
        ...

    @property
    def nbytes(self) -> int:
        """Memory the index holds."""
        ...

    @property
    def vectors(self) -> np.ndarray:
        """Every stored row, in row order (a view or a copy)."""
        ...

    def rows(self, rows: np.ndarray) -> np.ndarray:
        """The stored vectors of the given rows."""
        ...

    def add(self, vector: np.ndarray) -> int:
        """Append one row; return its row number."""
        ...

    def add_many(self, vectors: np.ndarray) -> None:
        """Append rows in order."""
        ...

    def remove(self, row: int) -> None:
        """Exclude a row from every later search (idempotent)."""
        ...

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (rows, similarities) for one query."""
        ...

    def search_many(
        self, queries: np.ndarray, k: int, *, remember: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (rows, similarities) per query, shape (n_queries, min(k, len)).
        ``remember``: an index that can, keeps the answer and, asked the same batch again,
        scores only the rows appended since."""
        ...

    def verify_recall(
        self, sample: int | np.ndarray = 1000, k: int = 5, *, seed: int = 0
    ) -> RecallReport:
        """Recall@k against exact search over the same live rows."""
        ...


class HeadLike(Protocol):
    """A ledger's head: its size and the hash of its last entry (``ocrr.ledger.ChainHead``)."""

    @property
    def size(self) -> int: ...
    @property
    def entry_hash(self) -> bytes: ...


class EntryLike(Protocol):
    """What the index reads of a ledger entry (``ocrr.ledger.Entry``)."""

    @property
    def seq(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def vector(self) -> np.ndarray: ...
    @property
    def entry_hash(self) -> bytes: ...


class LedgerLike(Protocol):
    """What the index reads of a ledger (``ocrr.ledger.Ledger``): its entries in order, its
    vectors' dimension and its head."""

    @property
    def dim(self) -> int | None: ...
    def __len__(self) -> int: ...
    def __getitem__(self, seq: int) -> EntryLike: ...
    def __iter__(self) -> Iterator[EntryLike]: ...
    def head(self) -> HeadLike: ...


__all__ = ["EXAMPLE_KIND", "EntryLike", "HeadLike", "Index", "LedgerLike"]
