"""Results on disk: runs.csv, summary.csv, report.md and recovery-curve PNGs."""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ocrr.bench.harness import CellResult
from ocrr.bench.metrics import SUMMARY_COLUMNS

RUNS_COLUMNS = [
    "dataset",
    "policy",
    "seed",
    "system",
    "step",
    "corrections",
    "acc_novel",
    "acc_original",
    "predict_s",
    "correct_s",
    "scenario",
]


def _where(scenario: object, dataset: object) -> str:
    """A run's place in file names and headings: the dataset, prefixed by any scenario
    other than the paper's ``novel``."""
    return str(dataset) if scenario in (None, "novel") else f"{scenario}_{dataset}"


def write_runs_csv(results: Sequence[CellResult], path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(RUNS_COLUMNS)
        for r in results:
            for c in r.checkpoints:
                writer.writerow(
                    [
                        r.dataset,
                        r.policy,
                        r.seed,
                        r.system,
                        c.step,
                        c.corrections,
                        f"{c.acc_novel:.6f}",
                        f"{c.acc_original:.6f}",
                        f"{c.predict_s:.6f}",
                        f"{c.correct_s:.6f}",
                        r.scenario,
                    ]
                )


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return value


def write_summary_csv(rows: Sequence[dict[str, Any]], path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=SUMMARY_COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(row[k]) for k in SUMMARY_COLUMNS})


def _human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def _to(row: dict[str, Any], t: int) -> str:
    mean, reached = row[f"to_{t}_mean"], row[f"to_{t}_n_reached"]
    if mean is None:
        return "never"
    return f"{mean:.0f} ({reached}/{row['n_seeds']})"


def paper_figures() -> dict[tuple[str, str, str], tuple[float, float]]:
    """The paper's published (novel, original) finals, keyed by (dataset, policy, system).

    The paper used the bge-large encoder, so these are context, not a target.
    """
    from importlib import resources

    text = resources.files("ocrr.bench").joinpath("data", "paper_bge_large.csv").read_text()
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    figures = {}
    for row in csv.DictReader(lines):
        key = (row["dataset"], row["policy"], row["system"])
        figures[key] = (float(row["paper_novel"]), float(row["paper_original"]))
    return figures


