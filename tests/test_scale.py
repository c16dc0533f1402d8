"""The scale study at toy sizes: data generation, measurement, compression, report, CLI."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from ocrr.bench.compression import Int8Codec, PQCodec, compressed_search, make_codec
from ocrr.bench.scale import (
    DISTRACTOR_CLASS_SIZE,
    banking77_set,
    measure,
    read_results,
    run_scale,
    synthetic_set,
    write_report,
)
from ocrr.cli.main import main
from ocrr.index import ExactIndex, IndexChoice

pytest.importorskip("hnswlib")


def test_synthetic_set_is_class_incremental_unit_and_seeded():
    data = synthetic_set(1000, 32, 0.1, classes=10, queries=50, seed=3)
    assert data.X.shape == (1000, 32) and data.Q.shape == (50, 32) and data.classes == 10
    np.testing.assert_allclose(np.linalg.norm(data.X, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(data.Q, axis=1), 1, atol=1e-5)
    # class blocks: class 0's 100 entries first, then class 1's ...
    assert data.y[:100] == ["class-0"] * 100 and data.y[100] == "class-1"
    again = synthetic_set(1000, 32, 0.1, classes=10, queries=50, seed=3)
    np.testing.assert_array_equal(again.X, data.X)
    assert again.yq == data.yq
    with pytest.raises(ValueError):
        synthetic_set(5, 32, 0.1, classes=10)


def test_sigma_decides_how_separable_the_classes_are():
    def nn_accuracy(sigma: float) -> float:
        data = synthetic_set(2000, 64, sigma, classes=20, queries=200)
        top = np.argmax(data.Q @ data.X.T, axis=1)
        return float(np.mean([data.y[i] == q for i, q in zip(top, data.yq, strict=True)]))

    assert nn_accuracy(0.05) == 1.0
    assert nn_accuracy(0.4) < 0.5


def _fake_core(seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((6, 24)).astype(np.float32)
    y_train = rng.integers(0, 6, 300)
    y_test = rng.integers(0, 6, 60)

    def rows(labels):
        x = centres[labels] + 0.3 * rng.standard_normal((len(labels), 24)).astype(np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    return (rows(y_train), [f"i{c}" for c in y_train], rows(y_test), [f"i{c}" for c in y_test])


def test_banking77_variant_adds_gaussian_distractor_classes():
    core = _fake_core()
    data = banking77_set(1000, queries=40, seed=1, core=core)
    assert data.X.shape == (1000, 24) and len(data.y) == 1000
    np.testing.assert_array_equal(data.X[:300], core[0])
    assert data.y[:300] == core[1]
    extra = data.y[300:]
    assert all(label.startswith("distractor-") for label in extra)
    assert len(set(extra)) == -(-700 // DISTRACTOR_CLASS_SIZE)
    assert data.classes == 6 + len(set(extra)) and len(data.Q) == 40
    np.testing.assert_allclose(np.linalg.norm(data.X, axis=1), 1, atol=1e-5)
    # distractors live where the real classes do, not in random directions
    centre = core[0].mean(axis=0)
    assert float(np.mean(data.X[300:] @ centre)) > 0.5 * float(np.mean(core[0] @ centre))
    alone = banking77_set(300, core=core)
    assert alone.X.shape == (300, 24) and alone.classes == 6
    with pytest.raises(ValueError, match="below the Banking77 core"):
        banking77_set(100, core=core)


def test_measure_compares_exact_and_approximate_indexes_on_one_ledger():
    data = synthetic_set(1500, 32, 0.05, classes=10, queries=60)
    rows, comp = measure(
        data, variant="synthetic", sigma=0.05,
        approx=[IndexChoice(kind="hnsw", flush_at=256), IndexChoice(kind="ivf", nprobe=1),
                IndexChoice(kind="ivf", nprobe=200)],
        latency_queries=30, exact_latency_queries=10, codecs=("int8", "pq8"),
        log=lambda _: None,
    )
    row = rows[0]
    assert [r.index for r in rows] == ["hnsw ef=64", "ivf nprobe=1", "ivf nprobe=200"]
    assert rows[2].recall_at_5 == 1.0 and rows[2].approx_acc == rows[2].exact_acc
    assert rows[1].build_s == rows[2].build_s  # one build, two search settings
    assert row.size == 1500 and row.queries == 60 and row.exact_device == "ExactIndex"
    assert row.exact_acc == 1.0 and row.approx_acc == 1.0 and row.gap == 0.0
    assert row.recall_at_5 > 0.9 and row.agreement == 1.0
    assert 0 < row.approx_p50_ms <= row.approx_p99_ms and row.build_s > 0
    assert row.index_mb > row.vectors_mb > 0
    assert [c.codec for c in comp] == ["int8", "pq8"]
    assert comp[0].ratio == 4.0 and comp[1].ratio == 16.0
    assert comp[0].compressed_acc == 1.0 and comp[0].recall_at_5 > 0.9
    assert comp[1].hnsw_mb_compressed < comp[0].hnsw_mb_compressed < comp[0].hnsw_mb_float32


def test_codecs_round_trip_and_search():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3000, 32)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    int8 = Int8Codec(x)
    codes = int8.encode(x)
    assert codes.dtype == np.uint8 and codes.shape == x.shape
    assert np.abs(int8.decode(codes) - x).max() <= int8.step.max() / 2 + 1e-6
    pq = PQCodec(x, 8)
    assert pq.encode(x[:10]).shape == (10, 8) and pq.centroids.shape == (8, 256, 4)
    err_pq = np.linalg.norm(pq.decode(pq.encode(x)) - x, axis=1).mean()
    err_int8 = np.linalg.norm(int8.decode(codes) - x, axis=1).mean()
    assert err_int8 < err_pq < 1.0
    exact = ExactIndex(32)
    exact.add_many(x)
    want, _ = exact.search_many(x[:50], 5)
    rows, sims = compressed_search(int8, x, x[:50], 5)
    assert (rows[:, 0] == want[:, 0]).all() and np.all(np.diff(sims, axis=1) <= 0)
    with pytest.raises(ValueError):
        make_codec("pq5", x)
    with pytest.raises(ValueError):
        make_codec("zstd", x)


def test_report_and_cli(tmp_path, capsys):
    rows, comp = run_scale(
        [400, 800], dim=16, sigmas=[0.05], variants=["synthetic"], classes=4, queries=20,
        latency_queries=10, approx=[IndexChoice(kind="hnsw", flush_at=128)], codecs=["int8"],
        log=lambda _: None,
    )
    assert [r.size for r in rows] == [400, 800] and len(comp) == 2
    written = write_report(rows, comp, tmp_path / "r", context="toy")
    assert {p.name for p in written} == {"scale.csv", "scale.md", "compression.csv", "scale.png"}
    with open(tmp_path / "r" / "scale.csv") as f:
        assert [int(r["size"]) for r in csv.DictReader(f)] == [400, 800]
    assert "recall@5" in (tmp_path / "r" / "scale.md").read_text()
    assert main(["scale", "--combine", str(tmp_path / "r"), "--out", str(tmp_path / "c")]) == 0
    again, again_comp = read_results(tmp_path / "c")
    assert again == rows and [c.codec for c in again_comp] == ["int8", "int8"]

    out = tmp_path / "cli"
    code = main([
        "scale", "--sizes", "300", "--dim", "16", "--classes", "3", "--sigmas", "0.05",
        "--variants", "synthetic", "--queries", "15", "--latency-queries", "5",
        "--codecs", "int8", "--device", "cpu", "--out", str(out),
        "--approximate", "ivf", "hnsw", "--nprobe", "1", "8", "--ef-search", "32",
    ])
    assert code == 0 and (out / "scale.png").is_file() and (out / "compression.csv").is_file()
    assert [r.index for r in read_results(out)[0]] == [
        "ivf nprobe=1", "ivf nprobe=8", "hnsw ef=32",
    ]
    for bad in (["--variants", "mnist"], ["--codecs", "pq7"], ["--sizes", "2"],
                ["--device", "tpu"], ["--nprobe", "0"], ["--approximate", "annoy"]):
        with pytest.raises(SystemExit):
            main(["scale", "--dim", "16", "--classes", "3", "--out", str(out), *bad])
    assert "error" in capsys.readouterr().err
