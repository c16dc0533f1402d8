"""The scale study's files: ``scale.csv``, ``compression.csv`` (and reading them back),
``scale.md`` with the markdown tables, and ``scale.png`` (:mod:`ocrr.bench.scale.plot`)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from ocrr.bench.scale.plot import plot_scale
from ocrr.bench.scale.rows import CompressionRow, ScaleRow


def read_results(folder: str | Path) -> tuple[list[ScaleRow], list[CompressionRow]]:
    """The rows a run wrote to ``folder`` (``scale.csv``, ``compression.csv``)."""
    folder = Path(folder)
    out: list[list] = []
    for name, cls in (("scale.csv", ScaleRow), ("compression.csv", CompressionRow)):
        kinds = {f.name: str(f.type) for f in fields(cls)}
        rows = []
        if (folder / name).is_file():
            with open(folder / name, newline="") as f:
                for record in csv.DictReader(f):
                    rows.append(cls(**{k: _parse(v, kinds[k]) for k, v in record.items()}))
        out.append(rows)
    return out[0], out[1]


def _parse(value: str, kind: str) -> Any:
    if value == "":
        return None
    if kind == "int":
        return int(value)
    if kind == "str":
        return value
    return float(value)


def _fmt(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def write_csv(rows: Sequence[object], path: Path) -> None:
    if not rows:
        return
    names = [f.name for f in fields(rows[0])]  # type: ignore[arg-type]
    with open(path, "w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=names)
        writer.writeheader()
        for row in rows:
            writer.writerow(asdict(row))  # type: ignore[call-overload]


_MAIN_COLUMNS = (
    ("variant", "variant"), ("sigma", "σ"), ("size", "entries"), ("index", "index"),
    ("exact_acc", "exact acc"), ("approx_acc", "approx acc"), ("gap", "gap"),
    ("recall_at_5", "recall@5"),
    ("agreement", "agreement"), ("approx_p50_ms", "p50 ms"), ("approx_p99_ms", "p99 ms"),
    ("exact_p50_ms", "exact p50 ms"), ("build_s", "build s"), ("index_mb", "index MB"),
    ("vectors_mb", "vectors MB"),
)
_COMP_COLUMNS = (
    ("variant", "variant"), ("sigma", "σ"), ("size", "entries"), ("codec", "code"),
    ("bytes_per_vector", "bytes/vector"), ("ratio", "smaller by"),
    ("exact_acc", "float32 acc"), ("compressed_acc", "compressed acc"), ("gap", "gap"),
    ("recall_at_5", "recall@5"), ("hnsw_mb_float32", "HNSW MB float32"),
    ("hnsw_mb_compressed", "HNSW MB compressed"),
)


def markdown_table(rows: Sequence[object], columns: Sequence[tuple[str, str]]) -> str:
    lines = [
        "| " + " | ".join(title for _, title in columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for row in rows:
        lines.append("| " + " | ".join(_fmt(getattr(row, name)) for name, _ in columns) + " |")
    return "\n".join(lines)


def write_report(
    rows: Sequence[ScaleRow],
    comp: Sequence[CompressionRow],
    out: Path,
    *,
    context: str = "",
) -> list[Path]:
    """``scale.csv``, ``compression.csv``, ``scale.md`` and ``scale.png`` under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    write_csv(rows, out / "scale.csv")
    write_csv(comp, out / "compression.csv")
    text = ["# Scale study", "", context, "", markdown_table(rows, _MAIN_COLUMNS), ""]
    if comp:
        text += ["## Compression (exact scan over decoded vectors)", "",
                 markdown_table(comp, _COMP_COLUMNS), ""]
    (out / "scale.md").write_text("\n".join(text))
    written = [out / "scale.csv", out / "scale.md"]
    if comp:
        written.append(out / "compression.csv")
    if rows:
        written.append(plot_scale(rows, out / "scale.png"))
    return written
