"""Correction policies: after a wrong prediction, does the user correct it?

Random policies use common random numbers: one uniform draw per stream item from a
generator seeded by (seed, policy) alone, identical for every system, so systems are
compared on the same luck and every run is reproducible (the reference harness salted its
seed with Python's per-process ``hash()``, which is not).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Policy:
    name: str
    probability: float
    """Chance that a wrong prediction gets corrected."""

    def draws(self, seed: int, n: int) -> np.ndarray:
        """The n uniform numbers this (seed, policy) uses; item i is corrected when wrong
        and ``draws[i] < probability``."""
        rng = np.random.default_rng([seed, zlib.crc32(self.name.encode("utf-8"))])
        return rng.random(n)

    def decisions(self, seed: int, n: int) -> np.ndarray:
        """Whether a wrong prediction at stream position i would be corrected."""
        return self.draws(seed, n) < self.probability


POLICIES: dict[str, Policy] = {
    "oracle": Policy("oracle", 1.0),
    "random50": Policy("random50", 0.5),
    "random10": Policy("random10", 0.1),
}


def available_policies() -> list[str]:
    return list(POLICIES)


def get_policy(name: str) -> Policy:
    try:
        return POLICIES[name]
    except KeyError:
        raise ValueError(
            f"unknown policy {name!r}; valid: {', '.join(available_policies())}"
        ) from None
