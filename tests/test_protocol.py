"""The protocol's draws, exactly as docs/protocol.md states them."""

from __future__ import annotations

import numpy as np
import pytest

from ocrr.bench import EVAL_CAP, N_HELD_OUT, make_plan
from ocrr.datasets import load_dataset


def synthetic_labels(seed: int, n_classes: int = 25) -> tuple[list[str], list[str]]:
    """Uneven class sizes, rows in a shuffled file order; names that sort differently from
    their creation order, so "sorted labels" matters."""
    rng = np.random.default_rng(seed)
    names = [f"{chr(ord('z') - i % 26)}_{i}" for i in range(n_classes)]
    train = [name for name in names for _ in range(int(rng.integers(3, 12)))]
    test = [name for name in names for _ in range(int(rng.integers(20, 40)))]
    rng.shuffle(train)
    rng.shuffle(test)
    return train, test


def documented_plan(train: list[str], test: list[str], seed: int, cap: int):
    """docs/protocol.md, step by step."""
    labels = sorted(set(train))
    held = {labels[i] for i in np.random.default_rng(seed).choice(len(labels), 10, replace=False)}
    seed_set = [i for i, label in enumerate(train) if label not in held]
    pool = [i for i, label in enumerate(train) if label in held]
    original = [i for i, label in enumerate(test) if label not in held]
    novel = [i for i, label in enumerate(test) if label in held]
    rng = np.random.default_rng(seed)
    if len(original) > cap:
        original = [original[i] for i in rng.choice(len(original), cap, replace=False)]
    if len(novel) > cap:
        novel = [novel[i] for i in rng.choice(len(novel), cap, replace=False)]
    stream = [pool[i] for i in rng.permutation(len(pool))]
    return held, seed_set, stream, novel, original


@pytest.mark.parametrize("seed", [0, 1, 2, 7])
@pytest.mark.parametrize("cap", [400, 100, 60])
def test_plan_follows_the_documented_draws(seed: int, cap: int):
    train, test = synthetic_labels(seed)
    held, seed_set, stream, novel, original = documented_plan(train, test, seed, cap)
    plan = make_plan(train, test, seed, cap=cap)
    assert plan.held_out == tuple(sorted(held))
    assert plan.seed_rows.tolist() == seed_set
    assert plan.stream_rows.tolist() == stream
    assert plan.novel_rows.tolist() == novel
    assert plan.original_rows.tolist() == original


def test_the_cap_draws_really_happen_in_the_cases_above():
    train, test = synthetic_labels(0)
    plan = make_plan(train, test, 0, cap=60)
    assert len(plan.original_rows) == 60 and len(plan.novel_rows) == 60
    plan = make_plan(train, test, 0, cap=10_000)
    assert len(plan.original_rows) + len(plan.novel_rows) == len(test)


@pytest.mark.parametrize("seed", range(6))
def test_sets_are_disjoint_and_complete(seed: int):
    train, test = synthetic_labels(seed + 100)
    plan = make_plan(train, test, seed, cap=50)
    held = set(plan.held_out)
    assert len(held) == N_HELD_OUT
    seed_rows, stream = set(plan.seed_rows.tolist()), set(plan.stream_rows.tolist())
    assert len(seed_rows) == len(plan.seed_rows) and len(stream) == len(plan.stream_rows)
    assert not seed_rows & stream
    assert seed_rows | stream == set(range(len(train)))
    assert all(train[i] in held for i in stream)
    assert all(train[i] not in held for i in seed_rows)
    assert plan.seed_rows.tolist() == sorted(seed_rows)  # file order
    novel, original = plan.novel_rows.tolist(), plan.original_rows.tolist()
    assert len(set(novel)) == len(novel) <= 50 and len(set(original)) == len(original) <= 50
    assert not set(novel) & set(original)
    assert all(test[i] in held for i in novel)
    assert all(test[i] not in held for i in original)


def test_plan_is_deterministic_and_seed_dependent():
    train, test = synthetic_labels(3)
    a, b = make_plan(train, test, 5), make_plan(train, test, 5)
    assert a.held_out == b.held_out
    assert (a.stream_rows == b.stream_rows).all() and (a.novel_rows == b.novel_rows).all()
    held_sets = {make_plan(train, test, s).held_out for s in range(8)}
    assert len(held_sets) > 1


def test_small_test_sets_keep_file_order():
    train, test = synthetic_labels(4)
    plan = make_plan(train, test, 0, cap=10_000)
    assert plan.novel_rows.tolist() == sorted(plan.novel_rows.tolist())
    assert plan.original_rows.tolist() == sorted(plan.original_rows.tolist())


def test_invalid_plans_are_refused():
    labels = [f"c{i}" for i in range(10)]
    with pytest.raises(ValueError, match="hold out"):
        make_plan(labels, labels, 0)  # 10 classes: nothing left to know
    with pytest.raises(ValueError, match="cap"):
        make_plan(labels * 2 + ["x"], labels, 0, cap=0)
    plan = make_plan([f"c{i}" for i in range(5)], ["c0"], 0, n_held_out=2)
    assert len(plan.held_out) == 2


def test_banking77_and_clinc150_plans_match_the_documented_sizes():
    """docs/protocol.md: Banking77 400 novel rows, CLINC150 300, so no novel draw."""
    for name, novel_size, classes in (("banking77", 400, 77), ("clinc150", 300, 150)):
        data = load_dataset(name)
        plan = make_plan(data.train.labels, data.test.labels, 0)
        assert len(data.classes) == classes
        assert len(plan.novel_rows) == novel_size
        assert plan.novel_rows.tolist() == sorted(plan.novel_rows.tolist())
        assert len(plan.original_rows) == EVAL_CAP
        assert len(plan.seed_rows) + len(plan.stream_rows) == len(data.train)
        held = set(plan.held_out)
        assert {data.train.labels[i] for i in plan.stream_rows} == held
