"""Per-scenario tables: every system's novel and original accuracy side by side per policy,
and the corrections (or operations) it needed."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from ocrr.bench.scenarios import DESCRIPTIONS

RECOMMENDED = "substrate_plus"
"""OCRR's recommended classifier (the library's default ``Substrate()``)."""


def _tables(rows: Sequence[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    tables: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        tables[(str(row.get("scenario", "novel")), str(row["dataset"]))].append(row)
    return tables


def _actions(row: dict[str, Any]) -> str:
    corrections, operations = float(row["corrections_mean"]), float(row["operations_mean"])
    if operations:
        return f"{corrections:.0f} + {operations:.0f} op"
    return f"{corrections:.0f}"


def scenario_table(
    rows: Sequence[dict[str, Any]], policies: Sequence[str] = ("oracle", "random10")
) -> str:
    """One markdown table of one (scenario, dataset): a row per system, sorted by the first
    policy's final novel accuracy; per policy the final novel and original accuracy (mean ±
    std over seeds) and the user's actions (corrections, + operations such as a relabel)."""
    by_system: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for row in rows:
        by_system[str(row["system"])][str(row["policy"])] = row
    present = [p for p in policies if any(p in v for v in by_system.values())]
    head = "| system | " + " | ".join(
        f"{p} novel | {p} original | {p} corrections" for p in present
    )
    lines = [head + " |", "|---" * (1 + 3 * len(present)) + "|"]

    def first_novel(item: tuple[str, dict[str, dict[str, Any]]]) -> tuple[float, str]:
        row = item[1].get(present[0]) if present else None
        return (-float(row["final_novel_mean"]) if row else 1.0, item[0])

    for system, cells in sorted(by_system.items(), key=first_novel):
        parts = []
        for policy in present:
            r = cells.get(policy)
            if r is None:
                parts += ["—", "—", "—"]
                continue
            parts += [
                f"{r['final_novel_mean']:.3f} ± {r['final_novel_std']:.3f}",
                f"{r['final_orig_mean']:.3f} ± {r['final_orig_std']:.3f}",
                _actions(r),
            ]
        name = f"**{system}**" if system == RECOMMENDED else system
        lines.append(f"| {name} | " + " | ".join(parts) + " |")
    return "\n".join(lines) + "\n"


def scenario_markdown(
    rows: Sequence[dict[str, Any]], policies: Sequence[str] = ("oracle", "random10")
) -> str:
    """A section per (scenario, dataset) other than ``novel``: what it models, the table."""
    out = []
    for (scenario, dataset), table in sorted(_tables(rows).items()):
        if scenario == "novel":
            continue
        where = "banking77 → clinc150" if scenario == "drift-cross" else dataset
        out.append(f"### {scenario}: {where}\n\n{DESCRIPTIONS.get(scenario, '')}.\n\n")
        out.append(scenario_table(table, policies) + "\n")
    return "".join(out)


def recommended_verdicts(
    rows: Sequence[dict[str, Any]],
    novel_rows: Sequence[dict[str, Any]] = (),
    *,
    system: str = RECOMMENDED,
    within: float = 0.02,
    original_within: float = 0.01,
    keeping: float = 0.05,
) -> list[str]:
    """For each (scenario, dataset, policy): is ``system`` best on final novel accuracy, or
    within ``within`` of the best, and (given the ``novel``-scenario rows) is its original
    accuracy within ``original_within`` of its figure there? One line each. The best is
    named twice: over every system, and over those that keep the original classes (final
    original accuracy within ``keeping`` of the best original accuracy in the cell), since a
    system that forgets everything else can learn the streamed classes fastest."""
    novel_orig = {
        (str(r["dataset"]), str(r["policy"])): float(r["final_orig_mean"])
        for r in novel_rows
        if r["system"] == system and r.get("scenario", "novel") == "novel"
    }
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        key = (str(row.get("scenario", "novel")), str(row["dataset"]), str(row["policy"]))
        groups[key].append(row)
    lines = []
    for (scenario, dataset, policy), group in sorted(groups.items()):
        mine = [r for r in group if r["system"] == system]
        if not mine:
            continue
        top_original = max(float(r["final_orig_mean"]) for r in group)
        keepers = [r for r in group if float(r["final_orig_mean"]) >= top_original - keeping]
        mine_novel = float(mine[0]["final_novel_mean"])
        line = f"{scenario} {dataset} {policy}: {system} novel {mine_novel:.3f}"
        for among, name in ((group, "best"), (keepers, "best keeping original")):
            best = max(among, key=lambda r: float(r["final_novel_mean"]))
            gap = float(best["final_novel_mean"]) - mine_novel
            verdict = "best" if gap <= 0 else ("within 2 points" if gap <= within else "BEHIND")
            line += (
                f"; {name} {best['system']} {float(best['final_novel_mean']):.3f} "
                f"({verdict}, gap {max(gap, 0):.3f})"
            )
        reference = novel_orig.get((dataset, policy))
        if reference is not None:
            drop = reference - float(mine[0]["final_orig_mean"])
            kept = "kept" if drop <= original_within else "LOST"
            line += (
                f"; original {float(mine[0]['final_orig_mean']):.3f} vs {reference:.3f} in "
                f"novel ({kept}, {drop:+.3f})"
            )
        lines.append(line)
    return lines
