"""Scenarios: the plans they draw, determinism per seed, the drift data, and the grid and
command line running them."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from conftest import make_clusters, unit
from ocrr.bench import EncodedDataset, get_policy, make_cells, make_plan, run_cell, run_grid
from ocrr.bench.scenarios import (
    SCENARIOS,
    ScenarioData,
    applies,
    confusable_pairs,
    cross_data,
    cross_mapping,
    expand_scenarios,
    fit_identity,
    merge_plan,
    prepare_scenarios,
    rename_plan,
    scenario_inputs,
    split_plan,
    typo_data,
)
from ocrr.bench.store import CellStore
from ocrr.cli.main import main
from ocrr.systems import make_system

SYSTEMS = ["substrate", "substrate_plus", "online_linear", "slda", "static_knn"]


def same_plan(a, b) -> bool:
    fields = dataclasses.fields(a)
    for f in fields:
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            if not np.array_equal(x, y):
                return False
        elif x != y:
            return False
    return True


def outcome(result):
    return (
        result.scenario, result.dataset, result.policy, result.seed, result.system,
        [(c.step, c.corrections, c.acc_novel, c.acc_original) for c in result.checkpoints],
        result.operations, result.n_correct, result.storage_entries,
    )


@pytest.fixture(scope="module")
def paired() -> EncodedDataset:
    """12 classes in 5 planted pairs of near-identical centroids (p0a/p0b, ...) plus 2 loners,
    so the most confusable pairs are known."""
    rng = np.random.default_rng(5)
    base = unit(rng.standard_normal((7, 24)))
    centroids, names = [], []
    for i in range(5):
        for side, shift in (("a", 1), ("b", -1)):
            centroids.append(base[i] + shift * 0.12 * unit(rng.standard_normal(24)))
            names.append(f"p{i}{side}")
    centroids += [base[5], base[6]]
    names += ["solo1", "solo2"]
    centroids = unit(np.array(centroids))
    X, y, _ = make_clusters(12, 20, 24, noise=0.2, seed=6, centroids=centroids)
    T, ty, _ = make_clusters(12, 6, 24, noise=0.2, seed=7, centroids=centroids)
    label = {f"c{i:02d}": n for i, n in enumerate(names)}
    return EncodedDataset(
        "paired", X, tuple(label[v] for v in y), T, tuple(label[v] for v in ty)
    )


# -- names ---------------------------------------------------------------------------------
def test_scenario_names_and_aliases():
    assert SCENARIOS[0] == "novel"
    assert expand_scenarios(["drift-typo"]) == ["drift-typo-5", "drift-typo-15"]
    assert expand_scenarios(["all"]) == list(SCENARIOS)
    assert expand_scenarios(["split", "split", "merge"]) == ["split", "merge"]
    with pytest.raises(ValueError, match="valid: novel"):
        expand_scenarios(["splits"])
    assert applies("drift-cross", "banking77") and not applies("drift-cross", "clinc150")
    assert applies("split", "my_folder")


# -- novel is the paper's protocol ---------------------------------------------------------
def test_novel_is_make_plan_unchanged(encoded):
    for seed in (0, 3):
        data, plan = scenario_inputs({"synth": encoded}, "novel", "synth", seed, 400)
        assert data is encoded
        assert same_plan(plan, make_plan(encoded.y_train, encoded.y_test, seed))
        assert plan.scenario == "novel" and plan.renames == () and plan.fit_labels is None


# -- split and merge -----------------------------------------------------------------------
def test_confusable_pairs_are_the_planted_ones_and_deterministic(paired):
    pairs = confusable_pairs(paired.X_train, paired.y_train)
    assert sorted(pairs) == [(f"p{i}a", f"p{i}b") for i in range(5)]
    assert confusable_pairs(paired.X_train, paired.y_train) == pairs
    # file order does not matter, only the rows
    order = np.random.default_rng(0).permutation(len(paired.y_train))
    shuffled = confusable_pairs(paired.X_train[order], [paired.y_train[i] for i in order])
    assert sorted(shuffled) == sorted(pairs)
    flat = [c for pair in pairs for c in pair]
    assert len(flat) == len(set(flat))  # each class in one pair


def test_fewer_pairs_when_classes_are_few(clusters):
    X, y, _ = clusters(5, 10, 8, seed=1)
    assert len(confusable_pairs(X, y)) == 2  # one class always left alone
    X, y, _ = clusters(2, 10, 8, seed=1)
    with pytest.raises(ValueError, match="at least 3"):
        confusable_pairs(X, y)


def test_split_fits_coarse_and_streams_fine(paired):
    plan = split_plan(paired, 0)
    coarse = {f"p{i}{s}": f"p{i}a+p{i}b" for i in range(5) for s in "ab"}
    assert plan.scenario == "split" and set(plan.held_out) == set(coarse)
    assert np.array_equal(plan.seed_rows, np.arange(len(paired.y_train)))
    assert plan.fit_labels == tuple(coarse.get(v, v) for v in paired.y_train)
    streamed = [paired.y_train[i] for i in plan.stream_rows]
    assert sorted(plan.stream_rows) == [i for i, v in enumerate(paired.y_train) if v in coarse]
    assert plan.stream_labels is None and set(streamed) == set(coarse)  # fine labels
    assert {paired.y_test[i] for i in plan.novel_rows} == set(coarse)
    assert {paired.y_test[i] for i in plan.original_rows} == {"solo1", "solo2"}
    assert plan.novel_labels is None and plan.renames == ()
    assert sorted(plan.retirements) == [f"p{i}a+p{i}b" for i in range(5)]


def test_merge_fits_fine_streams_coarse_and_offers_relabels(paired):
    plan = merge_plan(paired, 0)
    assert plan.fit_labels is None
    for row, given in zip(plan.stream_rows, plan.stream_labels, strict=True):
        fine = paired.y_train[row]
        assert given == f"{fine[:2]}a+{fine[:2]}b"
    for row, label in zip(plan.novel_rows, plan.novel_labels, strict=True):
        assert label.startswith(paired.y_test[row][:2]) and "+" in label
    assert len(plan.renames) == 10
    assert {new for _, new in plan.renames} == set(plan.stream_labels)


@pytest.mark.parametrize("make", [split_plan, merge_plan, rename_plan])
def test_vector_scenarios_are_deterministic_per_seed(paired, make):
    assert same_plan(make(paired, 4), make(paired, 4))
    assert not np.array_equal(make(paired, 4).stream_rows, make(paired, 5).stream_rows)


def test_caps_apply_as_in_make_plan(paired):
    plan = split_plan(paired, 0, cap=7)
    assert len(plan.novel_rows) == 7 and len(plan.original_rows) == 7


def test_rename_renames_one_class_per_seed(paired):
    seen = set()
    for seed in range(6):
        plan = rename_plan(paired, seed)
        (old, new), = plan.renames
        assert plan.held_out == (old,) and new == f"{old}_renamed"
        assert {paired.y_train[i] for i in plan.stream_rows} == {old}
        assert len(plan.stream_rows) == paired.y_train.count(old)
        assert set(plan.stream_labels) == {new} == set(plan.novel_labels)
        assert old not in {paired.y_test[i] for i in plan.original_rows}
        seen.add(old)
    assert len(seen) > 1


def test_split_recovery_is_measured_with_fine_labels(paired):
    plan = split_plan(paired, 0)
    result = run_cell(
        make_system("slda", 0), paired.X_train, paired.y_train, paired.X_test, paired.y_test,
        plan, get_policy("oracle"), 0,
    )
    assert result.checkpoints[0].acc_novel == 0.0  # fitted coarse: no fine label known
    assert result.final.acc_novel > 0.5 and result.final.acc_original == 1.0


def test_a_substrate_retires_the_coarse_labels_in_one_operation_each(paired):
    plan = split_plan(paired, 0)
    results = {
        name: run_cell(
            make_system(name, 0), paired.X_train, paired.y_train, paired.X_test,
            paired.y_test, plan, get_policy("oracle"), 0,
        )
        for name in ("substrate_plus", "slda")
    }
    substrate, slda = results["substrate_plus"], results["slda"]
    assert substrate.operations == 5 and slda.operations == 0
    assert substrate.final.acc_novel >= slda.final.acc_novel
    assert substrate.final.acc_original == 1.0


# -- drift-cross ---------------------------------------------------------------------------
def test_the_mapping_file_is_well_formed_one_to_one_and_names_real_intents():
    from ocrr.datasets import load_dataset

    mapping = cross_mapping()
    assert len(mapping) >= 3
    clinc = [p.clinc150 for p in mapping]
    banking = [p.banking77 for p in mapping]
    assert len(set(clinc)) == len(clinc) and len(set(banking)) == len(banking)
    assert all(len(p.reason) > 40 for p in mapping)
    assert set(clinc) <= set(load_dataset("clinc150").classes)
    assert set(banking) <= set(load_dataset("banking77").classes)


def test_cross_data_streams_the_other_datasets_mapped_queries():
    mapping = cross_mapping()
    b_labels = [p.banking77 for p in mapping] + ["other_b1", "other_b2"]
    c_labels = [p.clinc150 for p in mapping] + ["weather"]
    Xb, yb, Cb = make_clusters(len(b_labels), 10, 16, seed=1)
    Tb, tyb, _ = make_clusters(len(b_labels), 4, 16, seed=2, centroids=Cb)
    Xc, yc, Cc = make_clusters(len(c_labels), 8, 16, seed=3)
    Tc, tyc, _ = make_clusters(len(c_labels), 3, 16, seed=4, centroids=Cc)

    def named(labels, names):
        return tuple(names[int(v[1:])] for v in labels)

    fit = EncodedDataset("banking77", Xb, named(yb, b_labels), Tb, named(tyb, b_labels))
    other = EncodedDataset("clinc150", Xc, named(yc, c_labels), Tc, named(tyc, c_labels))
    data = cross_data(fit, other, [0, 1], cap=400)
    to_b = {p.clinc150: p.banking77 for p in mapping}
    plan = data.plans[0]
    assert isinstance(data, ScenarioData) and plan.scenario == "drift-cross"
    assert np.array_equal(plan.seed_rows, np.arange(len(yb)))
    assert len(plan.stream_rows) == 8 * len(mapping)  # weather is not mapped
    for row in plan.stream_rows:
        assert row >= len(yb)
        assert np.array_equal(data.X_train[row], Xc[plan_source(other, data, row)])
    assert {data.y_train[r] for r in plan.stream_rows} == set(to_b.values())
    assert len(plan.novel_rows) == 3 * len(mapping)
    assert {data.y_test[r] for r in plan.novel_rows} == set(to_b.values())
    assert all(r < len(tyb) for r in plan.original_rows)
    assert not np.array_equal(plan.stream_rows, data.plans[1].stream_rows)
    assert same_plan(plan, cross_data(fit, other, [0], cap=400).plans[0])


def plan_source(other, data, row):
    """The row of ``other`` whose vector sits at ``row`` of the cross data."""
    matches = np.flatnonzero((other.X_train == data.X_train[row]).all(axis=1))
    return int(matches[0])


# -- drift-typo ----------------------------------------------------------------------------
def fake_encode(texts):
    """A deterministic stand-in for an encoder: a unit vector from the text's bytes."""
    rows = []
    for text in texts:
        seed = int.from_bytes(text.encode("utf-8")[:16].ljust(16, b"\0"), "little") % 2**32
        rows.append(np.random.default_rng([seed, len(text)]).standard_normal(8))
    return unit(np.array(rows)) if rows else np.zeros((0, 8), np.float32)


