"""The inverted-file index: the search contract, determinism, removal, persistence, and the
substrate's automatic switch to it (no optional package needed)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import labelled_clusters, random_units, unit
from ocrr.index import (
    ExactIndex,
    IndexChoice,
    IvfIndex,
    choose_index,
    load_index,
    save_index,
    verify_recall,
)
from ocrr.index.ivf import segment_ranges, spherical_kmeans
from ocrr.ledger import Ledger
from ocrr.substrate import Substrate


def _trained(n: int = 1000, **params) -> tuple[IvfIndex, np.ndarray]:
    x = random_units(n)
    index = IvfIndex(16, segment_rows=64, **params)
    index.add_many(x)
    return index, x


def test_segments_follow_the_binary_digits_of_the_row_count():
    assert segment_ranges(0, 64) == [] and segment_ranges(63, 64) == []
    assert segment_ranges(64 * 5 + 3, 64) == [(0, 256), (256, 64)]
    index = IvfIndex(16, segment_rows=64)
    index.add_many(random_units(1000))  # 15 blocks of 64 (8 + 4 + 2 + 1) and 40 rows
    assert [(s.start, s.size) for s in index._segments] == [
        (0, 512), (512, 256), (768, 128), (896, 64),
    ]
    assert index._t == 40 and len(index) == 1000 == index.live
    assert index.cells == sum(round(np.sqrt(size)) for size in (512, 256, 128, 64))
    assert sum(index._sizes) == 960


def test_scanning_every_cell_is_exact_search_ties_and_removals_included():
    index, x = _trained()
    index.nprobe = index.cells
    exact = ExactIndex(16)
    exact.add_many(x)
    for row in (0, 5, 999):
        index.remove(row)
        exact.remove(row)
    queries = np.concatenate([random_units(40, seed=1), x[[1, 2]]])  # stored rows: similarity 1
    got_rows, got_sims = index.search_many(queries, 7)
    want_rows, want_sims = exact.search_many(queries, 7)
    np.testing.assert_array_equal(got_rows, want_rows)
    np.testing.assert_allclose(got_sims, want_sims, atol=1e-6)
    rows, sims = index.search(queries[0], 7)
    np.testing.assert_array_equal(rows, want_rows[0])


def test_few_cells_find_near_rows_and_verify_recall_measures_the_loss():
    index, x = _trained(nprobe=1)
    report = index.verify_recall(200, k=5)
    assert 0.0 < report.recall < 1.0 and report.queries == 200
    index.nprobe = index.cells
    assert verify_recall(index, 200, k=5).recall == 1.0


def test_probes_on_until_k_live_rows_and_pads_with_removed_rows():
    index, x = _trained(nprobe=1)
    query = x[0]
    first_cell = int(np.argmax(index._centroids @ query))
    for row in index._cell_rows[first_cell][: index._sizes[first_cell]]:
        index.remove(int(row))
    rows, sims = index.search(query, 5)
    assert len(rows) == 5 and np.isfinite(sims).all()
    assert not np.isin(rows, index._removed).any()
    no_tail = IvfIndex(16, segment_rows=64, nprobe=1)
    no_tail.add_many(random_units(1024))  # 16 blocks of 64: one segment, an empty tail
    assert no_tail._t == 0
    first_cell = int(np.argmax(no_tail._centroids @ query))
    for row in no_tail._cell_rows[first_cell]:
        no_tail.remove(int(row))
    rows, sims = no_tail.search(query, 5)  # the next cells in order make up the k
    assert len(rows) == 5 and np.isfinite(sims).all()
    small = IvfIndex(16)
    small.add_many(x[:4])
    small.remove(2)
    rows, sims = small.search(x[0], 5)
    assert rows.tolist() == [0, 1, 3, 2] and np.isneginf(sims[-1])
    assert small.live == 3


def test_layout_is_a_function_of_the_rows_however_they_arrive():
    x = random_units(700)
    at_once = IvfIndex(16, segment_rows=64)
    at_once.add_many(x)
    one_by_one = IvfIndex(16, segment_rows=64)
    for v in x[:150]:
        one_by_one.add(v)
    one_by_one.add_many(x[150:400])  # merges segments on the way
    for v in x[400:]:
        one_by_one.add(v)
    np.testing.assert_array_equal(at_once._centroids, one_by_one._centroids)
    np.testing.assert_array_equal(at_once._cell_of[:700], one_by_one._cell_of[:700])
    q = random_units(30, seed=2)
    np.testing.assert_array_equal(at_once.search_many(q, 5)[0], one_by_one.search_many(q, 5)[0])
    np.testing.assert_array_equal(at_once.vectors, x)
    np.testing.assert_array_equal(at_once.rows(np.array([699, 3])), x[[699, 3]])


def test_removed_rows_stay_removed_across_a_retrain():
    x = random_units(200)
    index = IvfIndex(16, segment_rows=64, nprobe=100)
    index.add_many(x[:100])
    index.remove(7)
    index.add_many(x[100:])  # 200 rows: segments of 128 and 64, clustered anew
    assert [(s.start, s.size) for s in index._segments] == [(0, 128), (128, 64)]
    assert index.live == 199
    assert 7 not in index.search(x[7], 5)[0]


def test_bad_parameters_and_queries_are_refused():
    with pytest.raises(ValueError, match="nprobe"):
        IvfIndex(16, nprobe=0)
    with pytest.raises(ValueError, match="dim"):
        IvfIndex(0)
    with pytest.raises(ValueError, match="cells_per_sqrt"):
        IvfIndex(16, cells_per_sqrt=0)
    index, _ = _trained(200)
    with pytest.raises(ValueError, match="shape"):
        index.search_many(np.zeros((2, 8), np.float32), 5)
    with pytest.raises(IndexError):
        index.remove(200)


def test_spherical_kmeans_finds_separated_clusters():
    x, labels, centres = labelled_clusters(600, classes=4)
    found = spherical_kmeans(x, 4, seed=0)
    assert np.all(np.max(found @ centres.T, axis=0) > 0.95)
    np.testing.assert_array_equal(found, spherical_kmeans(x, 4, seed=0))


def test_saved_index_loads_for_its_ledger_and_catches_up(tmp_path):
    x = random_units(300)
    ledger = Ledger()
    for i, v in enumerate(x[:250]):
        ledger.append(f"c{i % 3}", v)
    index = IvfIndex(16, segment_rows=64, nprobe=2)
    index.add_many(x[:250])
    index.remove(11)
    save_index(index, tmp_path / "ix", ledger.head())
    for i, v in enumerate(x[250:]):
        ledger.append(f"c{i % 3}", v)
    loaded, added = load_index(tmp_path / "ix", ledger)
    assert isinstance(loaded, IvfIndex) and added == 50 and len(loaded) == 300
    assert loaded.live == 299 and loaded.nprobe == 2
    index.add_many(x[250:])
    q = random_units(20, seed=3)
    np.testing.assert_array_equal(loaded.search_many(q, 5)[0], index.search_many(q, 5)[0])


def test_exact_false_and_auto_above_the_threshold_mean_the_inverted_file():
    assert choose_index("auto", exact=False).kind == "ivf"
    assert choose_index(IndexChoice(approximate="hnsw"), exact=False).kind == "hnsw"
    assert choose_index("ivf", exact=False).kind == "ivf"
    with pytest.raises(ValueError, match="contradicts"):
        choose_index("ivf", exact=True)
    with pytest.raises(ValueError, match="unknown approximate"):
        IndexChoice(approximate="annoy")
    assert isinstance(Substrate(exact=False).fit(*labelled_clusters(20)[:2]).index, IvfIndex)


def test_substrate_switches_to_the_inverted_file_and_rebuilds_the_same():
    x, labels, centres = labelled_clusters(400)
    choice = IndexChoice(threshold=150, nprobe=2)
    live = Substrate(index=choice).fit(x[:100], labels[:100])
    assert isinstance(live.index, ExactIndex)
    for v, label in zip(x[100:], labels[100:], strict=True):
        live.correct(v, label)
    assert isinstance(live.index, IvfIndex) and len(live.index) == 400
    q = unit(centres + 0.05)
    exact = Substrate(exact=True).fit(x, labels)
    assert live.predict_many(q) == exact.predict_many(q)
    rebuilt = Substrate.from_ledger(live.ledger, index=choice)
    np.testing.assert_array_equal(rebuilt.index._cell_of[:400], live.index._cell_of[:400])
    assert rebuilt.predict_many(q) == live.predict_many(q)
    assert live.verify_recall(50).k == live.k
    seq = live.predict(q[0]).neighbours[0].seq
    live.revoke(seq, "wrong label")
    assert seq not in [n.seq for n in live.predict(q[0]).neighbours]
