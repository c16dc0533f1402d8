"""The grid: encode once, same results whatever the worker count, resume from a CellStore."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from ocrr.bench import Cell, encode_dataset, make_cells, run_grid
from ocrr.bench import grid as grid_module
from ocrr.bench.store import CellStore, StoreMismatchError

SETTINGS = {"encoder": "synthetic", "cap": 400, "checkpoint_every": 50}


def outcome(result):
    """Everything a result says except timings."""
    return (
        result.dataset,
        result.policy,
        result.seed,
        result.system,
        [(c.step, c.corrections, c.acc_novel, c.acc_original) for c in result.checkpoints],
        result.storage_entries,
        result.storage_bytes,
        result.n_predict,
        result.n_correct,
    )


@pytest.fixture
def cells(encoded) -> list[Cell]:
    return make_cells(
        [encoded.name], ["oracle", "random50"], [0, 1], ["substrate", "static_knn", "online_linear"]
    )


def test_make_cells_order():
    cells = make_cells(["d1", "d2"], ["p"], [0, 1], ["a", "b"])
    assert cells == [
        Cell("d1", "p", 0, "a"),
        Cell("d1", "p", 0, "b"),
        Cell("d1", "p", 1, "a"),
        Cell("d1", "p", 1, "b"),
        Cell("d2", "p", 0, "a"),
        Cell("d2", "p", 0, "b"),
        Cell("d2", "p", 1, "a"),
        Cell("d2", "p", 1, "b"),
    ]


def test_same_results_with_one_and_two_workers(encoded, cells):
    data = {encoded.name: encoded}
    one = run_grid(data, cells, workers=1)
    two = run_grid(data, cells, workers=2)
    assert [(r.dataset, r.policy, r.seed, r.system) for r in one] == [
        (c.dataset, c.policy, c.seed, c.system) for c in cells
    ]
    assert [outcome(r) for r in one] == [outcome(r) for r in two]
    assert all(r.wall_s > 0 for r in two)
    # the cells differ from one another (the comparison above is not trivially true)
    assert len({str(outcome(r)[4]) for r in one}) > 3


def test_on_done_sees_every_cell(encoded, cells):
    seen = []
    run_grid({encoded.name: encoded}, cells[:3], workers=1, on_done=seen.append)
    assert sorted((r.policy, r.seed, r.system) for r in seen) == sorted(
        (c.policy, c.seed, c.system) for c in cells[:3]
    )


def test_a_resumed_grid_does_not_rerun_finished_cells(encoded, cells, tmp_path, monkeypatch):
    data = {encoded.name: encoded}
    first = run_grid(data, cells, workers=1, store=CellStore(tmp_path, SETTINGS))
    assert len(list((tmp_path / "cells").glob("*__*.json"))) == len(cells)

    ran: list[Cell] = []
    real_run = grid_module._run

    def counting_run(cell, cap, checkpoint_every):
        ran.append(cell)
        return real_run(cell, cap, checkpoint_every)

    monkeypatch.setattr(grid_module, "_run", counting_run)
    seen = []
    resumed = run_grid(
        data, cells, workers=1, store=CellStore(tmp_path, SETTINGS), on_done=seen.append
    )
    assert ran == []
    assert len(seen) == len(cells)
    assert [outcome(r) for r in resumed] == [outcome(r) for r in first]
    assert [r.wall_s for r in resumed] == [r.wall_s for r in first]  # loaded, not rerun

    # lose two cells (one deleted, one damaged): exactly those run again
    store = CellStore(tmp_path, SETTINGS)
    store.path(**dataclasses.asdict(cells[1])).unlink()
    store.path(**dataclasses.asdict(cells[4])).write_text("{not json", encoding="utf-8")
    again = run_grid(data, cells, workers=1, store=store)
    assert ran == [cells[1], cells[4]]
    assert [outcome(r) for r in again] == [outcome(r) for r in first]


def test_store_round_trip_and_settings_mismatch(encoded, cells, tmp_path):
    (result,) = run_grid({encoded.name: encoded}, cells[:1], workers=1)
    store = CellStore(tmp_path, SETTINGS)
    assert store.load(result.dataset, result.policy, result.seed, result.system) is None
    store.save(result)
    loaded = store.load(result.dataset, result.policy, result.seed, result.system)
    assert loaded == result
    saved = json.loads((tmp_path / "cells" / "settings.json").read_text(encoding="utf-8"))
    assert saved == SETTINGS
    with pytest.raises(StoreMismatchError):
        CellStore(tmp_path, {**SETTINGS, "cap": 100})


def test_cap_and_checkpoint_interval_reach_the_runs(encoded):
    (result,) = run_grid(
        {encoded.name: encoded},
        [Cell(encoded.name, "oracle", 0, "substrate")],
        workers=1,
        cap=7,
        checkpoint_every=40,
    )
    assert [c.step for c in result.checkpoints] == [0, 40, 80, 120, 160, 200]
    # accuracies over 7 rows are multiples of 1/7
    for c in result.checkpoints:
        assert c.acc_novel * 7 == pytest.approx(round(c.acc_novel * 7))


def test_unknown_executor_is_refused(encoded):
    with pytest.raises(ValueError, match="local"):
        run_grid({encoded.name: encoded}, [], executor="spark")


def test_encode_dataset_with_tfidf_uses_the_cache(tiny_folder, tmp_path):
    data = encode_dataset(str(tiny_folder), "tfidf", cache_dir=tmp_path, progress=False)
    assert data.name == "tiny"
    assert data.X_train.shape[0] == len(data.y_train) == 120
    assert data.X_test.shape[0] == len(data.y_test) == 48
    assert data.X_train.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(data.X_train, axis=1), 1.0, rtol=1e-5)
    shards = sorted(tmp_path.glob("*/*.npz"))
    assert shards
    again = encode_dataset(str(tiny_folder), "tfidf", cache_dir=tmp_path, progress=False)
    assert sorted(tmp_path.glob("*/*.npz")) == shards  # nothing new was encoded
    np.testing.assert_array_equal(again.X_train, data.X_train)
    np.testing.assert_array_equal(again.X_test, data.X_test)
