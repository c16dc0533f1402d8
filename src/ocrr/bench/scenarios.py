"""Scenarios: what a run fits, streams and evaluates, beyond the paper's new classes.

Each scenario turns an encoded dataset and a seed into a :class:`~ocrr.bench.protocol.Plan`
for the one stream loop of :func:`ocrr.bench.harness.run_cell`: rows to fit on, rows to
stream in order, the labels fitted, the labels users give, the novel and original
evaluation sets, and any one-step renames. ``novel`` is :func:`~ocrr.bench.protocol.make_plan`,
unchanged. Every draw comes from ``numpy.random.default_rng(seed)`` in the order
``make_plan`` uses (original cap, novel cap, stream permutation), so runs are deterministic
per seed.

- ``split``: the taxonomy is refined. The :data:`N_PAIRS` most confusable pairs of classes
  (highest cosine between training centroids, greedily, each class in one pair) are fitted
  under one coarse label ``a+b``; their training rows are then streamed under the fine
  labels. Novel = fine-label accuracy on those classes' test rows. A system with ``retire``
  retires each coarse label before the stream (one operation a pair: its examples stop
  voting), so corrections teach the fine labels without the coarse class outvoting them.
- ``merge``: the reverse. Fitted on the fine labels, the same pairs' training rows are
  streamed under ``a+b``; novel = merged-label accuracy on their test rows. A system with
  ``relabel`` merges each pair in two operations before the stream (``a -> a+b`` names the
  class, ``b -> a+b`` joins it); the others learn the merged label from corrections.
- ``rename``: one class (drawn by the seed) gets a new name, ``<old>_renamed``. A system
  with ``relabel(old, new)`` (the substrate) makes it one operation before the stream; the
  others learn it from corrections as its training rows stream under the new name.
- ``drift-cross``: the same intents phrased by other people. Fitted on all of Banking77;
  the CLINC150 queries of the intents that map one-to-one onto Banking77 intents
  (``data/banking77_clinc150_map.csv``, with the reason for each pair) are streamed under
  the Banking77 label. Novel = CLINC150 test queries of those intents, original = Banking77
  test queries. Only for ``banking77``.
- ``drift-typo-5``, ``drift-typo-15``: phrasing degraded by typos (:mod:`ocrr.bench.typo`)
  at 5 % and 15 % of characters. :data:`TYPO_STREAM` training rows drawn by the seed are
  held out of the (clean) fit and streamed perturbed; novel = perturbed test rows, original
  = the same test rows, clean. The perturbed texts are encoded through the embedding cache;
  one the encoder maps to the zero vector (TF-IDF, when every word is misspelt) is left out.

In every scenario *original* is the test rows of the classes the scenario leaves alone, at
most ``cap`` of them. ``split``, ``merge`` and ``rename`` need only vectors; the two drift
scenarios need texts or a second dataset and are prepared once, before the grid, by
:func:`prepare_scenarios`.
"""

from __future__ import annotations

import csv
import functools
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from ocrr.bench.encoded import EncodedDataset, encode_dataset
from ocrr.bench.protocol import EVAL_CAP, Plan, make_plan
from ocrr.bench.typo import perturb_all

NOVEL = "novel"
N_PAIRS = 5
TYPO_RATES = {"drift-typo-5": 0.05, "drift-typo-15": 0.15}
TYPO_STREAM = 1000
"""Training rows a drift-typo stream holds (at most a fifth of the training set)."""
CROSS_FIT, CROSS_STREAM = "banking77", "clinc150"
MAPPING_FILE = "banking77_clinc150_map.csv"

SCENARIOS = ("novel", "split", "merge", "rename", "drift-cross", *TYPO_RATES)
ALIASES: dict[str, tuple[str, ...]] = {
    "drift-typo": tuple(TYPO_RATES),
    "all": SCENARIOS,
}
DESCRIPTIONS = {
    "novel": "the paper's protocol: 10 held-out classes streamed as new classes",
    "split": f"the {N_PAIRS} most confusable pairs of classes fitted under one coarse label "
    "each, streamed under the fine labels (one retire operation a pair where a system "
    "supports it)",
    "merge": f"the {N_PAIRS} most confusable pairs fitted under their own labels, streamed "
    "under one merged label each (two relabel operations a pair where a system supports it)",
    "rename": "one class renamed: one relabel operation where a system supports it, "
    "corrections otherwise",
    "drift-cross": "fitted on Banking77, streamed CLINC150 queries of the intents both share",
    "drift-typo-5": "typos in 5 % of characters: perturbed stream, perturbed vs clean test",
    "drift-typo-15": "typos in 15 % of characters: perturbed stream, perturbed vs clean test",
}


