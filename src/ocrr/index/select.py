"""Which index a substrate uses: exact below a size threshold, approximate above it.

``IndexChoice`` is the policy a :class:`~ocrr.substrate.Substrate` is given (``index=``,
``exact=``); it builds the index for a ledger (loading a persisted one when it matches),
makes an empty one for the first append, and switches an exact index over to an
approximate one (an inverted file by default, HNSW on request) once the ledger grows past
the threshold.

The default threshold is 50,000 example entries. Below it an exact search costs at most a
few milliseconds per query on 2 cores, and the OCRR benchmark (at most about 15,000
entries) stays exact, as its protocol requires. ``exact=True`` keeps exact search at any
size: every entry that should vote does (the never-forget guarantee); approximate search
trades that for speed, and ``verify_recall`` measures what it costs.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ocrr.index.base import EntryLike, Index, LedgerLike
from ocrr.index.exact import ExactIndex
from ocrr.index.hnsw import AnnUnavailableError, HnswIndex, ann_available
from ocrr.index.ivf import IvfIndex
from ocrr.index.persist import IndexMismatchError, load_index, save_index

APPROX_THRESHOLD = 50_000
KINDS = ("auto", "exact", "ivf", "hnsw")
APPROXIMATE = ("ivf", "hnsw")


_warned_missing = False


@dataclass(frozen=True)
class IndexChoice:
    """How to index a ledger's examples.

    - ``kind``: ``"auto"`` (exact up to ``threshold`` example entries, ``approximate``
      above it), ``"exact"``, ``"ivf"`` or ``"hnsw"``.
    - ``approximate``: what ``"auto"`` switches to: ``"ivf"`` (default: an inverted file,
      plain numpy, within 0.01 of exact accuracy at a million entries in the scale study)
      or ``"hnsw"`` (hnswlib, the ``ann`` extra).
    - ``nprobe``: cells an inverted file scans per query (see
      :class:`~ocrr.index.ivf.IvfIndex`).
    - ``device``: where exact search runs: ``"cpu"``, ``"cuda"``, or ``"auto"`` (a CUDA
      device when torch sees one).
    - ``M``, ``ef_construction``, ``ef_search``, ``threads``, ``flush_at``: HNSW settings
      (see :class:`~ocrr.index.hnsw.HnswIndex`).
    - ``path``: a folder for the persisted index (next to the ledger's store). When it holds
      an index built from a prefix of this ledger, the index is loaded and brought up to
      date instead of rebuilt; after a rebuild the index is saved there.

    Examples
    --------
    >>> choice = IndexChoice(threshold=1000)
    >>> choice.kind_at(1000), choice.kind_at(1001)
    ('exact', 'ivf')
    >>> type(choice.make(384)).__name__
    'ExactIndex'
    """

    kind: str = "auto"
    threshold: int = APPROX_THRESHOLD
    approximate: str = "ivf"
    nprobe: int = 4
    device: str = "cpu"
    M: int = 16  # noqa: N815
    ef_construction: int = 200
    ef_search: int = 64
    threads: int | None = 1
    flush_at: int = 1024
    path: str | Path | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown index kind {self.kind!r}; valid: {', '.join(KINDS)}")
        if self.approximate not in APPROXIMATE:
            raise ValueError(
                f"unknown approximate index {self.approximate!r}; valid: {', '.join(APPROXIMATE)}"
            )
        if self.threshold < 0:
            raise ValueError(f"threshold must be non-negative, got {self.threshold}")
        if self.kind == "hnsw" and not ann_available():
            raise AnnUnavailableError(
                "index='hnsw' needs the optional package hnswlib: pip install 'ocrr[ann]' "
                "(or use the inverted file, index='ivf', or exact search, exact=True)"
            )

    # -- decisions -----------------------------------------------------------------------
    def kind_at(self, size: int) -> str:
        """The kind of index (``"exact"``, ``"ivf"``, ``"hnsw"``) for ``size`` examples."""
        if self.kind != "auto":
            return self.kind
        if size <= self.threshold:
            return "exact"
        if self.approximate == "ivf" or ann_available():
            return self.approximate
        global _warned_missing
        if not _warned_missing:
            _warned_missing = True
            warnings.warn(
                f"the ledger has more than {self.threshold:,} examples but hnswlib is not "
                "installed, so search stays exact (slower); pip install 'ocrr[ann]' for "
                "HNSW, use approximate='ivf', or pass exact=True to silence this",
                RuntimeWarning,
                stacklevel=3,
            )
        return "exact"

    def approximate_at(self, size: int) -> bool:
        """Whether an index over ``size`` example entries should be approximate."""
        return self.kind_at(size) != "exact"

    def make(self, dim: int, expected: int = 0) -> Index:
        """An empty index for ``expected`` rows of dimension ``dim``."""
        kind = self.kind_at(expected)
        if kind == "hnsw":
            return HnswIndex(
                dim,
                max(expected, 1024),
                M=self.M,
                ef_construction=self.ef_construction,
                ef_search=self.ef_search,
                threads=self.threads,
                flush_at=self.flush_at,
            )
        if kind == "ivf":
            return IvfIndex(dim, max(expected, 1024), nprobe=self.nprobe)
        from ocrr.index.gpu import TorchExactIndex, resolve_device

        device = resolve_device(self.device)
        if device != "cpu":
            return TorchExactIndex(dim, max(expected, 1024), device=device)
        return ExactIndex(dim, max(expected, 1024))

    def grown(self, index: Index) -> Index:
        """``index``, or an approximate index with the same rows once an automatic exact
        index has outgrown the threshold. Cheap when nothing changes (called on every
        append)."""
        if self.kind != "auto" or len(index) <= self.threshold:
            return index
        if isinstance(index, (HnswIndex, IvfIndex)):
            return index
        if not self.approximate_at(len(index)):
            return index
        upgraded = self.make(index.dim, len(index))
        upgraded.add_many(index.vectors)
        for row in index.removed:
            upgraded.remove(int(row))
        return upgraded

    # -- from a ledger -------------------------------------------------------------------
    def for_ledger(self, ledger: LedgerLike, examples: Sequence[EntryLike]) -> Index:
        """The index of a ledger's example entries (in sequence order)."""
        dim = ledger.dim or len(examples[0].vector)
        if self.path is not None and Path(self.path).exists():
            try:
                index, added = load_index(self.path, ledger, examples)
            except IndexMismatchError as err:
                warnings.warn(f"rebuilding the index: {err}", RuntimeWarning, stacklevel=3)
            else:
                if added > max(self.flush_at, len(index) // 20):
                    save_index(index, self.path, ledger.head())
                return self.grown(index)
        index = self.make(dim, len(examples))
        index.add_many(np.stack([e.vector for e in examples]))
        if self.path is not None:
            save_index(index, self.path, ledger.head())
        return index


def choose_index(index: str | IndexChoice | None = None, exact: bool | None = None) -> IndexChoice:
    """The substrate's ``index=`` / ``exact=`` arguments as an :class:`IndexChoice`.

    ``exact=True`` forces exact search, ``exact=False`` approximate search (the choice's
    ``approximate`` kind, an inverted file by default); ``index`` is a kind name
    (``"auto"``, ``"exact"``, ``"ivf"``, ``"hnsw"``) or an :class:`IndexChoice`.
    """
    choice = index if isinstance(index, IndexChoice) else None
    if choice is None:
        if index is not None and not isinstance(index, str):
            raise TypeError(f"index must be a kind name or an IndexChoice, got {index!r}")
        choice = IndexChoice(kind=index or "auto")
    if exact is None:
        return choice
    if exact and choice.kind in ("auto", "exact"):
        return replace(choice, kind="exact")
    if not exact and choice.kind in ("auto", *APPROXIMATE):
        return choice if choice.kind != "auto" else replace(choice, kind=choice.approximate)
    raise ValueError(f"exact={exact} contradicts index kind {choice.kind!r}")