@pytest.fixture(scope="module")
def texty():
    train = [f"where is my card number {i} please" for i in range(60)]
    test = [f"my card {i} has not arrived" for i in range(20)]
    y_train = tuple(f"c{i % 4}" for i in range(60))
    y_test = tuple(f"c{i % 4}" for i in range(20))
    data = EncodedDataset(
        "texty", fake_encode(train), y_train, fake_encode(test), y_test, tuple(train),
        tuple(test),
    )
    return data, train, test


def test_typo_data_holds_out_a_perturbed_stream_and_pairs_the_test_rows(texty):
    data, train, test = texty
    out = typo_data(data, train, test, "drift-typo-15", [0, 1], fake_encode, cap=8)
    plan = out.plans[0]
    assert plan.scenario == "drift-typo-15"
    assert len(plan.stream_rows) == 12  # a fifth of 60 training rows
    assert len(np.intersect1d(plan.seed_rows, plan.stream_rows)) == 0
    sources = np.setdiff1d(np.arange(60), plan.seed_rows)
    assert len(sources) == 12
    for row in plan.stream_rows:
        assert row >= 60 and out.train_texts[row] not in train  # perturbed
    assert len(plan.novel_rows) == len(plan.original_rows) == 8
    for novel, original in zip(plan.novel_rows, plan.original_rows, strict=True):
        assert out.y_test[novel] == out.y_test[original]
        assert out.test_texts[novel] != out.test_texts[original] == test[original]
        assert np.array_equal(out.X_test[novel], fake_encode([out.test_texts[novel]])[0])
    # the same rows at both rates, other typos
    other = typo_data(data, train, test, "drift-typo-5", [0, 1], fake_encode, cap=8).plans[0]
    assert np.array_equal(other.seed_rows, plan.seed_rows)
    assert np.array_equal(other.original_rows, plan.original_rows)
    # deterministic per seed, whatever other seeds were prepared beside it
    alone = typo_data(data, train, test, "drift-typo-15", [1], fake_encode, cap=8)
    assert np.array_equal(alone.plans[1].original_rows, out.plans[1].original_rows)
    stream_texts = [out.train_texts[r] for r in out.plans[1].stream_rows]
    assert stream_texts == [alone.train_texts[r] for r in alone.plans[1].stream_rows]


