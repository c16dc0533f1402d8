"""``ocrr tune``: choose the hybrid rule's parameters on validation splits (never test rows)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from ocrr.bench.tuning import HYBRID_GRID

    tune = sub.add_parser(
        "tune",
        help="choose substrate_plus's parameters on validation splits (CLINC150's val, a "
        "seeded tenth of Banking77's training rows) and print the ranked table",
    )
    tune.add_argument("--datasets", nargs="+", default=["banking77", "clinc150"])
    tune.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    tune.add_argument(
        "--mix", nargs="+", type=float, default=list(HYBRID_GRID["mix"]),
        help="weights of the neighbours' distribution to try",
    )
    tune.add_argument(
        "--temperature", nargs="+", type=float, default=list(HYBRID_GRID["temperature"]),
        help="discriminant softmax temperatures to try",
    )
    tune.add_argument("--encoder", default="default")
    tune.add_argument("--cache-dir", default=None)
    tune.add_argument("--workers", type=int, default=None)
    tune.add_argument("--out", default="results_tune", help="folder for tuning.md")
    tune.set_defaults(handler=_tune)
    return tune


def _tune(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ocrr.bench.tuning import tune, validation_split, write_table
    from ocrr.datasets import BUILTIN
    from ocrr.substrate import Substrate

    for name in args.datasets:
        if name not in BUILTIN and not (Path(name) / "train.csv").is_file():
            parser.error(f"unknown dataset {name!r}; valid: {', '.join(BUILTIN)}, or a folder")
    if any(not 0 <= m <= 1 for m in args.mix) or any(t <= 0 for t in args.temperature):
        parser.error("--mix values must lie in [0, 1] and --temperature values be positive")
    started = time.perf_counter()
    data = {}
    for name in args.datasets:
        split = validation_split(name, args.encoder, cache_dir=args.cache_dir)
        data[split.name] = split
    grid = {"mix": args.mix, "temperature": args.temperature}
    ranked = tune(data, grid, seeds=args.seeds, workers=args.workers)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = write_table(ranked, out / "tuning.md")
    print(table)
    best = ranked[0]
    default = Substrate()
    current = {k: getattr(default, k) for k in best.params}
    verdict = "the library default" if current == best.params else f"defaults are {current}"
    print(f"best on validation: {best.system} ({verdict}); "
          f"{time.perf_counter() - started:.0f} s; wrote {out / 'tuning.md'}")
    return 0
