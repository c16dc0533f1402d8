"""``ocrr tune``: choose the hybrid rule's parameters on validation splits (never test rows)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from ocrr.bench.policies import available_policies
    from ocrr.bench.tuning import VALIDATED

    tune = sub.add_parser(
        "tune",
        help="choose substrate_plus's parameters on validation splits (CLINC150's val, a "
        "seeded tenth of Banking77's training rows) and print the ranked table",
    )
    tune.add_argument("--datasets", nargs="+", default=["banking77", "clinc150"])
    tune.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    tune.add_argument(
        "--policies", nargs="+", default=["oracle"], choices=available_policies(),
        help="correction policies to score under (the score averages over all of them)",
    )
    tune.add_argument(
        "--scenarios", nargs="+", default=["novel"], choices=list(VALIDATED),
        help="novel: the paper's protocol on every dataset; split, merge, rename: the test "
        "scenario's transformation applied to every dataset's validation task; drift-cross: "
        "fitted on "
        "Banking77's validation rows, streamed CLINC150 training queries, scored on "
        "CLINC150's val queries (needs both datasets' validation tasks; loads them)",
    )
    tune.add_argument(
        "--mix", nargs="+", type=float, default=None,
        help="weights of the neighbours' distribution to try (default grid: 0.4 0.5 0.6 "
        "unless --param is given)",
    )
    tune.add_argument(
        "--temperature", nargs="+", type=float, default=None,
        help="discriminant softmax temperatures to try (default grid: 3 5 10 unless --param "
        "is given)",
    )
    tune.add_argument(
        "--param", action="append", default=[], metavar="KEY=V1,V2,...",
        help="sweep any HybridVote parameter, e.g. --param k=10,20 (repeatable; the grid is "
        "every combination)",
    )
    tune.add_argument("--encoder", default="default")
    tune.add_argument("--cache-dir", default=None)
    tune.add_argument("--workers", type=int, default=None)
    tune.add_argument(
        "--out", default="results_tune",
        help="folder for tuning.md (the ranked table) and runs.csv (every run's checkpoints, "
        "seed by seed, as ocrr bench writes them: for paired comparisons)",
    )
    tune.set_defaults(handler=_tune)
    return tune


def parse_grid(
    params: list[str], mix: list[float] | None, temperature: list[float] | None
) -> dict[str, list[object]]:
    """The search grid from ``--param KEY=V1,V2`` items and ``--mix`` / ``--temperature``;
    with none of them, :data:`~ocrr.bench.tuning.HYBRID_GRID`. Every candidate is checked by
    building it; a bad key or value raises ValueError naming it."""
    from ocrr.bench.tuning import HYBRID_GRID, candidates
    from ocrr.substrate import HybridVote
    from ocrr.systems import parse_value

    grid: dict[str, list[object]] = {}
    if mix is not None:
        grid["mix"] = list(mix)
    if temperature is not None:
        grid["temperature"] = list(temperature)
    for item in params:
        key, eq, values = item.partition("=")
        key = key.strip()
        if not eq or not key.isidentifier() or not values.strip():
            raise ValueError(f"--param {item!r}: expected KEY=V1,V2,... (e.g. k=10,20)")
        grid[key] = [parse_value(v.strip()) for v in values.split(",") if v.strip()]
    if not grid:
        grid = {key: list(values) for key, values in HYBRID_GRID.items()}
    for params_of in candidates(grid):
        try:
            HybridVote(**params_of)  # type: ignore[arg-type]
        except (TypeError, ValueError) as err:
            raise ValueError(f"candidate {params_of}: {err}") from None
    return grid


def _tune(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ocrr.bench.harness import CellResult
    from ocrr.bench.report import write_runs_csv
    from ocrr.bench.tuning import tune, validation_split, with_scenarios, write_table
    from ocrr.datasets import BUILTIN
    from ocrr.substrate import Substrate

    for name in args.datasets:
        if name not in BUILTIN and not (Path(name) / "train.csv").is_file():
            parser.error(f"unknown dataset {name!r}; valid: {', '.join(BUILTIN)}, or a folder")
    try:
        grid = parse_grid(args.param, args.mix, args.temperature)
    except ValueError as err:
        parser.error(str(err))
    started = time.perf_counter()
    data = {}
    for name in args.datasets:
        split = validation_split(name, args.encoder, cache_dir=args.cache_dir)
        data[split.name] = split
    data = with_scenarios(
        data, args.scenarios, args.seeds,
        lambda name: validation_split(name, args.encoder, cache_dir=args.cache_dir),
    )
    runs: list[CellResult] = []
    ranked = tune(
        data, grid, seeds=args.seeds, policies=args.policies, scenarios=args.scenarios,
        workers=args.workers, on_done=runs.append,
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_runs_csv(runs, out / "runs.csv")
    table = write_table(ranked, out / "tuning.md")
    print(table)
    best = ranked[0]
    default = Substrate().rule
    current = {k: getattr(default, k, None) for k in best.params}
    verdict = "the library default" if current == best.params else f"defaults are {current}"
    print(f"best on validation: {best.system} ({verdict}); "
          f"{time.perf_counter() - started:.0f} s; wrote {out / 'tuning.md'} and runs.csv")
    return 0
