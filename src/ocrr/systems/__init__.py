"""Systems the benchmark compares, by name. Each name maps to a factory ``(seed) -> System``."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from ocrr.substrate import SMALL, SPARSE, HybridVote, Substrate
from ocrr.systems.base import Frozen, System, storage_of
from ocrr.systems.bounded import BoundedSubstrate
from ocrr.systems.closed_form import RandomFeatureLDA, RandomProjectionRidge
from ocrr.systems.continual import AGEM, EWC, ExperienceReplay, LwF
from ocrr.systems.contract import CHECKS, ContractViolation, check_system
from ocrr.systems.fecam import FeCAM
from ocrr.systems.gdumb import GDumb
from ocrr.systems.knn_lm import KNNLM
from ocrr.systems.linear import SoftmaxHead
from ocrr.systems.memory import EVICTION_POLICIES, BoundedMemory
from ocrr.systems.prototypes import ClassStatistics, NearestClassMean, StreamingLDA
from ocrr.systems.river_logreg import RiverLogReg

SystemFactory = Callable[[int], System]

# the closed-form baselines' registered parameters (sources in docs/results.md)
KLDA_PARAMS: dict[str, object] = {"dim": 1024, "gamma": 0.25, "shrinkage": 1e-4}
RANDUMB_PARAMS: dict[str, object] = {"dim": 1024, "gamma": "scale", "shrinkage": "oas"}
RANPAC_PARAMS: dict[str, object] = {"dim": 1024, "ridge": "select"}
FECAM_PARAMS: dict[str, object] = {"prior": 100.0}

_REGISTRY: dict[str, SystemFactory] = {
    # the paper's rule: k=5, margin band 0.05, ties by count, max similarity, recency
    "substrate": lambda seed: Substrate(k=5, margin=0.05, vote="band"),
    # OCRR's recommended classifier (the library's default Substrate): the neighbours'
    # distribution mixed with a ledger-derived streaming-LDA posterior
    "substrate_plus": lambda seed: Substrate(),
    # the hybrid rule with the earlier sparse-correction setting (class-balanced vote and
    # debiased discriminant over every class, agreeing corrections decide):
    # docs/results.md, "Sparse corrections"
    "substrate_sparse": lambda seed: Substrate(vote=HybridVote(**SPARSE)),
    # the same options acting only on classes of fewer than 16 examples (dense_at)
    "substrate_small": lambda seed: Substrate(vote=HybridVote(**SMALL)),
    # the paper's vote-rule ablations: nearest neighbour only, similarity-weighted vote
    # with no band, band count without tie-breakers, band without recency
    "substrate_k1": lambda seed: Substrate(k=1, vote="band"),
    "substrate_sumsim": lambda seed: Substrate(vote="sumsim"),
    "substrate_count_only": lambda seed: Substrate(vote="band_count_only"),
    "substrate_no_recency": lambda seed: Substrate(vote="band_no_recency"),
    # the same retrieval and vote over the seed set only
    "static_knn": lambda seed: Frozen(Substrate(k=5, margin=0.05, vote="band")),
    # a softmax head over the known classes, never updated
    "static_linear": lambda seed: Frozen(SoftmaxHead(seed=seed)),
    # the same head, one SGD step (lr 0.05) per correction, new classes get new rows
    "online_linear": lambda seed: SoftmaxHead(lr=0.05, seed=seed),
    # -- the paper's continual-learning baselines: the same head and step, one strategy each
    # pull towards the seed weights, weighted by the diagonal Fisher of 2000 seed rows
    "ewc": lambda seed: SoftmaxHead(seed=seed, strategy=EWC(lam=1000.0, seed=seed)),
    # project the step off a 64-row batch from a 1000-row reservoir of seed rows
    "a_gem": lambda seed: SoftmaxHead(seed=seed, strategy=AGEM(1000, 64, seed=seed)),
    # distil a frozen copy of the seed head on each correction (T = 2, lambda = 1)
    "lwf": lambda seed: SoftmaxHead(seed=seed, strategy=LwF(lam=1.0, temperature=2.0)),
    # frozen head mixed half and half with a kNN distribution over a growing datastore
    "knn_lm": lambda seed: KNNLM(k=5, lam=0.5, tau=0.1, seed=seed),
    # the river library's one-vs-rest logistic regression, learn_one per correction, run by
    # its numpy twin (ocrr.systems.river_twin: river's numbers, bit for bit)
    "river_logreg": lambda seed: RiverLogReg(lr=0.01, subsample=3000, seed=seed),
    # -- what a reviewer adds for a frozen-encoder stream
    # cosine to running class means
    "ncm": lambda seed: NearestClassMean(),
    # streaming LDA: running class means and a shared shrunk covariance (Hayes & Kanan 2020)
    "slda": lambda seed: StreamingLDA(shrinkage=1e-4),
    # class-balanced greedy memory of 1000, LDA refit from the memory (Prabhu et al. 2020)
    "gdumb": lambda seed: GDumb(budget=1000, seed=seed),
    # the head plus the gradient of 64 examples replayed from a 1000-example reservoir
    "er_reservoir": lambda seed: SoftmaxHead(
        seed=seed, strategy=ExperienceReplay(1000, 64, seed=seed)
    ),
    # -- closed-form learners over the frozen encoder (docs/results.md, "Closed-form
    # frozen-encoder baselines"); 1024 random features each, the seed seeds them
    # KLDA (Momeni et al. 2025): LDA over random Fourier features, gamma 0.25 on validation
    "klda": lambda seed: RandomFeatureLDA(**KLDA_PARAMS, seed=seed),  # type: ignore[arg-type]
    # RanDumb (Prabhu et al. 2024): RFF at gamma="scale", streaming LDA with OAS shrinkage
    "randumb": lambda seed: RandomFeatureLDA(**RANDUMB_PARAMS, seed=seed),  # type: ignore[arg-type]
    # RanPAC (McDonnell et al. 2023): random ReLU projection, ridge head, RanPAC's lambda
    "ranpac": lambda seed: RandomProjectionRidge(**RANPAC_PARAMS, seed=seed),  # type: ignore[arg-type]
    # FeCAM (Goswami et al. 2023): per-class Mahalanobis, shrunk towards the shared covariance
    # by 100 pseudo-rows (the best of 1-1000 on the validation splits)
    "fecam": lambda seed: FeCAM(**FECAM_PARAMS),  # type: ignore[arg-type]
}

# the substrate under a storage budget; seed rows pass through the same eviction:
# bounded_reservoir_N (uniform sample of all writes), bounded_fifo_N (the latest N writes),
# bounded_balanced_N (class-balanced, GDumb's rule)
def _bounded(budget: int, policy: str) -> Callable[[int], System]:
    return lambda seed: BoundedSubstrate(budget, policy, seed=seed)


for _policy in ("reservoir", "fifo", "balanced"):
    for _budget in (100, 500, 1000, 5000):
        _REGISTRY[f"bounded_{_policy}_{_budget}"] = _bounded(_budget, _policy)

DEFAULT_SYSTEMS = ("substrate", "substrate_plus", "static_knn", "static_linear", "online_linear")

# Systems that also take keyword parameters by name, e.g. "substrate_plus(mix=0.5)": how the
# tuning procedure (ocrr tune) and users try variants without registering each one.
_TUNABLE: dict[str, Callable[..., System]] = {
    "substrate": lambda seed, **params: Substrate(**{"vote": "band", **params}),
    "substrate_plus": lambda seed, **params: Substrate(**params),
    # "river_logreg(impl=river)": river's own classes, the reference the default numpy twin
    # is tested against (same numbers, ~30x the time)
    "river_logreg": lambda seed, **params: RiverLogReg(
        **{"lr": 0.01, "subsample": 3000, "seed": seed, **params}
    ),
    # the closed-form baselines, e.g. "klda(gamma=2.0)", "fecam(prior=100)"
    "klda": lambda seed, **params: RandomFeatureLDA(
        **{**KLDA_PARAMS, **params}, seed=seed
    ),
    "randumb": lambda seed, **params: RandomFeatureLDA(
        **{**RANDUMB_PARAMS, **params}, seed=seed
    ),
    "ranpac": lambda seed, **params: RandomProjectionRidge(
        **{**RANPAC_PARAMS, **params}, seed=seed
    ),
    "fecam": lambda seed, **params: FeCAM(**{**FECAM_PARAMS, **params}),
}


def _lora(seed: int, **params: object) -> System:
    from ocrr.systems.lora import LoRAClassifier  # torch, transformers, peft: only now

    # a text system: its inputs are texts, where the System protocol types vectors
    return cast(System, LoRAClassifier(seed=seed, **params))  # type: ignore[arg-type]


# Systems that read texts, not cached vectors, and need an optional extra: selectable by name
# but not in available_systems() (what every install runs on vectors); see --systems all.
# lora: LoRA fine-tuning of a transformer, one SGD step per correction (pip install
# "ocrr[lora]"); "lora(model=NAME, ...)" takes LoRAClassifier's keywords (--lora-model NAME)
TEXT_SYSTEMS: dict[str, SystemFactory] = {"lora": _lora}
_TUNABLE["lora"] = _lora


def parse_value(text: str) -> object:
    """A parameter value written in a system name: an int, a float, ``True`` / ``False``,
    or the text itself."""
    if text in ("True", "False"):
        return text == "True"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_system(name: str) -> tuple[str, dict[str, object]]:
    """``"base(key=value, ...)"`` -> (base, params); a plain name has no params."""
    if "(" not in name:
        return name, {}
    base, _, rest = name.partition("(")
    if not rest.endswith(")"):
        raise ValueError(f"system {name!r}: expected NAME(key=value, ...)")
    params: dict[str, object] = {}
    for part in filter(None, (p.strip() for p in rest[:-1].split(","))):
        key, eq, value = part.partition("=")
        if not eq or not key.strip().isidentifier():
            raise ValueError(f"system {name!r}: {part!r} is not key=value")
        params[key.strip()] = parse_value(value.strip())
    return base.strip(), params


def available_systems(*, text: bool = False) -> list[str]:
    """The registered vector systems; with ``text``, the text systems (``lora``) too."""
    return sorted(set(_REGISTRY) | (set(TEXT_SYSTEMS) if text else set()))


def register(name: str, factory: SystemFactory) -> None:
    """Make a system of your own selectable by name (``ocrr bench --systems NAME``)."""
    _REGISTRY[name] = factory


def make_system(name: str, seed: int = 0) -> System:
    """A fresh system by registered name, or ``base(key=value, ...)`` for a tunable one
    (``substrate``, ``substrate_plus``: the keys are :class:`~ocrr.substrate.Substrate`'s;
    ``river_logreg``: :class:`RiverLogReg`'s, e.g. ``river_logreg(impl=river)``)."""
    base, params = parse_system(name)
    if params:
        if base not in _TUNABLE:
            raise ValueError(
                f"system {base!r} takes no parameters; tunable: {', '.join(sorted(_TUNABLE))}"
            )
        try:
            return _TUNABLE[base](seed, **params)
        except TypeError as err:
            raise ValueError(f"system {name!r}: {err}") from None
    factory = _REGISTRY.get(name) or TEXT_SYSTEMS.get(name)
    if factory is None:
        raise ValueError(
            f"unknown system {name!r}; valid: {', '.join(available_systems(text=True))}"
        )
    return factory(seed)


def check_system_name(name: str) -> None:
    """Raise ValueError naming the problem if ``name`` does not make a system (a registered
    name, or a tunable one with valid parameters). The contract itself is checked by
    :func:`check_system`."""
    make_system(name)


__all__ = [
    "AGEM",
    "DEFAULT_SYSTEMS",
    "TEXT_SYSTEMS",
    "CHECKS",
    "ContractViolation",
    "check_system",
    "check_system_name",
    "parse_system",
    "parse_value",
    "EVICTION_POLICIES",
    "EWC",
    "FeCAM",
    "KNNLM",
    "BoundedMemory",
    "BoundedSubstrate",
    "ClassStatistics",
    "ExperienceReplay",
    "Frozen",
    "GDumb",
    "LwF",
    "NearestClassMean",
    "RandomFeatureLDA",
    "RandomProjectionRidge",
    "RiverLogReg",
    "SoftmaxHead",
    "StreamingLDA",
    "System",
    "available_systems",
    "make_system",
    "register",
    "storage_of",
]
