"""The scale study's figure: accuracy, recall@5 and latency against size, and accuracy
against the synthetic noise sigma."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ocrr.bench.scale.rows import ScaleRow
from ocrr.index import IndexChoice


def _default_settings(rows: Sequence[ScaleRow]) -> list[ScaleRow]:
    """The rows of one search setting per approximate kind: the library's default
    (``ivf nprobe=4``, ``hnsw ef=64``) when measured, else the first measured."""
    defaults = {"ivf": f"ivf nprobe={IndexChoice.nprobe}",
                "hnsw": f"hnsw ef={IndexChoice.ef_search}"}
    labels: dict[str, list[str]] = {}
    for row in rows:
        labels.setdefault(row.index.split()[0], []).append(row.index)
    keep = {defaults.get(kind) if defaults.get(kind) in found else found[0]
            for kind, found in labels.items()}
    return [row for row in rows if row.index in keep]


def plot_scale(rows: Sequence[ScaleRow], path: Path) -> Path:
    """Accuracy, recall, latency against size, and accuracy against σ, for one search
    setting per approximate kind (see ``_default_settings``; every setting is in the CSV)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, grid = plt.subplots(2, 2, figsize=(12, 8.5))
    axes = grid.ravel()
    rows = _default_settings(rows)
    series: dict[tuple[str, float | None, str], list[ScaleRow]] = {}
    for row in rows:
        series.setdefault((row.variant, row.sigma, row.index), []).append(row)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    exact_drawn: set[tuple[str, float | None]] = set()
    for i, ((variant, sigma, index), group) in enumerate(sorted(series.items(), key=str)):
        group = sorted(group, key=lambda r: r.size)
        size = [r.size for r in group]
        name = variant if sigma is None else f"{variant} σ={sigma}"
        colour = colours[i % len(colours)]
        if (variant, sigma) not in exact_drawn:
            exact_drawn.add((variant, sigma))
            axes[0].plot(size, [r.exact_acc for r in group], "-o", color=colour,
                         label=f"{name} exact")
            axes[2].plot(size, [r.exact_p50_ms for r in group], ":s", color=colour,
                         label=f"{name} exact p50")
        axes[0].plot(size, [r.approx_acc for r in group], "--x", color=colour,
                     label=f"{name} {index}")
        axes[1].plot(size, [r.recall_at_5 for r in group], "-o", color=colour,
                     label=f"{name} {index}")
        axes[2].plot(size, [r.approx_p50_ms for r in group], "-o", color=colour,
                     label=f"{name} {index} p50")
    # the σ panel: one approximate setting per size (the first measured)
    first = {(r.size, r.sigma): r.index for r in reversed(rows)}
    synthetic = [r for r in rows if r.variant == "synthetic" and r.sigma is not None
                 and first[(r.size, r.sigma)] == r.index]
    for i, n_rows in enumerate(sorted({r.size for r in synthetic})):
        at_size = sorted((r for r in synthetic if r.size == n_rows), key=lambda r: r.sigma or 0.0)
        sigmas = [r.sigma for r in at_size]
        colour = colours[i % len(colours)]
        axes[3].plot(sigmas, [r.exact_acc for r in at_size], "-o", color=colour,
                     label=f"{n_rows:,} exact")
        axes[3].plot(sigmas, [r.approx_acc for r in at_size], "--x", color=colour,
                     label=f"{n_rows:,} {at_size[0].index}")
        axes[3].plot(sigmas, [r.recall_at_5 for r in at_size], ":s", color=colour,
                     label=f"{n_rows:,} recall@5")
    axes[3].set_xlabel("synthetic noise σ (per dimension)")
    axes[3].set_title("synthetic: accuracy and recall@5 against σ")
    axes[3].set_ylim(-0.02, 1.02)
    axes[3].grid(alpha=0.3)
    axes[3].legend(fontsize=7)
    titles = ("substrate accuracy", "approximate recall@5 vs exact", "predict_one latency (ms)")
    for ax, title in zip(axes[:3], titles, strict=True):
        ax.set_xscale("log")
        ax.set_xlabel("ledger entries")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0].set_ylim(-0.02, 1.02)
    axes[1].set_ylim(-0.02, 1.02)
    axes[2].set_yscale("log")
    axes[0].legend(fontsize=7)
    axes[1].legend(fontsize=7)
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
