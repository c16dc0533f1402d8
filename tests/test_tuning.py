"""``ocrr tune``: the grid it sweeps, and validation runs under several policies and the
drift-cross scenario (on synthetic stand-ins for the two validation tasks)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import make_clusters, unit
from ocrr.bench import EncodedDataset
from ocrr.bench.scenarios import cross_mapping, data_key
from ocrr.bench.tuning import HYBRID_GRID, setting_name, tune, with_scenarios, write_table
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


def test_tune_scores_every_policy_and_the_drift_cross_split():
    data = with_scenarios(_validation_tasks(), ["novel", "drift-cross"], [0], load=None)  # type: ignore[arg-type]
    assert data_key("drift-cross", "banking77-val") in data
    ranked = tune(
        data, {"mix": [0.4, 1.0]}, seeds=[0], policies=["oracle", "random10"],
        scenarios=["novel", "drift-cross"], workers=1,
    )
    where = (("novel", "banking77-val"), ("novel", "clinc150-val"),
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


def test_scenarios_without_a_validation_split_are_refused():
    with pytest.raises(ValueError, match="no validation split"):
        with_scenarios({}, ["split"], [0], load=None)  # type: ignore[arg-type]
