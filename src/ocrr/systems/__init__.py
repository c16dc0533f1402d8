"""Systems the benchmark compares, by name. Each name maps to a factory ``(seed) -> System``."""

from __future__ import annotations

from collections.abc import Callable

from ocrr.substrate import Substrate
from ocrr.systems.base import Frozen, System, storage_of
from ocrr.systems.linear import SoftmaxHead

SystemFactory = Callable[[int], System]

_REGISTRY: dict[str, SystemFactory] = {
    # the paper's rule: k=5, margin band 0.05, ties by count, max similarity, recency
    "substrate": lambda seed: Substrate(k=5, margin=0.05),
    # the same retrieval and vote over the seed set only
    "static_knn": lambda seed: Frozen(Substrate(k=5, margin=0.05)),
    # a softmax head over the known classes, never updated
    "static_linear": lambda seed: Frozen(SoftmaxHead(seed=seed)),
    # the same head, one SGD step (lr 0.05) per correction, new classes get new rows
    "online_linear": lambda seed: SoftmaxHead(lr=0.05, seed=seed),
}

DEFAULT_SYSTEMS = ("substrate", "static_knn", "static_linear", "online_linear")


def available_systems() -> list[str]:
    return sorted(_REGISTRY)


def register(name: str, factory: SystemFactory) -> None:
    """Make a system of your own selectable by name (``ocrr bench --systems NAME``)."""
    _REGISTRY[name] = factory


def make_system(name: str, seed: int = 0) -> System:
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown system {name!r}; valid: {', '.join(available_systems())}"
        ) from None
    return factory(seed)


__all__ = [
    "DEFAULT_SYSTEMS",
    "Frozen",
    "SoftmaxHead",
    "System",
    "available_systems",
    "make_system",
    "register",
    "storage_of",
]
