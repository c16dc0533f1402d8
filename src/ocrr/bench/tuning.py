"""Choosing a system's parameters on validation data, never on the test rows.

The benchmark's test rows must not leak into any choice, so tuning runs the unchanged OCRR
protocol on a validation split instead: CLINC150's own ``val`` split, and for datasets
without one (Banking77, user folders) a seeded tenth of each class's training rows held out
as the evaluation set, the rest as training rows. Each candidate is scored by the mean, over
settings (dataset x policy x scenario; by default the oracle policy and the ``novel``
scenario), of the mean of final novel and final original accuracy (both axes count equally:
learning new classes and keeping old ones).

Scenarios with a validation split (:data:`VALIDATED`): ``novel``; ``split``, ``merge`` and
``rename``, whose transformation (:data:`~ocrr.bench.scenarios.VECTOR_SCENARIOS`, the same
function the test scenario uses) is applied to each validation task: its confusable pairs are
drawn from the validation training rows, streamed from them, and scored on the validation
evaluation rows; and ``drift-cross`` (:func:`cross_validation_split`): fitted on Banking77's
validation training rows, streamed CLINC150's *training* queries of the shared intents,
evaluated on CLINC150's ``val`` queries of those intents (novel) and the held-out tenth of
Banking77 (original). The drift-typo scenarios have none. ``ocrr tune`` runs these and prints
the table; the hybrid rule's defaults in :class:`~ocrr.substrate.Substrate` are its winner
(see docs/results.md).

>>> from ocrr.bench.tuning import VALIDATED
>>> VALIDATED
('novel', 'split', 'merge', 'rename', 'drift-cross')
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ocrr.bench.grid import EncodedDataset, make_cells, run_grid
from ocrr.bench.harness import CellResult
from ocrr.bench.metrics import summarise
from ocrr.bench.scenarios import (
    CROSS_FIT,
    CROSS_STREAM,
    NOVEL,
    VECTOR_SCENARIOS,
    cross_data,
    data_key,
)

VALIDATION_SHARE = 0.1
VALIDATION_SEED = 12345
VALIDATED = (NOVEL, *VECTOR_SCENARIOS, "drift-cross")
"""The scenarios ``ocrr tune`` can score on validation splits."""

# the hybrid rule's search space: weight of the neighbours, the discriminant's temperature
HYBRID_GRID: dict[str, Sequence[object]] = {
    "mix": (0.4, 0.5, 0.6),
    "temperature": (3.0, 5.0, 10.0),
}


def validation_split(name: str, encoder: str = "default", *, cache_dir: str | None = None,
                     progress: bool = False) -> EncodedDataset:
    """The dataset's validation task, as an :class:`EncodedDataset` named ``NAME-val``:
    training rows and evaluation rows (with their texts) that contain no test row."""
    from ocrr.datasets import load_dataset
    from ocrr.encoders import get_encoder, prepare_encoder

    dataset = load_dataset(name)
    enc = prepare_encoder(get_encoder(encoder, cache_dir=cache_dir), dataset.train.texts)
    if "val" in dataset.extra:
        train_texts, train_labels = list(dataset.train.texts), list(dataset.train.labels)
        val = dataset.extra["val"]
        val_texts, val_labels = list(val.texts), list(val.labels)
    else:
        held = carve_validation(dataset.train.labels)
        texts, labels = dataset.train.texts, dataset.train.labels
        train_texts = [t for t, h in zip(texts, held, strict=True) if not h]
        train_labels = [y for y, h in zip(labels, held, strict=True) if not h]
        val_texts = [t for t, h in zip(texts, held, strict=True) if h]
        val_labels = [y for y, h in zip(labels, held, strict=True) if h]
    vectors = enc.encode(train_texts + val_texts, progress=progress)
    n = len(train_texts)
    return EncodedDataset(
        f"{dataset.name}-val", vectors[:n], tuple(train_labels), vectors[n:], tuple(val_labels),
        tuple(train_texts), tuple(val_texts),
    )


def validation_name(dataset: str) -> str:
    """The name :func:`validation_split` gives a dataset's validation task."""
    return f"{dataset}-val"


def cross_validation_split(
    fit: EncodedDataset, other: EncodedDataset, seeds: Sequence[int]
) -> EncodedDataset:
    """The ``drift-cross`` scenario on validation splits: ``fit`` and ``other`` are the
    validation tasks of Banking77 and CLINC150 (:func:`validation_split`), so the stream is
    CLINC150 training queries and the novel set CLINC150's ``val`` queries; no test row."""
    return cross_data(fit, other, seeds)


def carve_validation(labels: Sequence[str], share: float = VALIDATION_SHARE,
                     seed: int = VALIDATION_SEED) -> np.ndarray:
    """Boolean mask of the training rows held out for validation: ``share`` of each class
    (at least one row, and never a class's only row), drawn with a seeded generator in
    sorted-label order."""
    column = np.asarray(labels, dtype=object)
    rng = np.random.default_rng(seed)
    held = np.zeros(len(column), dtype=bool)
    for label in sorted(set(column)):
        rows = np.flatnonzero(column == label)
        take = min(max(1, int(len(rows) * share)), len(rows) - 1)
        if take > 0:
            held[rng.choice(rows, take, replace=False)] = True
    return held