def test_drift_scenarios_must_be_prepared(texty):
    data, _, _ = texty
    with pytest.raises(ValueError, match="prepare_scenarios"):
        scenario_inputs({"texty": data}, "drift-typo-5", "texty", 0, 400)


# -- the grid ------------------------------------------------------------------------------
def test_grid_results_are_the_same_whatever_the_workers_and_fit_sharing(encoded):
    cells = make_cells(
        [encoded.name], ["oracle", "random10"], [0, 1], SYSTEMS,
        ["novel", "split", "merge", "rename"],
    )
    data = {encoded.name: encoded}
    one = run_grid(data, cells, workers=1)
    two = run_grid(data, cells, workers=2)
    assert [outcome(r) for r in one] == [outcome(r) for r in two]
    # and the same as each cell run on its own, fitting its own system
    for cell, result in zip(cells[::7], one[::7], strict=True):
        d, plan = scenario_inputs(data, cell.scenario, cell.dataset, cell.seed, 400)
        alone = run_cell(
            make_system(cell.system, cell.seed), d.X_train, d.y_train, d.X_test, d.y_test,
            plan, get_policy(cell.policy), cell.seed, names=(cell.dataset, cell.system),
        )
        assert outcome(alone) == outcome(result)


def test_policies_and_same_fit_scenarios_share_one_fit(encoded, monkeypatch):
    from ocrr.bench import grid as grid_module

    fits = []
    real = grid_module.fit_system

    def counting(system, *args):
        fits.append(type(system).__name__)
        return real(system, *args)

    monkeypatch.setattr(grid_module, "fit_system", counting)
    cells = make_cells(
        [encoded.name], ["oracle", "random10"], [0], ["online_linear"],
        ["novel", "merge", "rename", "split"],
    )
    results = run_grid({encoded.name: encoded}, cells, workers=1)
    # novel; merge and rename (both fit every row under its own label); split
    assert len(fits) == 3
    assert len({fit_identity(*scenario_inputs({encoded.name: encoded}, s, encoded.name, 0, 400))
                for s in ("merge", "rename")}) == 1
    assert all(r.fit_s > 0 for r in results)