def available_scenarios() -> list[str]:
    return [*SCENARIOS, *ALIASES]


def expand_scenarios(names: Sequence[str]) -> list[str]:
    """Scenario names with aliases expanded (``drift-typo`` = both rates, ``all`` = every
    scenario), duplicates dropped, in the given order. Unknown names raise ValueError."""
    out: list[str] = []
    for name in names:
        if name not in SCENARIOS and name not in ALIASES:
            raise ValueError(
                f"unknown scenario {name!r}; valid: {', '.join(available_scenarios())}"
            )
        for one in ALIASES.get(name, (name,)):
            if one not in out:
                out.append(one)
    return out


def applies(scenario: str, dataset: str) -> bool:
    """Whether a scenario runs on a dataset: ``drift-cross`` only on Banking77 (its fit set),
    or on its validation task ``banking77-val`` (``ocrr tune``)."""
    return scenario != "drift-cross" or dataset in (CROSS_FIT, f"{CROSS_FIT}-val")


def data_key(scenario: str, dataset: str) -> str:
    """Where a prepared scenario's data sits in the grid's data mapping."""
    return dataset if scenario == NOVEL else f"{scenario}/{dataset}"


@dataclass(frozen=True)
class ScenarioData(EncodedDataset):
    """An encoded dataset as a prepared scenario sees it (rows appended: perturbed texts,
    another dataset's queries) and the plan of each seed it was prepared for."""

    scenario: str = NOVEL
    plans: Mapping[int, Plan] = field(default_factory=dict)
    cap: int = EVAL_CAP


