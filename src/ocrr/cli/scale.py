"""``ocrr scale``: the scale study (exact vs HNSW substrate accuracy, recall, latency, memory)."""

from __future__ import annotations

import argparse

from ocrr.bench.scale import VARIANTS


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    scale = sub.add_parser(
        "scale",
        help="exact vs approximate (inverted file, HNSW) substrate at growing ledger sizes: "
        "accuracy, recall@5, latency, build time, memory; writes a table and a figure",
    )
    scale.add_argument("--sizes", nargs="+", type=int, default=[10_000, 100_000])
    scale.add_argument("--dim", type=int, default=384, help="synthetic dimension (default 384)")
    scale.add_argument(
        "--sigmas", nargs="+", type=float, default=[0.1, 0.15, 0.2],
        help="synthetic noise per dimension (default 0.1 0.15 0.2)",
    )
    scale.add_argument(
        "--variants", nargs="+", default=list(VARIANTS),
        help=f"{', '.join(VARIANTS)} (Banking77 embeddings plus synthetic distractor classes)",
    )
    scale.add_argument("--classes", type=int, default=100, help="synthetic classes")
    scale.add_argument("--queries", type=int, default=1000, help="held-out queries per cell")
    scale.add_argument(
        "--latency-queries", type=int, default=1000, help="single-query predict_one timings"
    )
    scale.add_argument(
        "--approximate", nargs="+", default=None, choices=["ivf", "hnsw"],
        help="approximate indexes to measure (default: ivf, and hnsw when hnswlib is installed)",
    )
    scale.add_argument(
        "--nprobe", nargs="+", type=int, default=[4],
        help="inverted-file cells scanned per query; several values sweep one build (default 4)",
    )
    scale.add_argument("--M", type=int, default=16, dest="M", help="HNSW M (default 16)")
    scale.add_argument("--ef-construction", type=int, default=200)
    scale.add_argument(
        "--ef-search", nargs="+", type=int, default=[64],
        help="HNSW ef at search; several values sweep one build (default 64)",
    )
    scale.add_argument(
        "--threads", type=int, default=0, help="HNSW build threads (0: all cores)"
    )
    scale.add_argument(
        "--device", default="auto",
        help="where exact search runs: auto (a CUDA GPU when torch sees one), cpu, cuda",
    )
    scale.add_argument(
        "--codecs", nargs="*", default=["int8", "pq96", "pq48"],
        help="compression codes measured in every cell (default int8 pq96 pq48; none: skip)",
    )
    scale.add_argument("--seed", type=int, default=0)
    scale.add_argument("--encoder", default="default", help="encoder for the Banking77 variant")
    scale.add_argument("--cache-dir", default=None, help="embedding cache folder")
    scale.add_argument("--out", default="results/scale", help="output folder")
    scale.add_argument(
        "--force", action="store_true", help="run even if the memory estimate exceeds free memory"
    )
    scale.add_argument(
        "--combine", nargs="+", metavar="DIR", default=None,
        help="run nothing: merge earlier runs' results folders into --out (for a cell in "
        "several, the last folder wins)",
    )
    scale.set_defaults(handler=run)
    return scale


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.combine:
        return _combine(args, parser)
    if any(s < 1 for s in args.sizes) or args.dim < 1 or args.queries < 1:
        parser.error("--sizes, --dim and --queries must be positive")
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant {', '.join(map(repr, unknown))}; valid: "
                     f"{', '.join(VARIANTS)}")
    if "synthetic" in args.variants and not args.sigmas:
        parser.error("--sigmas needs at least one value")
    if "synthetic" in args.variants and min(args.sizes) < args.classes:
        parser.error(f"every size must be at least --classes ({args.classes})")
    if "banking77" in args.variants and args.dim != 384 and "synthetic" not in args.variants:
        parser.error("the banking77 variant has the encoder's dimension; --dim is synthetic only")
    from ocrr.index import ann_available

    kinds = args.approximate or (["ivf", "hnsw"] if ann_available() else ["ivf"])
    if "hnsw" in kinds and not ann_available():
        parser.error("--approximate hnsw needs hnswlib: pip install 'ocrr[ann]'")
    if min(args.nprobe) < 1 or min(args.ef_search) < 1:
        parser.error("--nprobe and --ef-search must be positive")
    from ocrr.bench.compression import make_codec  # noqa: F401  (validates codec names)
    from ocrr.bench.scale import available_bytes, estimate_peak_bytes
    from ocrr.index.gpu import resolve_device

    for name in args.codecs:
        if name != "int8" and not (name.startswith("pq") and name[2:].isdigit()
                                   and args.dim % int(name[2:]) == 0):
            parser.error(f"unknown codec {name!r}; valid: int8, pqM with M dividing --dim")
    try:
        device = resolve_device(args.device)
    except ValueError as err:
        parser.error(str(err))
    need = estimate_peak_bytes(max(args.sizes), args.dim)
    free = available_bytes()
    if free is not None and need > free and not args.force:
        parser.error(
            f"{max(args.sizes):,} entries need about {need / 2**30:.1f} GiB but "
            f"{free / 2**30:.1f} GiB is free; use smaller --sizes, or --force"
        )
    from ocrr.bench.scale.study import approximate_choices, run_study, study_context

    search = {"nprobe": args.nprobe, "M": args.M, "ef_construction": args.ef_construction,
              "ef_search": args.ef_search, "threads": args.threads}
    context = study_context(device, kinds, **search, queries=args.queries, seed=args.seed,
                            classes=args.classes, dim=args.dim)
    written, seconds = run_study(
        args.out,
        args.sizes,
        context=context,
        dim=args.dim,
        sigmas=args.sigmas,
        variants=args.variants,
        classes=args.classes,
        queries=args.queries,
        latency_queries=args.latency_queries,
        approx=approximate_choices(kinds, **search),
        device=device,
        codecs=args.codecs,
        seed=args.seed,
        encoder=args.encoder,
        cache_dir=args.cache_dir,
    )
    print(f"\n{seconds:.0f} s; wrote " + ", ".join(map(str, written)))
    return 0


def _combine(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ocrr.bench.scale.study import combine

    try:
        written = combine(args.combine, args.out)
    except FileNotFoundError as err:
        parser.error(str(err))
    print("wrote " + ", ".join(map(str, written)))
    return 0