def test_store_keys_keep_scenarios_apart_and_novel_names_unchanged(encoded, tmp_path):
    store = CellStore(tmp_path, {"x": 1})
    assert store.path("synth", "oracle", 0, "substrate").name == "synth__oracle__0__substrate.json"
    assert store.path("synth", "oracle", 0, "substrate", "split").name == (
        "split__synth__oracle__0__substrate.json"
    )
    cells = make_cells([encoded.name], ["oracle"], [0], ["substrate"], ["novel", "rename"])
    results = run_grid({encoded.name: encoded}, cells, workers=1, store=store)
    assert store.load("synth", "oracle", 0, "substrate", "rename") == results[1]
    assert store.load("synth", "oracle", 0, "substrate") == results[0]
    assert results[0].scenario == "novel" and results[1].scenario == "rename"


# -- a user's folder, end to end -----------------------------------------------------------
def test_scenarios_on_a_folder_dataset_end_to_end(capsys, tmp_path, tiny_folder):
    out = tmp_path / "results"
    argv = [
        "bench", "--datasets", str(tiny_folder), "--policies", "oracle", "--seeds", "0",
        "--encoder", "tfidf", "--cache-dir", str(tmp_path / "cache"), "--cap", "20",
        "--workers", "1", "--out", str(out), "--no-progress",
        "--systems", "substrate", "--scenario", "rename", "drift-typo-15", "drift-cross",
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "CPU time" in printed
    report = (out / "report.md").read_text(encoding="utf-8")
    for scenario in ("rename", "drift-typo-15"):
        assert f"### {scenario}: tiny" in report
        assert (out / f"curves_{scenario}_tiny_oracle.png").exists()
    assert "drift-cross" not in report  # Banking77 only
    assert "0 + 1 op" in report  # the substrate's rename
    settings = json.loads((out / "cells" / "settings.json").read_text(encoding="utf-8"))
    assert settings["scenarios"] == ["rename", "drift-typo-15", "drift-cross"]
    header = (out / "summary.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header[0] == "scenario" and "operations_mean" in header


def test_an_unknown_scenario_fails_fast(capsys, tmp_path, tiny_folder):
    with pytest.raises(SystemExit):
        main(["bench", "--datasets", str(tiny_folder), "--scenario", "splitt",
              "--out", str(tmp_path / "o")])
    assert "'splitt'" in capsys.readouterr().err


def test_scenario_data_prepared_for_a_folder(tiny_folder, tmp_path):
    from ocrr.bench import encode_dataset

    base = encode_dataset(str(tiny_folder), "tfidf", cache_dir=tmp_path, progress=False)
    data = prepare_scenarios(
        {"tiny": base}, ["drift-typo-5", "split"], [0, 2], cap=20, encoder="tfidf",
        cache_dir=tmp_path, sources={"tiny": str(tiny_folder)},
    )
    assert set(data) == {"tiny", "drift-typo-5/tiny"}
    d, plan = scenario_inputs(data, "drift-typo-5", "tiny", 2, 20)
    assert 0 < len(plan.stream_rows) <= 24 and d.X_train.shape[0] <= 120 + 2 * 24
    assert len(plan.seed_rows) == 120 - 24
    # the perturbed texts went through the cache: preparing again encodes nothing new
    shards = sorted(tmp_path.rglob("*.npz"))
    again = prepare_scenarios(
        {"tiny": base}, ["drift-typo-5"], [0, 2], cap=20, encoder="tfidf",
        cache_dir=tmp_path, sources={"tiny": str(tiny_folder)},
    )
    assert sorted(tmp_path.rglob("*.npz")) == shards
    assert np.array_equal(again["drift-typo-5/tiny"].X_train, d.X_train)