@dataclass(frozen=True)
class Candidate:
    params: Mapping[str, object]
    score: float
    per_setting: Mapping[str, tuple[float, float]]
    """setting (``dataset policy``, ``scenario/dataset policy`` outside ``novel``) ->
    (final novel, final original), means over seeds."""

    @property
    def system(self) -> str:
        return system_name("substrate_plus", self.params)


def system_name(base: str, params: Mapping[str, object]) -> str:
    return f"{base}({', '.join(f'{k}={v}' for k, v in params.items())})"


def candidates(grid: Mapping[str, Sequence[object]] = HYBRID_GRID) -> list[dict[str, object]]:
    keys = list(grid)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*grid.values())]


def setting_name(scenario: str, dataset: str, policy: str) -> str:
    """How a (scenario, dataset, policy) is named in :attr:`Candidate.per_setting`."""
    return f"{data_key(scenario, dataset)} {policy}"


def with_scenarios(
    data: Mapping[str, EncodedDataset],
    scenarios: Sequence[str],
    seeds: Sequence[int],
    load: Callable[[str], EncodedDataset],
) -> dict[str, EncodedDataset]:
    """``data`` (validation tasks by name) plus what ``scenarios`` need under their
    :func:`~ocrr.bench.scenarios.data_key` names. ``split``, ``merge`` and ``rename`` need
    nothing prepared (their plans are drawn from each validation task); ``drift-cross`` needs
    Banking77's and CLINC150's validation tasks; ``load(dataset)`` gives one ``data`` lacks.
    Scenarios outside :data:`VALIDATED` have no validation split: ValueError."""
    out = dict(data)
    for scenario in scenarios:
        if scenario not in VALIDATED:
            raise ValueError(
                f"scenario {scenario!r} has no validation split; tune on: {', '.join(VALIDATED)}"
            )
        if scenario != "drift-cross":
            continue
        fit_name, other_name = validation_name(CROSS_FIT), validation_name(CROSS_STREAM)
        fit = out.get(fit_name) or load(CROSS_FIT)
        other = out.get(other_name) or load(CROSS_STREAM)
        out[data_key(scenario, fit_name)] = cross_validation_split(fit, other, seeds)
    return out


def tune(
    data: Mapping[str, EncodedDataset],
    grid: Mapping[str, Sequence[object]] = HYBRID_GRID,
    *,
    base: str = "substrate_plus",
    seeds: Sequence[int] = (0, 1, 2),
    policies: Sequence[str] = ("oracle",),
    scenarios: Sequence[str] = (NOVEL,),
    workers: int | None = None,
    on_done: Callable[[CellResult], None] | None = None,
) -> list[Candidate]:
    """Run every candidate on every validation dataset, policy and scenario; best first.

    ``data`` maps names to validation tasks; a scenario other than ``novel`` must have been
    added by :func:`with_scenarios` (``drift-cross`` runs on ``banking77-val`` only). The
    ``novel``, ``split``, ``merge`` and ``rename`` scenarios run on every plain dataset in
    ``data``."""
    options = candidates(grid)
    names = [system_name(base, params) for params in options]
    plain = [d for d in data if "/" not in d]
    cells = [
        cell
        for scenario in scenarios
        for cell in make_cells(
            plain if scenario != "drift-cross" else [validation_name(CROSS_FIT)],
            list(policies), list(seeds), names, [scenario],
        )
    ]
    results = run_grid(dict(data), cells, workers=workers, on_done=on_done)
    rows = {
        (setting_name(r["scenario"], r["dataset"], r["policy"]), r["system"]): r
        for r in summarise(results)
    }
    settings = list(dict.fromkeys(setting_name(c.scenario, c.dataset, c.policy) for c in cells))
    ranked = []
    for params, name in zip(options, names, strict=True):
        per = {
            s: (float(rows[(s, name)]["final_novel_mean"]),
                float(rows[(s, name)]["final_orig_mean"]))
            for s in settings
        }
        score = float(np.mean([(novel + orig) / 2 for novel, orig in per.values()]))
        ranked.append(Candidate(params, score, per))
    return sorted(ranked, key=lambda c: -c.score)


def write_table(ranked: Sequence[Candidate], path: Path | None = None) -> str:
    settings = list(ranked[0].per_setting) if ranked else []
    header = "| params | score | " + " | ".join(f"{d} novel / original" for d in settings)
    lines = [header + " |", "|---|---|" + "---|" * len(settings)]
    for c in ranked:
        cells = " | ".join(f"{n:.3f} / {o:.3f}" for n, o in c.per_setting.values())
        params = ", ".join(f"{k}={v}" for k, v in c.params.items())
        lines.append(f"| {params} | {c.score:.4f} | {cells} |")
    text = "\n".join(lines) + "\n"
    if path is not None:
        path.write_text(text, encoding="utf-8")
    return text
