"""``ocrr tune``: the grid it sweeps, validation runs under several policies and the split
and drift-cross scenarios (on synthetic stand-ins for the two validation tasks), and the
validation tasks themselves (a folder dataset, TF-IDF)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import make_clusters, text_rows, unit, write_csv
from ocrr.bench import EncodedDataset
from ocrr.bench.protocol import EVAL_CAP
from ocrr.bench.scenarios import (
    coarse_labels,
    confusable_pairs,
    cross_mapping,
    data_key,
    scenario_inputs,
)
from ocrr.bench.tuning import (
    HYBRID_GRID,
    VALIDATED,
    setting_name,
    tune,
    validation_split,
    with_scenarios,
    write_table,
)
from ocrr.cli.tune import parse_grid


def test_parse_grid_sweeps_any_hybrid_parameter():
    assert parse_grid([], None, None) == {k: list(v) for k, v in HYBRID_GRID.items()}
    assert parse_grid(["k=10,20", "head=False"], None, [5.0]) == {
        "temperature": [5.0], "k": [10, 20], "head": [False],
    }
    with pytest.raises(ValueError, match="bogus"):
        parse_grid(["bogus=1"], None, None)
    with pytest.raises(ValueError, match="mix must be in"):
        parse_grid(["mix=0.5,3"], None, None)
    with pytest.raises(ValueError, match="KEY=V1,V2"):
        parse_grid(["k"], None, None)


def _validation_tasks() -> dict[str, EncodedDataset]:
    """Stand-ins for banking77-val and clinc150-val: 14 classes each, four of them the
    drift-cross pairs (the CLINC150 side near, not on, its Banking77 twin)."""
    pairs = cross_mapping()
    dim = 24
    b77 = [p.banking77 for p in pairs] + [f"b{i:02d}" for i in range(14 - len(pairs))]
    c150 = [p.clinc150 for p in pairs] + [f"c{i:02d}" for i in range(14 - len(pairs))]
    centres = unit(np.random.default_rng(7).standard_normal((28, dim)))
    shifted = unit(centres[:14] + 0.5 * unit(np.random.default_rng(8).standard_normal((14, dim))))
    shifted[len(pairs):] = centres[14 + len(pairs):]
    out = {}
    for name, labels, where, seed in (("banking77-val", b77, centres[:14], 1),
                                      ("clinc150-val", c150, shifted, 3)):
        X, y, _ = make_clusters(14, 16, dim, noise=0.35, seed=seed, centroids=where)
        T, ty, _ = make_clusters(14, 5, dim, noise=0.35, seed=seed + 1, centroids=where)
        out[name] = EncodedDataset(
            name, X, tuple(labels[int(v[1:])] for v in y), T, tuple(labels[int(v[1:])] for v in ty)
        )
    return out


def test_tune_scores_every_policy_and_the_split_and_drift_cross_splits():
    scenarios = ["novel", "split", "drift-cross"]
    data = with_scenarios(_validation_tasks(), scenarios, [0], load=None)  # type: ignore[arg-type]
    assert data_key("drift-cross", "banking77-val") in data
    ranked = tune(
        data, {"mix": [0.4, 1.0]}, seeds=[0], policies=["oracle", "random10"],
        scenarios=scenarios, workers=1,
    )
    where = (("novel", "banking77-val"), ("novel", "clinc150-val"),
             ("split", "banking77-val"), ("split", "clinc150-val"),
             ("drift-cross", "banking77-val"))
    settings = [setting_name(sc, d, p) for sc, d in where for p in ("oracle", "random10")]
    assert [c.params for c in sorted(ranked, key=lambda c: c.params["mix"])] == [
        {"mix": 0.4}, {"mix": 1.0}
    ]
    for candidate in ranked:
        assert sorted(candidate.per_setting) == sorted(settings)
        means = [(n + o) / 2 for n, o in candidate.per_setting.values()]
        assert candidate.score == pytest.approx(np.mean(means))
    assert ranked[0].score >= ranked[1].score
    # fewer corrections, so the novel classes are learnt less well under random10
    best = ranked[0].per_setting
    assert best["banking77-val random10"][0] <= best["banking77-val oracle"][0]
    table = write_table(ranked)
    assert "drift-cross/banking77-val random10 novel / original" in table
    assert "split/clinc150-val oracle novel / original" in table


def test_scenarios_without_a_validation_split_are_refused():
    with pytest.raises(ValueError, match="no validation split.*split, merge, rename"):
        with_scenarios({}, ["drift-typo-5"], [0], load=None)  # type: ignore[arg-type]


def test_split_merge_rename_validation_splits_hold_no_test_text(tmp_path, cache_dir):
    """A folder dataset without a val split: the validation task is carved from train.csv,
    and each scenario's plan on it (the test scenario's own transformation) fits, streams and
    scores only training texts, never a test text."""
    folder = tmp_path / "uniq"
    folder.mkdir()
    train = [(f"{t} r{i}", y) for i, (t, y) in enumerate(text_rows(12, 10, seed=1))]
    test = [(f"{t} t{i}", y) for i, (t, y) in enumerate(text_rows(12, 4, seed=2))]
    write_csv(folder / "train.csv", train)
    write_csv(folder / "test.csv", test)
    val = validation_split(str(folder), "tfidf", cache_dir=str(cache_dir))
    assert val.train_texts is not None and val.test_texts is not None
    assert sorted(val.train_texts + val.test_texts) == sorted(t for t, _ in train)
    test_texts = {t for t, _ in test}
    data = with_scenarios({val.name: val}, list(VALIDATED[:4]), [0, 1], load=None)  # type: ignore[arg-type]
    assert list(data) == [val.name] and data[val.name] is val  # plans are drawn per cell
    pairs = confusable_pairs(val.X_train, val.y_train)
    coarse = coarse_labels(pairs, set(val.y_train))
    for scenario in ("split", "merge", "rename"):
        for seed in (0, 1):
            task, plan = scenario_inputs(data, scenario, val.name, seed, EVAL_CAP)
            assert task is val and plan.scenario == scenario
            used = [val.train_texts[i] for i in (*plan.seed_rows, *plan.stream_rows)]
            used += [val.test_texts[i] for i in (*plan.novel_rows, *plan.original_rows)]
            assert used and not test_texts.intersection(used)
            if scenario == "split":  # fitted coarse on the validation task's own pairs
                assert plan.retirements == tuple(dict.fromkeys(coarse.values()))
                assert {val.y_test[i] for i in plan.novel_rows} <= set(coarse)
