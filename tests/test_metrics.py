"""Metric arithmetic on hand-made checkpoints."""

from __future__ import annotations

import math

import pytest

from ocrr.bench import THRESHOLDS, CellResult, Checkpoint, corrections_to_reach, novel_auc
from ocrr.bench import summarise as summarise_results


def curve(*points: tuple[int, int, float], original: float = 0.9) -> list[Checkpoint]:
    """Checkpoints from (step, corrections, acc_novel)."""
    return [Checkpoint(s, c, a, original, 0.01 * s, 0.001 * c) for s, c, a in points]


def result(
    novel: list[tuple[int, int, float]],
    *,
    seed: int = 0,
    system: str = "substrate",
    policy: str = "oracle",
    dataset: str = "d",
    original: float = 0.9,
    **fields,
) -> CellResult:
    checkpoints = curve(*novel, original=original)
    return CellResult(dataset, policy, seed, system, checkpoints, **fields)


def test_corrections_to_reach_takes_the_first_checkpoint_at_or_above():
    points = curve((0, 0, 0.0), (50, 40, 0.3), (100, 70, 0.7), (150, 80, 0.65), (200, 90, 0.9))
    assert corrections_to_reach(points, 10) == 40
    assert corrections_to_reach(points, 30) == 40  # inclusive: 0.3 >= 30 %
    assert corrections_to_reach(points, 50) == 70
    assert corrections_to_reach(points, 70) == 70  # even though it later dips
    assert corrections_to_reach(points, 90) == 90
    assert corrections_to_reach(points, 95) is None
    assert corrections_to_reach(curve((0, 0, 0.5)), 50) == 0


def test_novel_auc_is_the_trapezoid_over_stream_position():
    assert novel_auc(curve((0, 0, 0.0), (50, 5, 0.5), (100, 9, 1.0))) == pytest.approx(0.5)
    # an uneven last step: (0 + 1) / 2 * 50 + 1 * 20 over 70
    assert novel_auc(curve((0, 0, 0.0), (50, 5, 1.0), (70, 5, 1.0))) == pytest.approx(45 / 70)
    assert novel_auc(curve((0, 0, 0.25), (10, 0, 0.25))) == pytest.approx(0.25)
    assert novel_auc(curve((0, 0, 0.4))) == pytest.approx(0.4)  # one checkpoint
    assert math.isnan(novel_auc([]))


def test_summarise_means_and_population_std():
    runs = [
        result([(0, 0, 0.0), (50, 30, 0.2)], seed=0, original=0.8, n_correct=30, n_predict=50),
        result([(0, 0, 0.0), (50, 20, 0.4)], seed=1, original=0.9, n_correct=20, n_predict=50),
        result([(0, 0, 0.0), (50, 10, 0.9)], seed=2, original=1.0, n_correct=10, n_predict=50),
    ]
    (row,) = summarise_results(runs)
    assert (row["dataset"], row["policy"], row["system"], row["n_seeds"]) == (
        "d",
        "oracle",
        "substrate",
        3,
    )
    assert row["final_novel_mean"] == pytest.approx(0.5)
    # population std: sqrt(((0.2-0.5)^2 + (0.4-0.5)^2 + (0.9-0.5)^2) / 3), not / 2
    assert row["final_novel_std"] == pytest.approx(math.sqrt(0.26 / 3))
    assert row["final_orig_mean"] == pytest.approx(0.9)
    assert row["final_orig_std"] == pytest.approx(math.sqrt(0.02 / 3))
    assert row["corrections_mean"] == pytest.approx(20)
    # to 30 %: seed 1 (20) and seed 2 (10) reached it, seed 0 did not
    assert row["to_30_mean"] == pytest.approx(15) and row["to_30_n_reached"] == 2
    assert row["to_10_mean"] == pytest.approx(20) and row["to_10_n_reached"] == 3
    assert row["to_90_mean"] == pytest.approx(10) and row["to_90_n_reached"] == 1
    assert row["auc_novel_mean"] == pytest.approx((0.1 + 0.2 + 0.45) / 3)
    # timings: correct_s at the end is 0.001 * corrections, predict_s 0.01 * step
    assert row["correct_us"] == pytest.approx(1000.0)
    assert row["predict_us"] == pytest.approx(1e6 * 0.5 / 50)


def test_summarise_never_reached_is_none_with_zero_seeds():
    (row,) = summarise_results([result([(0, 0, 0.0), (50, 50, 0.05)], seed=s) for s in (0, 1)])
    for t in (10, 30, 50, 70, 90):
        assert row[f"to_{t}_mean"] is None and row[f"to_{t}_n_reached"] == 0
    assert set(THRESHOLDS) == {10, 30, 50, 70, 90}


def test_summarise_groups_and_sorts_and_averages_storage():
    runs = [
        result([(0, 0, 0.0)], system="zeta", seed=0, storage_bytes=100, storage_entries=10),
        result([(0, 0, 0.0)], system="alpha", seed=0, storage_bytes=7),
        result([(0, 0, 0.0)], system="zeta", seed=1, storage_bytes=300, storage_entries=30),
        result([(0, 0, 0.0)], system="alpha", policy="random10", seed=0),
        result([(0, 0, 0.0)], system="zeta", dataset="a", seed=0),
    ]
    rows = summarise_results(runs)
    keys = [(r["dataset"], r["policy"], r["system"]) for r in rows]
    assert keys == [
        ("a", "oracle", "zeta"),
        ("d", "oracle", "alpha"),
        ("d", "oracle", "zeta"),
        ("d", "random10", "alpha"),
    ]
    zeta = rows[2]
    assert zeta["n_seeds"] == 2
    assert zeta["storage_bytes"] == pytest.approx(200) and zeta["storage_entries"] == 20
    assert zeta["final_novel_std"] == 0.0


def test_no_corrections_means_zero_correct_latency():
    r = result([(0, 0, 0.0), (50, 0, 0.0)], n_predict=50, n_correct=0)
    assert r.correct_us == 0.0 and r.predict_us == pytest.approx(1e6 * 0.5 / 50)
    assert r.final.step == 50