# -- draws shared by every scenario ------------------------------------------------------
def _draw(
    seed: int, original: np.ndarray, novel: np.ndarray, pool: np.ndarray, cap: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(original, novel, stream) drawn as make_plan draws them: caps, then the permutation."""
    if cap < 1:
        raise ValueError(f"the evaluation cap must be positive, got {cap}")
    rng = np.random.default_rng(seed)
    if len(original) > cap:
        original = original[rng.choice(len(original), cap, replace=False)]
    if len(novel) > cap:
        novel = novel[rng.choice(len(novel), cap, replace=False)]
    return original, novel, pool[rng.permutation(len(pool))]


def _fresh_label(base: str, taken: set[str]) -> str:
    label, n = base, 2
    while label in taken:
        label, n = f"{base}{n}", n + 1
    return label


# -- split and merge -----------------------------------------------------------------------
def confusable_pairs(
    X: np.ndarray, y: Sequence[str], n_pairs: int = N_PAIRS
) -> list[tuple[str, str]]:
    """The ``n_pairs`` most confusable pairs of classes, each class in at most one pair.

    Class centroids are the normalised means of the training vectors; pairs are taken
    greedily by descending centroid cosine (rounded to 1e-9, ties by label order), skipping
    a pair when either class is already taken. At least one class is always left alone.
    """
    labels = sorted(set(y))
    n = min(n_pairs, (len(labels) - 1) // 2)
    if n < 1:
        raise ValueError(f"split and merge need at least 3 classes, got {len(labels)}")
    code = {label: i for i, label in enumerate(labels)}
    sums = np.zeros((len(labels), X.shape[1]))
    np.add.at(sums, np.array([code[label] for label in y]), np.asarray(X, dtype=np.float64))
    centroids = sums / np.linalg.norm(sums, axis=1, keepdims=True)
    sims = np.round(centroids @ centroids.T, 9)
    first, second = np.triu_indices(len(labels), 1)
    order = np.lexsort((second, first, -sims[first, second]))
    pairs: list[tuple[str, str]] = []
    used: set[int] = set()
    for k in order:
        a, b = int(first[k]), int(second[k])
        if a in used or b in used:
            continue
        pairs.append((labels[a], labels[b]))
        used.update((a, b))
        if len(pairs) == n:
            break
    return pairs


_PAIRS: dict[tuple[int, int, str], list[tuple[str, str]]] = {}


def _pairs_of(data: EncodedDataset) -> list[tuple[str, str]]:
    key = (id(data.X_train), len(data.y_train), data.name)  # workers ask once per cell
    if key not in _PAIRS:
        _PAIRS[key] = confusable_pairs(data.X_train, data.y_train)
    return _PAIRS[key]


def coarse_labels(pairs: Sequence[tuple[str, str]], taken: set[str]) -> dict[str, str]:
    """Fine label -> the pair's coarse label ``a+b``."""
    coarse = {}
    for a, b in pairs:
        merged = _fresh_label(f"{a}+{b}", taken)
        coarse[a] = coarse[b] = merged
    return coarse


def _pair_plan(data: EncodedDataset, seed: int, cap: int, *, split: bool) -> Plan:
    coarse = coarse_labels(_pairs_of(data), set(data.y_train))
    in_pairs = np.array([label in coarse for label in data.y_train])
    test_in = np.array([label in coarse for label in data.y_test])
    original, novel, stream = _draw(
        seed, np.flatnonzero(~test_in), np.flatnonzero(test_in), np.flatnonzero(in_pairs), cap
    )
    y_train = np.asarray(data.y_train, dtype=object)
    y_test = np.asarray(data.y_test, dtype=object)
    everything = np.arange(len(data.y_train))
    touched = tuple(sorted(coarse))
    if split:  # fitted coarse, streamed and evaluated fine
        return Plan(
            touched, everything, stream, novel, original, scenario="split",
            fit_labels=tuple(coarse.get(label, label) for label in data.y_train),
            retirements=tuple(dict.fromkeys(coarse.values())),
        )
    return Plan(  # merge: fitted fine, streamed and evaluated coarse
        touched, everything, stream, novel, original, scenario="merge",
        stream_labels=tuple(coarse[label] for label in y_train[stream]),
        novel_labels=tuple(coarse[label] for label in y_test[novel]),
        # a system with relabel merges a pair in two operations: a -> a+b names the class,
        # b -> a+b joins it
        renames=tuple((fine, coarse[fine]) for pair in _pairs_of(data) for fine in pair),
    )


def split_plan(data: EncodedDataset, seed: int, cap: int = EVAL_CAP) -> Plan:
    return _pair_plan(data, seed, cap, split=True)


def merge_plan(data: EncodedDataset, seed: int, cap: int = EVAL_CAP) -> Plan:
    return _pair_plan(data, seed, cap, split=False)


# -- rename --------------------------------------------------------------------------------
def rename_plan(data: EncodedDataset, seed: int, cap: int = EVAL_CAP) -> Plan:
    labels = sorted(set(data.y_train))
    if len(labels) < 2:
        raise ValueError("rename needs at least 2 classes")
    old = labels[int(np.random.default_rng(seed).choice(len(labels)))]
    new = _fresh_label(f"{old}_renamed", set(labels))
    in_class = np.array([label == old for label in data.y_train])
    test_in = np.array([label == old for label in data.y_test])
    original, novel, stream = _draw(
        seed, np.flatnonzero(~test_in), np.flatnonzero(test_in), np.flatnonzero(in_class), cap
    )
    return Plan(
        (old,), np.arange(len(data.y_train)), stream, novel, original, scenario="rename",
        stream_labels=(new,) * len(stream), novel_labels=(new,) * len(novel),
        renames=((old, new),),
    )


VECTOR_SCENARIOS: dict[str, Callable[[EncodedDataset, int, int], Plan]] = {
    "split": split_plan,
    "merge": merge_plan,
    "rename": rename_plan,
}


# -- drift-cross ---------------------------------------------------------------------------
@dataclass(frozen=True)
class MappedPair:
    clinc150: str
    banking77: str
    reason: str


def cross_mapping() -> list[MappedPair]:
    """The CLINC150 -> Banking77 intent pairs of ``data/banking77_clinc150_map.csv``."""
    text = resources.files("ocrr.bench").joinpath("data", MAPPING_FILE).read_text("utf-8")
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return [MappedPair(r["clinc150"], r["banking77"], r["reason"]) for r in csv.DictReader(lines)]


def cross_data(
    fit: EncodedDataset, other: EncodedDataset, seeds: Sequence[int], cap: int = EVAL_CAP
) -> ScenarioData:
    """Banking77 (``fit``) with the mapped CLINC150 (``other``) rows appended, and plans."""
    mapping = {p.clinc150: p.banking77 for p in cross_mapping()}
    missing = [c for c in mapping if c not in set(other.y_train)]
    missing += [b for b in mapping.values() if b not in set(fit.y_train)]
    if missing:
        raise ValueError(f"drift-cross: labels {missing} are not in the datasets")
    train_rows = np.array([i for i, lab in enumerate(other.y_train) if lab in mapping], int)
    test_rows = np.array([i for i, lab in enumerate(other.y_test) if lab in mapping], int)
    n_train, n_test = len(fit.y_train), len(fit.y_test)
    texts: dict[str, tuple[str, ...] | None] = {"train_texts": None, "test_texts": None}
    if fit.texts is not None and other.texts is not None:
        (fit_train, fit_test), (other_train, other_test) = fit.texts, other.texts
        texts = {
            "train_texts": fit_train + tuple(other_train[i] for i in train_rows),
            "test_texts": fit_test + tuple(other_test[i] for i in test_rows),
        }
    plans = {}
    for seed in seeds:
        original, novel, stream = _draw(
            seed, np.arange(n_test), n_test + np.arange(len(test_rows)),
            n_train + np.arange(len(train_rows)), cap,
        )
        plans[seed] = Plan((), np.arange(n_train), stream, novel, original, "drift-cross")
    return ScenarioData(
        fit.name,
        np.concatenate([fit.X_train, other.X_train[train_rows]]),
        fit.y_train + tuple(mapping[other.y_train[i]] for i in train_rows),
        np.concatenate([fit.X_test, other.X_test[test_rows]]),
        fit.y_test + tuple(mapping[other.y_test[i]] for i in test_rows),
        **texts,
        scenario="drift-cross",
        plans=plans,
        cap=cap,
    )


# -- drift-typo ----------------------------------------------------------------------------
def typo_rows(n_train: int, n_test: int, seed: int, cap: int) -> tuple[np.ndarray, np.ndarray]:
    """(stream rows in stream order, test rows) of a drift-typo run; both rates use the same
    rows, so their results pair up."""
    rng = np.random.default_rng(seed)
    pool = rng.choice(n_train, min(TYPO_STREAM, n_train // 5), replace=False)
    test = rng.choice(n_test, cap, replace=False) if n_test > cap else np.arange(n_test)
    return pool, test


def typo_texts(
    train_texts: Sequence[str], test_texts: Sequence[str], rate: float, seed: int, cap: int
) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """(stream rows, test rows, their perturbed train texts, their perturbed test texts)."""
    pool, test = typo_rows(len(train_texts), len(test_texts), seed, cap)
    stream_texts = perturb_all([train_texts[i] for i in pool], rate, seed, stream=0, rows=pool)
    eval_texts = perturb_all([test_texts[i] for i in test], rate, seed, stream=1, rows=test)
    return pool, test, stream_texts, eval_texts


def typo_data(
    data: EncodedDataset,
    train_texts: Sequence[str],
    test_texts: Sequence[str],
    scenario: str,
    seeds: Sequence[int],
    encode: Callable[[list[str]], np.ndarray],
    cap: int = EVAL_CAP,
) -> ScenarioData:
    """``data`` with each seed's perturbed stream and test rows appended (encoded in one
    ``encode`` call, through the cache), and the plans."""
    rate = TYPO_RATES[scenario]
    if len(train_texts) != len(data.y_train) or len(test_texts) != len(data.y_test):
        raise ValueError(f"{data.name}: the texts do not match the encoded rows")
    parts = [typo_texts(train_texts, test_texts, rate, seed, cap) for seed in seeds]
    texts = [t for _, _, stream, evals in parts for t in (*stream, *evals)]
    vectors = encode(texts) if texts else np.zeros((0, data.X_train.shape[1]), np.float32)
    X_train, y_train, X_test, y_test = [data.X_train], list(data.y_train), [data.X_test], list(
        data.y_test
    )
    new_train, new_test = list(data.train_texts or ()), list(data.test_texts or ())
    n_train, n_test, at = len(data.y_train), len(data.y_test), 0
    plans = {}
    for seed, (held, test, stream_texts, eval_texts) in zip(seeds, parts, strict=True):
        stream_vecs = vectors[at : at + len(held)]
        eval_vecs = vectors[at + len(held) : at + len(held) + len(test)]
        at += len(held) + len(test)
        # a text the encoder cannot represent (all-zero: TF-IDF when every word is misspelt)
        # leaves the stream, and the novel set with its clean twin
        keep, kept = np.linalg.norm(stream_vecs, axis=1) > 0, np.linalg.norm(eval_vecs, axis=1) > 0
        pool, stream_vecs = held[keep], stream_vecs[keep]
        stream_texts = [t for t, k in zip(stream_texts, keep, strict=True) if k]
        test, eval_vecs = test[kept], eval_vecs[kept]
        eval_texts = [t for t, k in zip(eval_texts, kept, strict=True) if k]
        stream = n_train + np.arange(len(pool))
        novel = n_test + np.arange(len(test))
        n_train, n_test = n_train + len(pool), n_test + len(test)
        X_train.append(stream_vecs)
        y_train += [data.y_train[i] for i in pool]
        X_test.append(eval_vecs)
        y_test += [data.y_test[i] for i in test]
        new_train += stream_texts
        new_test += eval_texts
        fit_rows = np.setdiff1d(np.arange(len(data.y_train)), held)  # the same at every rate
        plans[seed] = Plan((), fit_rows, stream, novel, test, scenario=scenario)
    with_texts = data.texts is not None
    return ScenarioData(
        data.name,
        np.concatenate(X_train).astype(np.float32, copy=False),
        tuple(y_train),
        np.concatenate(X_test).astype(np.float32, copy=False),
        tuple(y_test),
        tuple(new_train) if with_texts else None,
        tuple(new_test) if with_texts else None,
        scenario=scenario,
        plans=plans,
        cap=cap,
    )


# -- preparing and looking up --------------------------------------------------------------
def prepare_scenarios(
    data: Mapping[str, EncodedDataset],
    scenarios: Sequence[str],
    seeds: Sequence[int],
    *,
    cap: int = EVAL_CAP,
    encoder: str = "default",
    cache_dir: str | Path | None = None,
    sources: Mapping[str, str] | None = None,
    progress: bool = False,
) -> dict[str, EncodedDataset]:
    """``data`` plus what the drift scenarios need, under :func:`data_key` names.

    ``drift-cross`` encodes CLINC150 too if ``data`` lacks it (through the cache);
    ``drift-typo-*`` perturbs texts (loaded from ``sources[name]``, the dataset argument,
    default the name) and encodes them with ``encoder`` through the cache. The other
    scenarios need nothing prepared.
    """
    from ocrr.datasets import load_dataset

    out = dict(data)
    for scenario in expand_scenarios(scenarios):
        for name, base in data.items():
            if scenario in (NOVEL, *VECTOR_SCENARIOS) or not applies(scenario, name):
                continue
            if scenario == "drift-cross":
                other = data.get(CROSS_STREAM) or encode_dataset(
                    CROSS_STREAM, encoder, cache_dir=cache_dir, progress=progress
                )
                out[data_key(scenario, name)] = cross_data(base, other, seeds, cap)
                continue
            dataset = load_dataset((sources or {}).get(name, name))
            enc = _encoder(encoder, cache_dir, dataset.train.texts)
            out[data_key(scenario, name)] = typo_data(
                base, dataset.train.texts, dataset.test.texts, scenario, seeds,
                functools.partial(enc.encode, progress=progress), cap,
            )
    return out


def _encoder(name: str, cache_dir: str | Path | None, train_texts: Sequence[str]):  # noqa: ANN202
    """The encoder ``encode_dataset`` used (a TF-IDF one fitted on the same training texts)."""
    from ocrr.encoders import get_encoder, prepare_encoder

    return prepare_encoder(get_encoder(name, cache_dir=cache_dir), train_texts)


def scenario_inputs(
    data: Mapping[str, EncodedDataset], scenario: str, dataset: str, seed: int, cap: int
) -> tuple[EncodedDataset, Plan]:
    """The encoded data and the plan of one (scenario, dataset, seed)."""
    if scenario == NOVEL:
        base = data[dataset]
        return base, make_plan(base.y_train, base.y_test, seed, cap=cap)
    if scenario in VECTOR_SCENARIOS:
        base = data[dataset]
        return base, VECTOR_SCENARIOS[scenario](base, seed, cap)
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; valid: {', '.join(SCENARIOS)}")
    prepared = data.get(data_key(scenario, dataset))
    if not isinstance(prepared, ScenarioData) or seed not in prepared.plans:
        raise ValueError(
            f"scenario {scenario!r} on {dataset!r}, seed {seed}, was not prepared: pass the "
            "grid's data through ocrr.bench.scenarios.prepare_scenarios first"
        )
    if prepared.cap != cap:
        raise ValueError(f"{scenario!r} was prepared with cap {prepared.cap}, not {cap}")
    return prepared, prepared.plans[seed]


def fit_identity(data: EncodedDataset, plan: Plan) -> str:
    """A digest of exactly what a system is fitted on (vectors, labels, order): cells with
    the same identity, system and seed can share one fit."""
    digest = hashlib.sha256(np.ascontiguousarray(data.X_train[plan.seed_rows]).tobytes())
    labels = plan.fit_labels
    if labels is None:
        labels = tuple(np.asarray(data.y_train, dtype=object)[plan.seed_rows])
    digest.update("\x00".join(labels).encode("utf-8"))
    if data.texts is not None:
        train = np.asarray(data.train_texts, dtype=object)[plan.seed_rows]
        digest.update("\x00".join(train).encode("utf-8"))
    return digest.hexdigest()
