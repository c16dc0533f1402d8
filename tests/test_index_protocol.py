"""Every index conforms to the complete Index protocol; the index reads ledgers structurally."""

import importlib.util

import numpy as np
import pytest

from ocrr.index import ExactIndex, HnswIndex, Index, IvfIndex, ann_available
from ocrr.index.base import EXAMPLE_KIND
from ocrr.index.gpu import TorchExactIndex
from ocrr.ledger import EXAMPLE

MEMBERS = ["dim", "live", "removed", "nbytes", "vectors", "rows", "add", "add_many", "remove",
           "search", "search_many", "verify_recall", "__len__"]


def _indexes():
    yield ExactIndex(4)
    yield IvfIndex(4, segment_rows=8)
    if ann_available():
        yield HnswIndex(4, flush_at=8)
    if importlib.util.find_spec("torch") is not None:  # torch is optional
        yield TorchExactIndex(4, device="cpu")


@pytest.mark.parametrize("index", list(_indexes()), ids=lambda i: type(i).__name__)
def test_every_index_is_an_index_and_answers_alike(index):
    assert isinstance(index, Index)
    assert all(hasattr(index, name) for name in MEMBERS)
    rng = np.random.default_rng(0)
    rows = rng.standard_normal((20, 4)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    index.add_many(rows[:19])
    assert index.add(rows[19]) == 19
    index.remove(3)
    assert len(index) == 20 and index.live == 19 and index.removed.tolist() == [3]
    assert np.array_equal(index.rows(np.array([0, 19])), rows[[0, 19]])
    assert np.array_equal(np.asarray(index.vectors), rows)
    found, sims = index.search_many(rows[:5], 20)
    assert found.shape == (5, 20) and np.isneginf(sims[:, -1]).all()
    assert 3 not in found[:, :-1]
    one, _ = index.search(rows[0], 3)
    assert one[0] == 0 and index.verify_recall(rows[:5], 3).queries == 5


def test_the_index_spells_the_example_kind_as_the_ledger_does():
    assert EXAMPLE_KIND == EXAMPLE
