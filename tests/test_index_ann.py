"""The approximate index (HNSW), index selection, persistence and the GPU index's CPU path."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from conftest import labelled_clusters, random_units, unit
from ocrr.index import (
    AnnUnavailableError,
    ExactIndex,
    HnswIndex,
    IndexChoice,
    IndexMismatchError,
    choose_index,
    load_index,
    save_index,
    verify_recall,
)
from ocrr.index.gpu import TorchExactIndex, resolve_device
from ocrr.ledger import Ledger
from ocrr.substrate import Substrate

pytest.importorskip("hnswlib")


def _ordered(rows: np.ndarray, sims: np.ndarray) -> bool:
    """(similarity desc, row asc) along every answer."""
    for r, s in zip(rows, sims, strict=True):
        for i in range(len(r) - 1):
            if s[i] < s[i + 1] or (s[i] == s[i + 1] and r[i] > r[i + 1]):
                return False
    return True


def test_hnsw_agrees_with_exact_on_small_data_and_orders_answers():
    x = random_units(3000)
    q = random_units(50, seed=1)
    exact = ExactIndex(16)
    exact.add_many(x)
    ann = HnswIndex(16, ef_search=200, flush_at=256)
    ann.add_many(x)
    assert len(ann) == 3000 and ann.live == 3000 and ann._t == 3000 % 256
    rows, sims = ann.search_many(q, 5)
    want, want_sims = exact.search_many(q, 5)
    assert rows.shape == (50, 5) and _ordered(rows, sims)
    overlap = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(rows, want, strict=True)])
    assert overlap > 0.95
    np.testing.assert_allclose(sims[:, 0], want_sims[:, 0], atol=1e-5)
    one_rows, one_sims = ann.search(q[3], 5)
    np.testing.assert_array_equal(one_rows, rows[3])


def test_newest_rows_are_found_exactly_from_the_tail():
    ann = HnswIndex(16, flush_at=64)
    ann.add_many(random_units(1000))
    new = random_units(1, seed=9)[0]
    row = ann.add(new)
    assert row == 1000
    rows, sims = ann.search(new, 3)
    assert rows[0] == 1000 and sims[0] == pytest.approx(1.0, abs=1e-5)


def test_add_and_add_many_give_the_same_graph_tail_split_and_answers():
    x = random_units(700)
    q = random_units(20, seed=3)
    a = HnswIndex(16, flush_at=100)
    for v in x:
        a.add(v)
    b = HnswIndex(16, flush_at=100)
    b.add_many(x[:150])
    b.add_many(x[150:])
    assert (a._g, a._t) == (b._g, b._t) == (700, 0)
    for idx in (a, b):
        idx.add_many(random_units(30, seed=5))
    ra, sa = a.search_many(q, 5)
    rb, sb = b.search_many(q, 5)
    np.testing.assert_array_equal(ra, rb)
    np.testing.assert_array_equal(sa, sb)


def test_removed_rows_never_come_back_and_few_live_rows_pad_with_minus_inf():
    x = random_units(300)
    ann = HnswIndex(16, flush_at=128)
    ann.add_many(x)  # rows 0..255 in the graph, 256..299 in the tail
    for row in (0, 10, 200, 260, 299):
        ann.remove(row)
        ann.remove(row)  # idempotent
    assert ann.live == 295
    rows, _ = ann.search_many(x[[0, 10, 200, 260, 299]], 5)
    assert not set(rows.ravel()) & {0, 10, 200, 260, 299}
    with pytest.raises(IndexError):
        ann.remove(300)

    small = HnswIndex(16, flush_at=4)
    small.add_many(x[:6])  # 4 in the graph, 2 in the tail
    for row in (0, 1, 2, 4):
        small.remove(row)
    rows, sims = small.search(x[3], 5)
    assert len(rows) == 5 and sorted(rows[:2].tolist()) == [3, 5]
    assert np.isfinite(sims[:2]).all() and np.isneginf(sims[2:]).all()
    assert set(rows[2:].tolist()) <= {0, 1, 2, 4} and len(set(rows.tolist())) == 5
    # removing before the row reaches the graph keeps it removed afterwards
    small.add_many(x[6:8])
    assert 4 in small._removed and small._g == 8
    assert 4 not in small.search(x[4], 3)[0][np.isfinite(small.search(x[4], 3)[1])]


def test_verify_recall():
    x = random_units(2000)
    exact = ExactIndex(16)
    exact.add_many(x)
    assert exact.verify_recall(50).recall == 1.0
    good = HnswIndex(16, ef_search=300, flush_at=128)
    good.add_many(x)
    report = good.verify_recall(100, k=5, seed=1)
    assert report.k == 5 and report.queries == 100 and report.recall > 0.95
    poor = HnswIndex(16, M=2, ef_construction=2, ef_search=1, flush_at=128)
    poor.add_many(x)
    assert verify_recall(poor, random_units(100, seed=2)).recall < report.recall
    rows, sims = good.exact_search_many(random_units(5, seed=4), 5)
    want, want_sims = exact.search_many(random_units(5, seed=4), 5)
    np.testing.assert_array_equal(rows, want)


def test_save_and_load_check_the_ledger_and_catch_up(tmp_path):
    x, labels, _ = labelled_clusters(900)
    ledger = Ledger()
    for v, y in zip(x[:800], labels[:800], strict=True):
        ledger.append(y, v, provenance={"source": "fit"})
    ann = HnswIndex(16, flush_at=128)
    ann.add_many(x[:800])
    ann.remove(5)
    save_index(ann, tmp_path / "ix", ledger.head())
    loaded, added = load_index(tmp_path / "ix", ledger)
    assert added == 0 and isinstance(loaded, HnswIndex) and loaded.live == 799
    q = random_units(10, seed=7)
    np.testing.assert_array_equal(loaded.search_many(q, 5)[0], ann.search_many(q, 5)[0])
    for v, y in zip(x[800:], labels[800:], strict=True):  # the ledger grows after the save
        ledger.append(y, v, provenance={"source": "correction"})
    grown, added = load_index(tmp_path / "ix", ledger)
    assert added == 100 and len(grown) == 900
    assert grown.search(x[850], 1)[0][0] == 850

    other = Ledger()
    for v, y in zip(x[::-1], labels[::-1], strict=True):
        other.append(y, v, provenance={"source": "fit"})
    with pytest.raises(IndexMismatchError):
        load_index(tmp_path / "ix", other)
    short = Ledger()
    short.append(labels[0], x[0], provenance={"source": "fit"})
    with pytest.raises(IndexMismatchError):
        load_index(tmp_path / "ix", short)

    exact = ExactIndex(16)
    exact.add_many(x)
    save_index(exact, tmp_path / "ex", ledger.head())
    again, _ = load_index(tmp_path / "ex", ledger)
    assert isinstance(again, ExactIndex)
    np.testing.assert_array_equal(again.vectors, exact.vectors)


def test_choose_index_and_a_clear_error_without_hnswlib(monkeypatch):
    assert choose_index().kind == "auto"
    assert choose_index(exact=True).kind == "exact"
    assert choose_index("hnsw", exact=False).kind == "hnsw"
    with pytest.raises(ValueError, match="contradicts"):
        choose_index("hnsw", exact=True)
    with pytest.raises(ValueError, match="unknown index kind"):
        IndexChoice(kind="faiss")
    monkeypatch.setitem(sys.modules, "hnswlib", None)  # import hnswlib now fails
    monkeypatch.setattr("ocrr.index.select._warned_missing", False)
    with pytest.raises(AnnUnavailableError, match=r"ocrr\[ann\]"):
        Substrate(index="hnsw")
    with pytest.raises(AnnUnavailableError):
        HnswIndex(8)
    # automatic selection past the threshold warns once and stays exact
    sub = Substrate(index=IndexChoice(threshold=10, approximate="hnsw"))
    x, labels, _ = labelled_clusters(30)
    with pytest.warns(RuntimeWarning, match="hnswlib is not installed"):
        sub.fit(x, labels)
    assert isinstance(sub._index, ExactIndex)


def test_substrate_switches_to_hnsw_past_the_threshold_and_rebuilds_the_same():
    x, labels, centres = labelled_clusters(400)
    choice = IndexChoice(threshold=150, approximate="hnsw", flush_at=64)
    live = Substrate(index=choice).fit(x[:100], labels[:100])
    assert isinstance(live._index, ExactIndex)
    live.partial_fit(x[100:], labels[100:])
    assert isinstance(live._index, HnswIndex) and len(live._index) == 400
    exact = Substrate(exact=True).fit(x, labels)
    assert isinstance(exact._index, ExactIndex)
    q = unit(centres[[0, 1, 2, 3, 4]] + 0.05)
    assert live.predict_many(q) == exact.predict_many(q)
    rebuilt = Substrate.from_ledger(live.ledger, index=choice)
    assert isinstance(rebuilt._index, HnswIndex)
    assert (rebuilt._index._g, rebuilt._index._t) == (live._index._g, live._index._t)
    assert rebuilt.predict_many(q) == live.predict_many(q)
    # a revocation leaves the HNSW index too
    seq = live.predict(q[0]).neighbours[0].seq
    live.revoke(seq, "wrong label")
    assert seq not in [n.seq for n in live.predict(q[0]).neighbours]


def test_substrate_persists_its_index_next_to_the_store(tmp_path, monkeypatch):
    x, labels, _ = labelled_clusters(300)
    choice = IndexChoice(kind="hnsw", flush_at=64, path=tmp_path / "ledger.index")
    first = Substrate().fit(x, labels)
    built = Substrate.from_ledger(first.ledger, index=choice)
    assert (tmp_path / "ledger.index" / "index.json").is_file()
    built_rows = built._index.search_many(x[:20], 5)[0]

    def no_build(*args, **kwargs):
        raise AssertionError("the saved index should have been loaded, not rebuilt")

    monkeypatch.setattr(HnswIndex, "_insert", no_build)
    reopened = Substrate.from_ledger(first.ledger, index=choice)
    np.testing.assert_array_equal(reopened._index.search_many(x[:20], 5)[0], built_rows)


def test_torch_exact_index_on_cpu_matches_exact():
    pytest.importorskip("torch")
    x = random_units(500)
    q = random_units(30, seed=1)
    exact = ExactIndex(16)
    exact.add_many(x)
    gpu_path = TorchExactIndex(16, 8, device="cpu")  # grows past its capacity
    gpu_path.add_many(x[:400])
    for v in x[400:]:
        gpu_path.add(v)
    for row in (3, 77):
        exact.remove(row)
        gpu_path.remove(row)
    assert len(gpu_path) == 500 and gpu_path.live == 498
    rows, sims = gpu_path.search_many(q, 5)
    want, want_sims = exact.search_many(q, 5)
    np.testing.assert_array_equal(rows, want)
    np.testing.assert_allclose(sims, want_sims, atol=1e-5)
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") in ("cpu", "cuda")
    with pytest.raises(ValueError):
        resolve_device("tpu")
    sub = Substrate(index=IndexChoice(kind="exact", device="cpu")).fit(x, ["a"] * 500)
    assert isinstance(sub._index, ExactIndex)
