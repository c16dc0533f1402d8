"""Correction policies: after a wrong prediction, does the user correct it?

Random policies use common random numbers: one uniform draw per stream item from a
generator seeded by (seed, policy) alone, identical for every system, so systems are
compared on the same luck and every run is reproducible (the reference harness salted its
seed with Python's per-process ``hash()``, which is not).

Noisy policies model users who mislabel: every wrong prediction is corrected, as under
oracle, but with probability ``noise`` the label given is a uniformly random wrong class.
Their draws come from a second stream of the same generator, so ``decisions`` is unchanged.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Policy:
    name: str
    probability: float
    """Chance that a wrong prediction gets corrected."""
    noise: float = 0.0
    """Chance that a correction carries a uniformly random wrong label."""

    def _rng(self, seed: int) -> np.random.Generator:
        return np.random.default_rng([seed, zlib.crc32(self.name.encode("utf-8"))])

    def draws(self, seed: int, n: int) -> np.ndarray:
        """The n uniform numbers this (seed, policy) uses; item i is corrected when wrong
        and ``draws[i] < probability``."""
        return self._rng(seed).random(n)

    def given_labels(
        self, seed: int, true_labels: Sequence[str], classes: Sequence[str]
    ) -> list[str]:
        """The label the user gives for each stream item if asked to correct it.

        Without noise, the true label. With noise, item i gets a wrong label when its
        noise draw is below ``noise``: ``classes`` minus the true label, sorted, indexed by
        a second uniform draw. The draws follow ``draws``'s in the same generator.
        """
        if self.noise == 0.0:
            return list(true_labels)
        n = len(true_labels)
        rng = self._rng(seed)
        rng.random(n)  # the correction draws
        flip, pick = rng.random(n), rng.random(n)
        ordered = sorted(set(classes))
        given = []
        for label, f, u in zip(true_labels, flip, pick, strict=True):
            if f < self.noise:
                others = [c for c in ordered if c != label]
                given.append(others[int(u * len(others))])
            else:
                given.append(label)
        return given

    def decisions(self, seed: int, n: int) -> np.ndarray:
        """Whether a wrong prediction at stream position i would be corrected."""
        return self.draws(seed, n) < self.probability


POLICIES: dict[str, Policy] = {
    "oracle": Policy("oracle", 1.0),
    "random50": Policy("random50", 0.5),
    "random10": Policy("random10", 0.1),
    "noisy10": Policy("noisy10", 1.0, noise=0.1),
    "noisy30": Policy("noisy30", 1.0, noise=0.3),
}
DEFAULT_POLICIES = ("oracle", "random50", "random10")
"""The paper's three; the noisy ones are asked for by name."""


def available_policies() -> list[str]:
    return list(POLICIES)


def get_policy(name: str) -> Policy:
    try:
        return POLICIES[name]
    except KeyError:
        raise ValueError(
            f"unknown policy {name!r}; valid: {', '.join(available_policies())}"
        ) from None
