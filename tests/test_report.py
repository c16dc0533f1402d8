"""Results on disk: the CSV schemas, the markdown report and the figures."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from ocrr.bench import CellResult, Checkpoint, summarise
from ocrr.bench.report import (
    _mean_curve,
    paper_figures,
    plot_curves,
    plot_pareto,
    plot_tradeoff,
    summary_markdown,
    write_report,
    write_runs_csv,
    write_summary_csv,
)

PROMISED_SUMMARY = [
    "dataset",
    "policy",
    "system",
    "n_seeds",
    "final_novel_mean",
    "final_novel_std",
    "final_orig_mean",
    "final_orig_std",
    "to_70_mean",
    "storage_bytes",
    "correct_us",
    "predict_us",
]
PROMISED_RUNS = [
    "dataset",
    "policy",
    "seed",
    "system",
    "step",
    "corrections",
    "acc_novel",
    "acc_original",
]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def make_result(system: str, seed: int, novel: list[float], corrections: list[int], **kw):
    steps = [0, *[50 * (i + 1) for i in range(len(novel) - 1)]]
    checkpoints = [
        Checkpoint(s, c, a, 0.9 - 0.01 * i, 0.002 * s, 0.001 * c)
        for i, (s, c, a) in enumerate(zip(steps, corrections, novel, strict=True))
    ]
    return CellResult(
        "banking77",
        "oracle",
        seed,
        system,
        checkpoints,
        storage_entries=kw.get("entries", 0),
        storage_bytes=kw.get("nbytes", 1000),
        n_predict=steps[-1],
        n_correct=corrections[-1],
    )


@pytest.fixture
def results() -> list[CellResult]:
    return [
        make_result("substrate", 0, [0.0, 0.5, 0.8], [0, 40, 60], entries=9000, nbytes=2_000_000),
        make_result("substrate", 1, [0.0, 0.75, 0.9], [0, 35, 50], entries=9000, nbytes=2_100_000),
        make_result("static_knn", 0, [0.0, 0.0, 0.0], [0, 50, 100], nbytes=1_900_000),
        make_result("static_knn", 1, [0.0, 0.0, 0.0], [0, 50, 100], nbytes=1_900_000),
    ]


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def test_runs_csv_has_one_row_per_checkpoint(results, tmp_path):
    path = tmp_path / "runs.csv"
    write_runs_csv(results, path)
    header, rows = read_csv(path)
    assert header[: len(PROMISED_RUNS)] == PROMISED_RUNS
    assert len(rows) == sum(len(r.checkpoints) for r in results) == 12
    expected = [(r, c) for r in results for c in r.checkpoints]
    for row, (r, c) in zip(rows, expected, strict=True):
        assert (row["dataset"], row["policy"], row["system"]) == (r.dataset, r.policy, r.system)
        assert int(row["seed"]) == r.seed and int(row["step"]) == c.step
        assert int(row["corrections"]) == c.corrections
        assert float(row["acc_novel"]) == pytest.approx(c.acc_novel, abs=1e-6)
        assert float(row["acc_original"]) == pytest.approx(c.acc_original, abs=1e-6)


def test_summary_csv_columns_and_values(results, tmp_path):
    rows = summarise(results)
    path = tmp_path / "summary.csv"
    write_summary_csv(rows, path)
    header, written = read_csv(path)
    missing = [c for c in PROMISED_SUMMARY if c not in header]
    assert not missing
    for t in (10, 30, 50, 70, 90):
        assert f"to_{t}_mean" in header and f"to_{t}_n_reached" in header
    assert len(header) == len(set(header))
    assert [(w["system"]) for w in written] == ["static_knn", "substrate"]
    static, substrate = written
    assert int(substrate["n_seeds"]) == 2
    assert float(substrate["final_novel_mean"]) == pytest.approx(0.85)
    assert float(substrate["final_novel_std"]) == pytest.approx(0.05)
    assert float(substrate["final_orig_mean"]) == pytest.approx(0.88)
    assert float(substrate["to_70_mean"]) == pytest.approx((60 + 35) / 2)
    assert int(substrate["to_70_n_reached"]) == 2
    assert int(substrate["to_90_n_reached"]) == 1 and float(substrate["to_90_mean"]) == 50
    assert float(substrate["storage_bytes"]) == pytest.approx(2_050_000)
    assert float(substrate["correct_us"]) == pytest.approx(1000.0)
    assert float(substrate["predict_us"]) == pytest.approx(2000.0)
    assert static["to_70_mean"] == "" and static["to_70_n_reached"] == "0"  # never
    assert float(static["final_novel_mean"]) == 0.0


def test_report_markdown_says_never_and_shows_the_paper(results, tmp_path):
    rows = summarise(results)
    text = summary_markdown(rows)
    assert "### banking77 — oracle" in text
    lines = {line.split("|")[1].strip(): line for line in text.splitlines() if "|" in line}
    assert "never" in lines["static_knn"]
    assert "0.850 ± 0.050" in lines["substrate"]
    assert "48 (2/2)" in lines["substrate"]  # to 70 %: mean 47.5 over 2 of 2 seeds
    paper = paper_figures()
    novel, original = paper[("banking77", "oracle", "substrate")]
    assert f"{novel:.3f} / {original:.3f}" in lines["substrate"]
    figure = tmp_path / "curves_banking77_oracle.png"
    write_report(rows, [figure], tmp_path / "report.md", context="Encoder `x`.")
    report = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert report.startswith("# OCRR benchmark report")
    assert "Encoder `x`." in report and "(curves_banking77_oracle.png)" in report


def test_paper_figures_cover_the_paper_grid():
    figures = paper_figures()
    for dataset in ("banking77", "clinc150"):
        for policy in ("oracle", "random50", "random10"):
            for system in ("substrate", "static_knn", "static_linear", "online_linear"):
                novel, original = figures[(dataset, policy, system)]
                assert 0.0 <= novel <= 1.0 and 0.0 <= original <= 1.0
    assert figures[("banking77", "oracle", "static_knn")][0] == 0.0


def test_mean_curve_carries_each_seed_forward():
    a = make_result("s", 0, [0.0, 1.0], [0, 2])
    b = make_result("s", 1, [0.0, 0.5], [0, 4])
    grid, mean, std = _mean_curve([a, b], "acc_novel")
    assert grid.tolist() == [0, 1, 2, 3, 4]
    # a: 0, 0, 1, 1, 1 (its last value held); b: 0, 0, 0, 0, 0.5
    np.testing.assert_allclose(mean, [0, 0, 0.5, 0.5, 0.75])
    np.testing.assert_allclose(std, [0, 0, 0.5, 0.5, 0.25])


def test_mean_curve_uses_the_latest_checkpoint_for_repeated_corrections():
    a = CellResult(
        "d",
        "p",
        0,
        "s",
        [Checkpoint(0, 0, 0.0, 1, 0, 0), Checkpoint(50, 1, 0.2, 1, 0, 0)]
        + [Checkpoint(100, 1, 0.6, 1, 0, 0)],
    )
    grid, mean, _ = _mean_curve([a], "acc_novel")
    assert grid.tolist() == [0, 1] and mean.tolist() == [0.0, 0.6]


def test_figures_are_pngs_named_by_dataset_and_policy(results, tmp_path):
    paths = plot_curves(results, tmp_path)
    assert [p.name for p in paths] == ["curves_banking77_oracle.png"]
    rows = summarise(results)
    paths += plot_pareto(rows, tmp_path) + plot_tradeoff(rows, tmp_path)
    assert {p.name for p in paths} >= {
        "pareto_storage_banking77.png",
        "novel_vs_original_banking77.png",
    }
    for path in paths:
        assert path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 1000
