"""A whole ``ocrr scale`` run (:func:`run_study`: every cell, the report rewritten after each,
so a stopped run keeps what it measured) and the merging of earlier runs (:func:`combine`)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ocrr.bench.scale.measure import run_scale
from ocrr.bench.scale.output import read_results, write_report
from ocrr.bench.scale.rows import CompressionRow, ScaleRow
from ocrr.index import IndexChoice


def approximate_choices(
    kinds: Sequence[str],
    *,
    nprobe: Sequence[int] = (4,),
    M: int = 16,  # noqa: N803 - HNSW's name
    ef_construction: int = 200,
    ef_search: Sequence[int] = (64,),
    threads: int = 0,
) -> list[IndexChoice]:
    """One choice per search setting: the inverted file at each ``nprobe``, then HNSW at
    each ``ef_search`` (settings of one kind share a build when measured)."""
    approx = [IndexChoice(kind="ivf", nprobe=p) for p in nprobe if "ivf" in kinds]
    approx += [
        IndexChoice(kind="hnsw", M=M, ef_construction=ef_construction, ef_search=ef,
                    threads=threads)
        for ef in ef_search if "hnsw" in kinds
    ]
    return approx


def run_study(
    out: str | Path,
    sizes: Sequence[int],
    *,
    context: str,
    log: Callable[[str], None] = print,
    **cells: object,
) -> tuple[list[Path], float]:
    """Measure every cell (``cells``: the keyword arguments of
    :func:`~ocrr.bench.scale.measure.run_scale`), rewriting the report under ``out`` after
    each; returns the files written and the seconds taken."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[ScaleRow] = []
    comp: list[CompressionRow] = []
    started = time.perf_counter()

    def save(cell_rows: list[ScaleRow], crows: list[CompressionRow]) -> None:
        rows.extend(cell_rows)
        comp.extend(crows)
        write_report(rows, comp, out, context=context)  # partial results survive a stop

    run_scale(sizes, log=log, on_row=save, **cells)  # type: ignore[arg-type]
    written = write_report(rows, comp, out, context=context)
    return written, time.perf_counter() - started


def study_context(
    device: str, kinds: Sequence[str], *, nprobe: Sequence[int], M: int,  # noqa: N803
    ef_construction: int, ef_search: Sequence[int], threads: int, queries: int, seed: int,
    classes: int, dim: int,
) -> str:
    """The report's line saying where and how the study ran."""
    return (
        f"{os.cpu_count()} cores; exact search on {device}; approximate: "
        f"{', '.join(kinds)}; inverted file nprobe {list(nprobe)}; HNSW M={M}, "
        f"ef_construction={ef_construction}, ef {list(ef_search)} (hnswlib), build "
        f"threads {threads or 'all'}; {queries} queries per cell; seed {seed}; "
        f"synthetic: {classes} classes, dim {dim}, class-incremental order."
    )


def combine(folders: Sequence[str | Path], out: str | Path) -> list[Path]:
    """Merge earlier runs' results folders into ``out`` (a cell measured in several: the
    last folder given wins); raises FileNotFoundError for a folder with no ``scale.csv``."""
    rows: list[ScaleRow] = []
    comp: list[CompressionRow] = []
    contexts = []
    for folder in folders:
        if not (Path(folder) / "scale.csv").is_file():
            raise FileNotFoundError(f"{folder} holds no scale.csv")
        r, c = read_results(folder)
        rows += r
        comp += c
        md = Path(folder) / "scale.md"
        if md.is_file():
            lines = md.read_text().splitlines()
            contexts.append(f"{folder}: {lines[2] if len(lines) > 2 else ''}")

    def key(r: ScaleRow | CompressionRow) -> tuple:
        return (r.variant, r.sigma if r.sigma is not None else -1.0, r.size)

    rows = sorted({(*key(r), r.index): r for r in rows}.values(), key=lambda r: (*key(r), r.index))
    comp = sorted({(*key(c), c.codec): c for c in comp}.values(), key=lambda c: (*key(c), c.codec))
    return write_report(rows, comp, Path(out), context="\n\n".join(contexts))
