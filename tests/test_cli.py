"""The command line: fail fast on bad choices, dataset info, and one small end-to-end bench."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from ocrr.bench import available_policies
from ocrr.cli.main import main
from ocrr.datasets import available_datasets
from ocrr.systems import available_systems

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def fails(argv: list[str], capsys) -> str:
    """Run the CLI, expect a usage error (exit 2), return stderr."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(
    "flag, bad, valid",
    [
        ("--systems", "substrat", available_systems),
        ("--policies", "random90", available_policies),
        ("--datasets", "banking78", available_datasets),
    ],
)
def test_unknown_choice_fails_fast_listing_the_valid_ones(capsys, tmp_path, flag, bad, valid):
    out = tmp_path / "out"
    err = fails(["bench", flag, bad, "--out", str(out), "--no-progress"], capsys)
    assert repr(bad) in err
    for name in valid():
        assert name in err
    assert not out.exists()  # refused before any work


def test_one_bad_name_among_good_ones_is_named(capsys, tmp_path):
    err = fails(["bench", "--systems", "substrate", "nope", "--out", str(tmp_path / "o")], capsys)
    assert "'nope'" in err and "'substrate'" not in err.split("valid")[0]


def test_a_folder_without_the_csvs_is_an_unknown_dataset(capsys, tmp_path):
    err = fails(["bench", "--datasets", str(tmp_path), "--out", str(tmp_path / "o")], capsys)
    assert "train.csv" in err and "banking77" in err


def test_non_positive_cap_is_refused(capsys, tmp_path, tiny_folder):
    err = fails(["bench", "--datasets", str(tiny_folder), "--cap", "0"], capsys)
    assert "--cap" in err


def test_datasets_info(capsys):
    assert main(["datasets", "--info"]) == 0
    out = capsys.readouterr().out
    for name in ("banking77", "clinc150"):
        assert f"{name}:" in out
    assert "CC BY 4.0" in out and "CC BY 3.0" in out
    assert "Casanueva" in out and "Larson" in out
    assert out.count("source:") == 2 and out.count("citation:") == 2


def test_datasets_licence(capsys):
    assert main(["datasets", "--licence", "banking77"]) == 0
    assert "Creative Commons" in capsys.readouterr().out
    err = fails(["datasets", "--licence", "nope"], capsys)
    assert "banking77" in err and "clinc150" in err


def test_perf_prints_latencies(capsys):
    assert main(["perf", "--entries", "200", "--dim", "8", "--repeats", "20"]) == 0
    out = capsys.readouterr().out
    assert "200 entries" in out
    for call in ("ledger append", "Substrate.correct", "Substrate.predict_one", "scan alone",
                 "scan without the sketch", "no int8 sketch"):
        assert call in out
    # past 4,096 rows the warm-up's searches build the sketch, and its build is timed
    assert main(["perf", "--entries", "4200", "--dim", "8", "--repeats", "70"]) == 0
    assert "its int8 sketch built in" in capsys.readouterr().out
    fails(["perf", "--entries", "0"], capsys)


def test_a_malformed_dataset_is_reported_with_file_and_row(capsys, tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "train.csv").write_text("text,label\nhello,a\nbye,b\n,c\n", encoding="utf-8")
    (folder / "test.csv").write_text("text,label\nhi,a\n", encoding="utf-8")
    code = main(
        ["bench", "--datasets", str(folder), "--encoder", "tfidf", "--out", str(tmp_path / "o")]
        + ["--no-progress", "--cache-dir", str(tmp_path / "cache")]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert str(folder / "train.csv") in err and "row 4" in err


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_bench_end_to_end_on_a_tiny_folder(capsys, tmp_path, tiny_folder):
    out = tmp_path / "results"
    cache = tmp_path / "cache"
    argv = [
        "bench",
        "--datasets",
        str(tiny_folder),
        "--policies",
        "oracle",
        "random50",
        "--seeds",
        "0",
        "--encoder",
        "tfidf",
        "--cache-dir",
        str(cache),
        "--cap",
        "20",
        "--checkpoint-every",
        "25",
        "--workers",
        "1",
        "--out",
        str(out),
        "--no-progress",
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "wrote" in printed

    systems = {"substrate", "substrate_plus", "static_knn", "static_linear", "online_linear"}
    summary = read_rows(out / "summary.csv")
    assert {(r["policy"], r["system"]) for r in summary} == {
        (p, s) for p in ("oracle", "random50") for s in systems
    }
    assert all(r["dataset"] == "tiny" and r["n_seeds"] == "1" for r in summary)
    by = {(r["policy"], r["system"]): r for r in summary}
    for policy in ("oracle", "random50"):
        assert float(by[(policy, "static_knn")]["final_novel_mean"]) == 0.0
        assert float(by[(policy, "static_linear")]["final_novel_mean"]) == 0.0
    assert float(by[("oracle", "substrate")]["final_novel_mean"]) > 0.5
    assert float(by[("oracle", "substrate")]["storage_bytes"]) > 0

    runs = read_rows(out / "runs.csv")
    # 12 classes, 10 held out x 10 training rows: 100 stream items, checkpoints 0, 25, ..., 100
    substrate = [r for r in runs if r["system"] == "substrate" and r["policy"] == "oracle"]
    assert [int(r["step"]) for r in substrate] == [0, 25, 50, 75, 100]
    assert len(runs) == 2 * len(systems) * 5
    for r in runs:  # cap 20: accuracies are multiples of 1/20 on novel (40 rows, capped)
        assert float(r["acc_novel"]) * 20 == pytest.approx(round(float(r["acc_novel"]) * 20))

    report = (out / "report.md").read_text(encoding="utf-8")
    assert "### tiny — oracle" in report and "### tiny — random50" in report
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert {"curves_tiny_oracle.png", "curves_tiny_random50.png"} <= set(pngs)
    for name in pngs:
        assert (out / name).read_bytes()[:8] == PNG_MAGIC
        assert f"({name})" in report
    assert len(list((out / "cells").glob("*__*.json"))) == 2 * len(systems)
    assert list(cache.glob("*/*.npz"))

    # a second run resumes: same numbers, nothing rerun
    assert main(argv) == 0
    capsys.readouterr()
    assert read_rows(out / "summary.csv") == summary

    # a different cap in the same folder is refused rather than mixing cells
    bad = list(argv)
    bad[bad.index("--cap") + 1] = "30"
    err = fails(bad, capsys)
    assert "--fresh" in err
