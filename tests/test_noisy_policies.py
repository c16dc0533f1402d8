"""Noisy policies: corrections as under oracle, a seeded share of them with a wrong label."""

from __future__ import annotations

import numpy as np

from ocrr.bench import get_policy, make_plan, run_cell
from ocrr.systems import make_system

CLASSES = [f"c{i}" for i in range(40)]


def test_noisy_policies_correct_every_wrong_prediction():
    for name in ("noisy10", "noisy30"):
        policy = get_policy(name)
        assert policy.decisions(0, 500).all()


def test_wrong_labels_are_wrong_seeded_and_at_the_stated_rate():
    truth = [CLASSES[i % 40] for i in range(4000)]
    for name, rate in (("noisy10", 0.1), ("noisy30", 0.3)):
        policy = get_policy(name)
        given = policy.given_labels(3, truth, CLASSES)
        assert given == policy.given_labels(3, truth, CLASSES)  # deterministic
        assert given != policy.given_labels(4, truth, CLASSES)  # but seed-dependent
        flipped = [g != t for g, t in zip(given, truth, strict=True)]
        assert abs(np.mean(flipped) - rate) < 0.03
        assert set(given) <= set(CLASSES)
        # a flipped label is drawn uniformly from the other classes
        counts = np.bincount([CLASSES.index(g) for g, f in zip(given, flipped, strict=True)
                              if f], minlength=40)
        assert counts.min() > 0


def test_oracle_and_random_policies_give_the_true_label():
    truth = [CLASSES[i % 40] for i in range(100)]
    for name in ("oracle", "random50", "random10"):
        assert get_policy(name).given_labels(0, truth, CLASSES) == truth


def test_the_harness_counts_the_wrong_labels_it_gave(encoded):
    data = encoded
    plan = make_plan(data.y_train, data.y_test, 0)
    clean = run_cell(make_system("substrate"), data.X_train, data.y_train, data.X_test,
                     data.y_test, plan, get_policy("oracle"), 0)
    noisy = run_cell(make_system("substrate"), data.X_train, data.y_train, data.X_test,
                     data.y_test, plan, get_policy("noisy30"), 0)
    assert clean.wrong_labels == 0
    assert 0 < noisy.wrong_labels < noisy.n_correct
