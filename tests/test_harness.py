"""One benchmark run: checkpoints, static floors, and the substrate learning novel classes."""

from __future__ import annotations

import os

import numpy as np
import pytest

from ocrr.bench import get_policy, make_plan, run_cell
from ocrr.systems import DEFAULT_SYSTEMS, make_system


def run(encoded, system: str, policy: str = "oracle", seed: int = 0, **kw):
    plan = make_plan(encoded.y_train, encoded.y_test, seed)
    result = run_cell(
        make_system(system, seed),
        encoded.X_train,
        encoded.y_train,
        encoded.X_test,
        encoded.y_test,
        plan,
        get_policy(policy),
        seed,
        names=(encoded.name, system),
        **kw,
    )
    return plan, result


def test_default_systems_are_the_papers_four_and_the_recommended_one():
    assert set(DEFAULT_SYSTEMS) == {
        "substrate", "substrate_plus", "static_knn", "static_linear", "online_linear"
    }


@pytest.mark.parametrize("every", [50, 30])
def test_checkpoints_at_step_0_every_n_and_the_end(encoded, every: int):
    plan, result = run(encoded, "substrate", checkpoint_every=every)
    n = len(plan.stream_rows)
    assert n == 200
    expected = [0, *range(every, n + 1, every)]
    if expected[-1] != n:
        expected.append(n)
    assert [c.step for c in result.checkpoints] == expected
    assert result.final.step == n == result.n_predict
    corrections = [c.corrections for c in result.checkpoints]
    assert corrections == sorted(corrections) and corrections[0] == 0
    assert result.final.corrections == result.n_correct <= n
    assert (result.dataset, result.policy, result.seed, result.system) == (
        "synth",
        "oracle",
        0,
        "substrate",
    )
    times = [c.predict_s for c in result.checkpoints]
    assert times == sorted(times) and result.final.correct_s >= 0
    # CPU time is measured beside wall time: positive, and one process cannot use more
    # than its cores for longer than the wall clock ran
    assert 0 < result.cpu_s <= result.wall_s * (os.cpu_count() or 1) + 0.05


@pytest.mark.parametrize("system", ["static_knn", "static_linear"])
@pytest.mark.parametrize("policy", ["oracle", "random50"])
def test_static_systems_score_zero_on_novel_classes(encoded, system: str, policy: str):
    _, result = run(encoded, system, policy)
    assert all(c.acc_novel == 0.0 for c in result.checkpoints)
    originals = {c.acc_original for c in result.checkpoints}
    assert len(originals) == 1  # frozen: nothing changes
    assert originals.pop() > 0.9  # the synthetic classes are easy
    assert result.n_correct > 0  # they were corrected, and ignored it


def test_substrate_under_oracle_learns_the_novel_classes(encoded):
    plan, result = run(encoded, "substrate")
    first, last = result.checkpoints[0], result.final
    assert first.acc_novel == 0.0  # it has never seen the held-out classes
    assert last.acc_novel >= 0.9
    assert last.acc_original >= 0.9 and last.acc_original >= first.acc_original - 0.05
    # the ledger holds the seed set plus one entry per correction
    assert result.storage_entries == len(plan.seed_rows) + result.n_correct
    assert result.storage_bytes > result.storage_entries * encoded.X_train.shape[1] * 4
    # far fewer corrections than items: it learned each class from a few corrections
    assert 10 <= result.n_correct < len(plan.stream_rows) / 2


def test_substrate_learns_less_with_fewer_corrections(encoded):
    _, oracle = run(encoded, "substrate", "oracle")
    _, rare = run(encoded, "substrate", "random10")
    assert rare.n_correct < oracle.n_correct
    assert rare.final.acc_novel <= oracle.final.acc_novel


def test_online_linear_learns_something_under_oracle(encoded):
    _, result = run(encoded, "online_linear")
    assert result.checkpoints[0].acc_novel == 0.0
    assert result.final.acc_novel > 0.0
    assert result.storage_bytes > 0 and result.storage_entries == 0


def test_runs_are_reproducible(encoded):
    for system in ("substrate", "online_linear"):
        a = run(encoded, system, "random50", seed=3)[1]
        b = run(encoded, system, "random50", seed=3)[1]
        strip = [(c.step, c.corrections, c.acc_novel, c.acc_original) for c in a.checkpoints]
        assert strip == [
            (c.step, c.corrections, c.acc_novel, c.acc_original) for c in b.checkpoints
        ]


def test_accuracy_is_measured_on_the_plans_sets(encoded):
    """At step 0 the static kNN's original accuracy equals a direct evaluation."""
    plan, result = run(encoded, "static_knn")
    system = make_system("static_knn")
    y_train = np.asarray(encoded.y_train, dtype=object)
    system.fit(encoded.X_train[plan.seed_rows], list(y_train[plan.seed_rows]))
    predictions = system.predict_many(encoded.X_test[plan.original_rows])
    truth = [encoded.y_test[i] for i in plan.original_rows]
    direct = np.mean([p == t for p, t in zip(predictions, truth, strict=True)])
    assert result.checkpoints[0].acc_original == pytest.approx(direct)
