"""Correction policies: deterministic per (seed, policy), common to every system."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from ocrr.bench import available_policies, get_policy, make_plan, run_cell
from ocrr.substrate import Substrate
from ocrr.systems import SoftmaxHead

PAPER_POLICIES = {"oracle": 1.0, "random50": 0.5, "random10": 0.1}


class Spy:
    """Wraps a system; records each stream prediction and which items were corrected."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.predictions: list[str | None] = []
        self.corrected: list[tuple[int, str]] = []

    def fit(self, X, y):
        self.inner.fit(X, y)
        return self

    def predict_one(self, x):
        self.predictions.append(self.inner.predict_one(x))
        return self.predictions[-1]

    def predict_many(self, X):
        return self.inner.predict_many(X)

    def correct(self, x, y):
        self.corrected.append((len(self.predictions) - 1, y))
        self.inner.correct(x, y)


class Constant:
    """Always answers the same label: wrong on every stream item."""

    def fit(self, X, y):
        return self

    def predict_one(self, x):
        return "never-a-label"

    def predict_many(self, X):
        return ["never-a-label"] * len(X)

    def correct(self, x, y):
        pass


def test_paper_policies_exist_with_their_probabilities():
    for name, probability in PAPER_POLICIES.items():
        assert name in available_policies()
        assert get_policy(name).probability == probability
        assert get_policy(name).name == name


def test_unknown_policy_lists_the_valid_ones():
    with pytest.raises(ValueError) as err:
        get_policy("random90")
    for name in PAPER_POLICIES:
        assert name in str(err.value)


@pytest.mark.parametrize("name", list(PAPER_POLICIES))
def test_decisions_are_deterministic_per_seed_and_policy(name: str):
    policy = get_policy(name)
    a = policy.decisions(3, 2000)
    assert a.dtype == bool and a.shape == (2000,)
    np.testing.assert_array_equal(a, policy.decisions(3, 2000))
    np.testing.assert_array_equal(policy.draws(3, 2000), policy.draws(3, 2000))
    # a longer stream extends the same numbers
    np.testing.assert_array_equal(policy.draws(3, 500), policy.draws(3, 2000)[:500])
    rate = a.mean()
    assert abs(rate - policy.probability) < 0.04


def test_oracle_decides_to_correct_everything():
    assert get_policy("oracle").decisions(0, 1000).all()


def test_draws_differ_across_seeds_and_policies():
    r50, r10 = get_policy("random50"), get_policy("random10")
    assert not np.array_equal(r50.draws(0, 100), r50.draws(1, 100))
    assert not np.array_equal(r50.draws(0, 100), r10.draws(0, 100))
    assert not np.array_equal(r50.decisions(0, 100), r50.decisions(1, 100))


def test_draws_do_not_depend_on_the_process_hash_seed():
    """The reference harness salted with ``hash()``; ours must reproduce across processes."""
    code = (
        "import json; from ocrr.bench.policies import get_policy; "
        "print(json.dumps([get_policy(p).draws(4, 20).tolist() "
        "for p in ('random50', 'random10')]))"
    )
    outputs = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        outputs.append(json.loads(done.stdout))
    assert outputs[0] == outputs[1]
    here = [get_policy(p).draws(4, 20).tolist() for p in ("random50", "random10")]
    assert outputs[0] == here


def _run(system, encoded, policy: str, seed: int = 0, name: str = "x"):
    plan = make_plan(encoded.y_train, encoded.y_test, seed)
    spy = Spy(system)
    result = run_cell(
        spy,
        encoded.X_train,
        encoded.y_train,
        encoded.X_test,
        encoded.y_test,
        plan,
        get_policy(policy),
        seed,
        names=("synth", name),
    )
    truth = [encoded.y_train[r] for r in plan.stream_rows]
    return spy, result, truth


@pytest.mark.parametrize("policy", ["random50", "random10", "oracle"])
def test_a_wrong_prediction_is_corrected_exactly_when_the_shared_draw_says(encoded, policy):
    decisions = get_policy(policy).decisions(0, 200)
    assert decisions.any()
    for system in (Substrate(), SoftmaxHead(seed=0, epochs=3), Constant()):
        spy, result, truth = _run(system, encoded, policy, name=type(system).__name__)
        assert len(spy.predictions) == len(truth) == 200
        wrong = [p != t for p, t in zip(spy.predictions, truth, strict=True)]
        expected = [i for i in range(200) if wrong[i] and decisions[i]]
        assert [i for i, _ in spy.corrected] == expected
        assert all(label == truth[i] for i, label in spy.corrected)  # the true label
        assert result.n_correct == result.final.corrections == len(expected)


def test_same_numbers_for_every_system(encoded):
    """Two always-wrong systems under another name are corrected at the same items."""
    runs = [_run(Constant(), encoded, "random50", seed=1, name=n)[0] for n in ("a", "zz")]
    positions = [[i for i, _ in spy.corrected] for spy in runs]
    assert positions[0] == positions[1]
    assert positions[0] == np.flatnonzero(get_policy("random50").decisions(1, 200)).tolist()
    assert 50 < len(positions[0]) < 150


def test_oracle_corrects_every_wrong_prediction_and_no_right_one(encoded):
    spy, result, truth = _run(Substrate(), encoded, "oracle")
    wrong = [i for i, (p, t) in enumerate(zip(spy.predictions, truth, strict=True)) if p != t]
    assert [i for i, _ in spy.corrected] == wrong
    assert 0 < len(wrong) < 200  # it learned: later items were right
    spy, _, _ = _run(Constant(), encoded, "oracle")
    assert [i for i, _ in spy.corrected] == list(range(200))
