"""From checkpoints to the paper's numbers: finals, corrections-to-N %, area under the curve."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ocrr.bench.harness import CellResult, Checkpoint

THRESHOLDS = (10, 30, 50, 70, 90)


def corrections_to_reach(checkpoints: Sequence[Checkpoint], percent: float) -> int | None:
    """Corrections so far at the first checkpoint with novel accuracy >= percent; None if
    never reached."""
    for point in checkpoints:
        if point.acc_novel >= percent / 100.0:
            return point.corrections
    return None


def novel_auc(checkpoints: Sequence[Checkpoint]) -> float:
    """Area under novel accuracy versus stream position, scaled to [0, 1].

    Measured against stream position rather than corrections so systems that were corrected
    different numbers of times are compared over the same items seen.
    """
    steps = np.array([c.step for c in checkpoints], dtype=float)
    acc = np.array([c.acc_novel for c in checkpoints], dtype=float)
    if len(steps) < 2 or steps[-1] == 0:
        return float(acc[-1]) if len(acc) else float("nan")
    return float(np.sum((acc[1:] + acc[:-1]) / 2 * np.diff(steps)) / steps[-1])


SUMMARY_COLUMNS = [
    "scenario",
    "dataset",
    "policy",
    "system",
    "n_seeds",
    "final_novel_mean",
    "final_novel_std",
    "final_orig_mean",
    "final_orig_std",
    *[f"to_{t}_{s}" for t in THRESHOLDS for s in ("mean", "n_reached")],
    "auc_novel_mean",
    "corrections_mean",
    "operations_mean",
    "storage_entries",
    "storage_bytes",
    "correct_us",
    "predict_us",
    "fit_s",
    "wall_s",
]


def summarise(results: Iterable[CellResult]) -> list[dict[str, Any]]:
    """One row per (scenario, dataset, policy, system): means and population std over seeds."""
    groups: dict[tuple[str, str, str, str], list[CellResult]] = defaultdict(list)
    for result in results:
        groups[(result.scenario, result.dataset, result.policy, result.system)].append(result)
    rows = []
    for (scenario, dataset, policy, system), runs in sorted(groups.items()):
        novel = np.array([r.final.acc_novel for r in runs])
        orig = np.array([r.final.acc_original for r in runs])
        row: dict[str, object] = {
            "scenario": scenario,
            "dataset": dataset,
            "policy": policy,
            "system": system,
            "n_seeds": len(runs),
            "final_novel_mean": novel.mean(),
            "final_novel_std": novel.std(),
            "final_orig_mean": orig.mean(),
            "final_orig_std": orig.std(),
        }
        for t in THRESHOLDS:
            reached = [
                c for c in (corrections_to_reach(r.checkpoints, t) for r in runs) if c is not None
            ]
            row[f"to_{t}_mean"] = float(np.mean(reached)) if reached else None
            row[f"to_{t}_n_reached"] = len(reached)
        row.update(
            auc_novel_mean=float(np.mean([novel_auc(r.checkpoints) for r in runs])),
            corrections_mean=float(np.mean([r.final.corrections for r in runs])),
            operations_mean=float(np.mean([r.operations for r in runs])),
            storage_entries=float(np.mean([r.storage_entries for r in runs])),
            storage_bytes=float(np.mean([r.storage_bytes for r in runs])),
            correct_us=float(np.mean([r.correct_us for r in runs])),
            predict_us=float(np.mean([r.predict_us for r in runs])),
            fit_s=float(np.mean([r.fit_s for r in runs])),
            wall_s=float(np.sum([r.wall_s for r in runs])),
        )
        rows.append(row)
    return rows
