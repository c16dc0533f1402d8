"""Nearest-neighbour indexes over ledger vectors: derived state, rebuildable from the ledger.

- :class:`Index`: the protocol every index below conforms to (:mod:`ocrr.index.base`);

- :class:`ExactIndex`: exact top-k by a (chunked) BLAS matrix product, on the CPU;
- :class:`IvfIndex`: approximate top-k by an inverted file (k-means cells; plain numpy);
- :class:`HnswIndex`: approximate top-k by HNSW (hnswlib, the optional extra ``ann``);
- :class:`~ocrr.index.gpu.TorchExactIndex`: exact top-k on a GPU through torch;
- :class:`IndexChoice` / :func:`choose_index`: which of them a substrate uses (exact up to
  :data:`APPROX_THRESHOLD` examples, an inverted file above, ``exact=True`` to stay exact);
- :func:`save_index` / :func:`load_index`: persistence checked against the ledger's head;
- :func:`verify_recall`: recall@k of an index against exact search.
"""

from ocrr.index.base import EntryLike, HeadLike, Index, LedgerLike
from ocrr.index.exact import ExactIndex, top_k
from ocrr.index.hnsw import AnnUnavailableError, HnswIndex, ann_available
from ocrr.index.ivf import IvfIndex
from ocrr.index.persist import IndexMismatchError, load_index, save_index
from ocrr.index.recall import RecallReport, RowIndex, verify_recall
from ocrr.index.select import APPROX_THRESHOLD, IndexChoice, choose_index

__all__ = [
    "APPROX_THRESHOLD",
    "AnnUnavailableError",
    "EntryLike",
    "ExactIndex",
    "HeadLike",
    "HnswIndex",
    "Index",
    "IndexChoice",
    "IndexMismatchError",
    "IvfIndex",
    "LedgerLike",
    "RecallReport",
    "RowIndex",
    "ann_available",
    "choose_index",
    "load_index",
    "save_index",
    "top_k",
    "verify_recall",
]
