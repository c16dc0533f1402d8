"""A fixed-size store of labelled vectors and the rule that decides what it forgets.

Every bounded system here (the bounded substrates, GDumb, A-GEM's and ER's replay memories)
keeps at most ``budget`` examples. Which ones is the only thing that differs, so it is one
parameter, ``policy``:

- ``"reservoir"``: Vitter's Algorithm R, a uniform sample of everything offered so far. Once
  full, the n-th item offered is kept with probability budget / n, replacing a random slot.
- ``"fifo"``: the most recent ``budget`` items; the oldest is evicted.
- ``"balanced"``: GDumb's greedy class-balanced rule (Prabhu et al. 2020). Once full, an item
  is kept only if its class holds fewer items than the largest class, and then a random item
  of the largest class makes room for it.

Labels are integer codes (the owner keeps the label table). Each slot also records the item's
insertion number, so owners can break ties by recency as the substrate does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EVICTION_POLICIES = ("reservoir", "fifo", "balanced")


@dataclass(frozen=True)
class Offer:
    """What :meth:`BoundedMemory.offer` did with one item."""

    slot: int | None
    """Where the item now lives, or None if it was not kept."""
    evicted: tuple[np.ndarray, int] | None = None
    """(vector, label code) of the item it replaced, if any."""


class BoundedMemory:
    """At most ``budget`` (vector, label code) pairs under an eviction ``policy``.

    Deterministic for a given ``seed`` (the reservoir and balanced rules draw from it).
    """

    def __init__(self, budget: int, policy: str = "reservoir", *, seed: int = 0) -> None:
        if budget < 1:
            raise ValueError(f"budget must be at least 1, got {budget}")
        if policy not in EVICTION_POLICIES:
            raise ValueError(
                f"unknown eviction policy {policy!r}; valid: {', '.join(EVICTION_POLICIES)}"
            )
        self.budget = budget
        self.policy = policy
        self._rng = np.random.default_rng(seed)
        self._vectors: np.ndarray | None = None
        self._codes = np.zeros(budget, dtype=np.int64)
        self._seqs = np.zeros(budget, dtype=np.int64)
        self._size = 0
        self.n_offered = 0
        # which slots hold each class code (the balanced rule evicts from the largest)
        self._class_slots: dict[int, list[int]] = {}

    def __len__(self) -> int:
        return self._size

    @property
    def vectors(self) -> np.ndarray:
        """(len, d) view of the stored vectors, in slot order."""
        if self._vectors is None:
            return np.zeros((0, 0), dtype=np.float32)
        return self._vectors[: self._size]

    @property
    def dim(self) -> int | None:
        """The width of the stored vectors; None before the first item."""
        return None if self._vectors is None else self._vectors.shape[1]

    @property
    def codes(self) -> np.ndarray:
        return self._codes[: self._size]

    @property
    def seqs(self) -> np.ndarray:
        """Insertion number of each stored item (0 for the first item ever offered)."""
        return self._seqs[: self._size]

    @property
    def nbytes(self) -> int:
        """Vectors, label codes and insertion numbers of the items held."""
        dim = 0 if self._vectors is None else self._vectors.shape[1]
        return self._size * (4 * dim + self._codes.itemsize + self._seqs.itemsize)

    def class_counts(self) -> dict[int, int]:
        """Items held per label code."""
        return {code: len(slots) for code, slots in self._class_slots.items()}

    def offer(self, vector: np.ndarray, code: int) -> Offer:
        """Offer one item; the policy decides whether and where it is kept."""
        seq = self.n_offered
        self.n_offered += 1
        if self._vectors is None:
            self._vectors = np.zeros((self.budget, len(vector)), dtype=np.float32)
        if self._size < self.budget:
            slot = self._size
            self._size += 1
            self._place(slot, vector, code, seq)
            return Offer(slot)
        victim = self._victim(code, seq)
        if victim is None:
            return Offer(None)
        slot = victim
        old_code = int(self._codes[slot])
        evicted = (self._vectors[slot].copy(), old_code)
        members = self._class_slots[old_code]
        members.remove(slot)
        if not members:
            del self._class_slots[old_code]
        self._place(slot, vector, code, seq)
        return Offer(slot, evicted)

    def _victim(self, code: int, seq: int) -> int | None:
        """The slot the new item replaces, or None to drop the new item."""
        if self.policy == "fifo":
            return seq % self.budget  # slots fill in order, so this is the oldest
        if self.policy == "reservoir":
            j = int(self._rng.integers(0, seq + 1))
            return j if j < self.budget else None
        largest = max(len(slots) for slots in self._class_slots.values())
        if len(self._class_slots.get(code, ())) >= largest:
            return None
        # the largest classes, lowest code first, so the draw is reproducible
        candidates = sorted(c for c, s in self._class_slots.items() if len(s) == largest)
        victim_class = candidates[int(self._rng.integers(len(candidates)))]
        slots = self._class_slots[victim_class]
        return slots[int(self._rng.integers(len(slots)))]

    def _place(self, slot: int, vector: np.ndarray, code: int, seq: int) -> None:
        assert self._vectors is not None
        self._vectors[slot] = vector
        self._codes[slot] = code
        self._seqs[slot] = seq
        self._class_slots.setdefault(code, []).append(slot)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Up to ``n`` distinct slots drawn uniformly (for replay batches)."""
        return rng.choice(self._size, size=min(n, self._size), replace=False)