def summary_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """One table per (dataset, policy), systems as rows, with the paper's figures beside."""
    paper = paper_figures()
    by_table: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        scenario = str(row.get("scenario", "novel"))
        by_table[(scenario, str(row["dataset"]), str(row["policy"]))].append(row)
    out = []
    header = (
        "| system | final novel | final original | to 50 % | to 70 % | to 90 % | AUC novel "
        "| corrections | storage | correct µs | predict µs | paper (bge-large) |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    for (scenario, dataset, policy), table in by_table.items():
        where = dataset if scenario == "novel" else f"{scenario}: {dataset}"
        out.append(f"### {where} — {policy}\n\n{header}")
        for r in table:
            key = (dataset, policy, str(r["system"]))
            published = paper.get(key) if scenario == "novel" else None
            paper_cell = f"{published[0]:.3f} / {published[1]:.3f}" if published else "—"
            out.append(
                f"| {r['system']} | {r['final_novel_mean']:.3f} ± {r['final_novel_std']:.3f} "
                f"| {r['final_orig_mean']:.3f} ± {r['final_orig_std']:.3f} "
                f"| {_to(r, 50)} | {_to(r, 70)} | {_to(r, 90)} | {r['auc_novel_mean']:.3f} "
                f"| {r['corrections_mean']:.0f} | {_human_bytes(float(r['storage_bytes']))} "
                f"| {r['correct_us']:.1f} | {r['predict_us']:.1f} | {paper_cell} |\n"
            )
        out.append("\n")
    return "".join(out)


def write_report(
    rows: Sequence[dict[str, Any]], figures: Sequence[Path], path: Path, *, context: str
) -> None:
    parts = [
        "# OCRR benchmark report\n\n",
        context,
        "\n\nFinal accuracies are mean ± population std over seeds; *to N %* is the mean "
        "number of corrections at the first checkpoint with novel accuracy ≥ N % over the "
        "seeds that reached it (reached/seeds in brackets); AUC is the area under novel "
        "accuracy versus stream position, scaled to [0, 1]; storage is everything the "
        "system keeps at the end, parameters and buffers together (the substrate's ledger "
        "with its hashes; a head's weights plus any Fisher, anchor or teacher copy; replay "
        "memories, datastores and class statistics).\n\n",
        summary_markdown(rows),
        "## Recovery curves\n\n",
        *[f"![{f.stem}]({f.name})\n\n" for f in figures],
    ]
    path.write_text("".join(parts), encoding="utf-8")


def _mean_curve(
    runs: Sequence[CellResult], attribute: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and std over seeds of accuracy versus corrections, on a shared correction grid.

    Each seed's curve is a step function of its corrections; a seed whose stream ended
    with fewer corrections keeps its final accuracy from there on (it learns nothing more),
    so the mean does not jump as seeds run out.
    """
    grid = np.arange(max(r.final.corrections for r in runs) + 1)
    curves = np.empty((len(runs), len(grid)))
    for i, run in enumerate(runs):
        x = np.array([c.corrections for c in run.checkpoints])
        y = np.array([getattr(c, attribute) for c in run.checkpoints])
        curves[i] = y[np.searchsorted(x, grid, side="right") - 1]  # latest checkpoint <= g
    return grid, curves.mean(axis=0), curves.std(axis=0)


def _styles(systems: Iterable[str]) -> dict[str, dict[str, object]]:
    """A distinct (colour, line style) per system, the same in every figure of a run."""
    import matplotlib

    colours = matplotlib.colormaps["tab10"].colors  # type: ignore[attr-defined]  # tab10 is a ListedColormap
    dashes = ("-", "--", ":", "-.")
    return {
        name: {"color": colours[i % 10], "linestyle": dashes[(i // 10) % len(dashes)]}
        for i, name in enumerate(sorted(systems))
    }


def plot_curves(results: Sequence[CellResult], out_dir: Path) -> list[Path]:
    """One PNG per (dataset, policy): novel and original accuracy versus corrections."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups: dict[tuple[str, str], dict[str, list[CellResult]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for r in results:
        groups[(_where(r.scenario, r.dataset), r.policy)][r.system].append(r)
    styles = _styles({r.system for r in results})
    many = len(styles) > 10
    paths = []
    for (dataset, policy), by_system in groups.items():
        fig, axes = plt.subplots(1, 2, figsize=(14 if many else 12, 4.5), sharey=True)
        for system, runs in by_system.items():
            for ax, attribute in zip(axes, ("acc_novel", "acc_original"), strict=True):
                x, mean, std = _mean_curve(runs, attribute)
                (line,) = ax.plot(x, mean, label=system, linewidth=1.6, **styles[system])
                ax.fill_between(x, mean - std, mean + std, alpha=0.18, color=line.get_color())
        for ax, title in zip(axes, ("novel classes", "original classes"), strict=True):
            ax.set_title(f"{dataset}, {policy}: {title}")
            ax.set_xlabel("corrections")
            ax.set_ylim(-0.02, 1.02)
            ax.grid(alpha=0.3)
        axes[0].set_ylabel("accuracy (mean ± std over seeds)")
        if many:  # a legend inside would hide the curves
            handles, labels = axes[1].get_legend_handles_labels()
            fig.legend(handles, labels, loc="center right", fontsize=7)
            fig.tight_layout(rect=(0, 0, 0.84, 1))
        else:
            axes[1].legend(loc="lower right", fontsize=8)
            fig.tight_layout()
        path = out_dir / f"curves_{dataset}_{policy}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def _scatter_by_policy(
    rows: Sequence[dict[str, Any]],
    out_dir: Path,
    *,
    stem: str,
    x_key: str,
    x_label: str,
    y_key: str,
    y_label: str,
    log_x: bool = False,
) -> list[Path]:
    """One PNG per dataset, one panel per policy, one labelled point per system."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_dataset: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for row in rows:
        by_dataset[_where(row.get("scenario"), row["dataset"])][str(row["policy"])].append(row)
    styles = _styles({str(row["system"]) for row in rows})
    paths = []
    for dataset, by_policy in by_dataset.items():
        fig, axes = plt.subplots(1, len(by_policy), figsize=(6 * len(by_policy), 5), squeeze=False)
        for ax, (policy, points) in zip(axes[0], by_policy.items(), strict=True):
            for row in points:
                x, y = max(float(row[x_key]), 1.0), float(row[y_key])
                ax.scatter(x, y, s=28, color=styles[str(row["system"])]["color"])
                ax.annotate(
                    str(row["system"]),
                    (x, y),
                    fontsize=7,
                    xytext=(3, 3),
                    textcoords="offset points",
                )
            if log_x:
                ax.set_xscale("log")
            ax.set_title(f"{dataset}, {policy}")
            ax.set_xlabel(x_label)
            ax.set_ylabel(y_label)
            ax.grid(alpha=0.3)
        fig.tight_layout()
        path = out_dir / f"{stem}_{dataset}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def plot_pareto(rows: Sequence[dict[str, Any]], out_dir: Path) -> list[Path]:
    """Storage (log bytes) against final novel accuracy: what each system pays to recover."""
    return _scatter_by_policy(
        rows,
        out_dir,
        stem="pareto_storage",
        x_key="storage_bytes",
        x_label="storage at the end (bytes, log scale)",
        y_key="final_novel_mean",
        y_label="final novel accuracy",
        log_x=True,
    )


def plot_tradeoff(rows: Sequence[dict[str, Any]], out_dir: Path) -> list[Path]:
    """Final novel against final original accuracy: learning without forgetting is top right."""
    return _scatter_by_policy(
        rows,
        out_dir,
        stem="novel_vs_original",
        x_key="final_orig_mean",
        x_label="final original accuracy",
        y_key="final_novel_mean",
        y_label="final novel accuracy",
    )
