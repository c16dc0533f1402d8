"""Saving an index next to the ledger's store, and loading it only for the ledger it fits.

An index is derived state: a saved one is a cache of the work of building it (minutes for
HNSW at a million entries). A saved index folder holds ``index.json`` (format, kind,
dimension, rows, removed rows and the ledger head it was built from: size and the hex
SHA-256 of the last entry) and the data (``vectors.npy`` for an exact index;
``graph.hnsw``, ``tail.npy`` and ``removed.npy`` for HNSW; ``centroids.npy`` and the cells'
rows and vectors for an inverted file).

Because the ledger is append-only, an index built from its first ``s`` entries stays valid
for any longer ledger whose entry ``s - 1`` has the recorded hash: :func:`load_index`
checks exactly that and appends the examples that came after. A ledger that does not hold
the recorded entry (another ledger, a rewritten or truncated one) is refused with
:class:`IndexMismatchError`, and the caller rebuilds.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ocrr.index.base import EXAMPLE_KIND, EntryLike, HeadLike, Index, LedgerLike
from ocrr.index.exact import ExactIndex
from ocrr.index.hnsw import HnswIndex
from ocrr.index.ivf import IvfIndex

FORMAT = "ocrr-index/1"


class IndexMismatchError(ValueError):
    """The saved index was not built from (a prefix of) this ledger."""


def save_index(index: Index, path: str | Path, head: HeadLike) -> Path:
    """Write ``index`` to the folder ``path`` (replaced atomically), recording ``head``: the
    ledger's ``head()`` when the index holds exactly its example entries."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    meta: dict[str, object] = {
        "format": FORMAT,
        "dim": index.dim,
        "rows": len(index),
        "ledger_size": head.size,
        "ledger_head": head.entry_hash.hex(),
    }
    if isinstance(index, (HnswIndex, IvfIndex)):
        meta["kind"] = index.kind
        meta.update(index._save_data(tmp))
    else:  # ExactIndex, TorchExactIndex: the vectors and the removed rows
        meta["kind"] = "exact"
        np.save(tmp / "vectors.npy", np.asarray(index.vectors))
        np.save(tmp / "removed.npy", np.asarray(index.removed, np.int64))
    (tmp / "index.json").write_text(json.dumps(meta, indent=1))
    old = path.with_name(f"{path.name}.old-{os.getpid()}")
    if path.exists():
        path.rename(old)
    tmp.rename(path)
    shutil.rmtree(old, ignore_errors=True)
    return path


def read_meta(path: str | Path) -> dict[str, Any]:
    meta_file = Path(path) / "index.json"
    if not meta_file.is_file():
        raise IndexMismatchError(f"{path} holds no saved index (no index.json)")
    meta = json.loads(meta_file.read_text())
    if meta.get("format") != FORMAT:
        raise IndexMismatchError(f"{path}: unknown index format {meta.get('format')!r}")
    return meta


def load_index(
    path: str | Path, ledger: LedgerLike, examples: Sequence[EntryLike] | None = None
) -> tuple[Index, int]:
    """Load the index saved at ``path`` for ``ledger``; return (index, rows appended).

    Refuses (:class:`IndexMismatchError`) unless the ledger holds the recorded head entry at
    the recorded position and exactly the recorded number of examples before it; then
    appends the vectors of the ledger's later examples. ``examples`` (the ledger's example
    entries in order) saves a pass over the ledger when the caller has them.
    """
    path = Path(path)
    meta = read_meta(path)
    size = int(meta["ledger_size"])
    if size > len(ledger):
        raise IndexMismatchError(
            f"{path} was built from {size} entries but the ledger has {len(ledger)}"
        )
    if size and ledger[size - 1].entry_hash.hex() != meta["ledger_head"]:
        raise IndexMismatchError(
            f"{path} was built from another ledger: entry {size - 1}'s hash differs"
        )
    if ledger.dim is not None and int(meta["dim"]) != ledger.dim:
        raise IndexMismatchError(f"{path} has dimension {meta['dim']}, the ledger {ledger.dim}")
    if examples is None:
        examples = [e for e in ledger if e.kind == EXAMPLE_KIND]
    before = sum(1 for e in examples if e.seq < size)
    if before != int(meta["rows"]):
        raise IndexMismatchError(
            f"{path} holds {meta['rows']} rows but the ledger's first {size} entries hold "
            f"{before} examples"
        )
    index: Index
    if meta["kind"] == "hnsw":
        index = HnswIndex._load_data(path, meta)
    elif meta["kind"] == "ivf":
        index = IvfIndex._load_data(path, meta)
    else:
        vectors = np.load(path / "vectors.npy")
        index = ExactIndex(int(meta["dim"]), max(len(examples), 1024))
        index.add_many(vectors)
        for row in np.load(path / "removed.npy"):
            index.remove(int(row))
    if len(index) != before:
        raise IndexMismatchError(f"{path}: data holds {len(index)} rows, expected {before}")
    later = [e.vector for e in examples[before:]]
    if later:
        index.add_many(np.stack(later))
    return index, len(later)
