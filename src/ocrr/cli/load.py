"""``ocrr load``: throughput, latency and durability of the service, measured on loopback
(:func:`ocrr.server.loadtest.run_load`).

By default it is self-contained: a temporary data folder, a namespace seeded with CLINC150
training queries, a real ``ocrr serve`` child process on 127.0.0.1, then

1. predictions alone: ``--clients`` concurrent clients, one text per request;
2. the same with ``--correctors`` clients appending corrections as fast as they are
   acknowledged; the ledger must then hold exactly the acknowledged corrections, and verify;
3. (unless ``--no-flood``) the flood: one key sends maximal batches back to back while
   another key predicts single texts; that key's p99 latency is printed (target < 500 ms);
4. (unless ``--no-crash``) corrections and predictions again, the server killed with SIGKILL
   mid-flight, started again: every acknowledged correction must be there, and verify.

Every phase is bounded by ``--duration`` seconds and ``--max-requests``. The figures depend
on the machine's load: the load average is printed beside them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    load = sub.add_parser(
        "load",
        help="measure the service on loopback: predictions/s, p50/p99, corrections/s, "
        "exactly-once ledger contents, and recovery from kill -9",
    )
    load.add_argument("--encoder", default="default",
                      help="the server's encoder (default: offline all-MiniLM-L6-v2; "
                      "minilm-int8, wordllama: ocrr encoders --info)")
    load.add_argument("--encoder-factory", metavar="MODULE:FUNCTION", default=None,
                      help="build the server's encoder with this instead")
    load.add_argument("--clients", type=int, default=16, help="concurrent predicting clients")
    load.add_argument("--correctors", type=int, default=2,
                      help="concurrent correcting clients in phases 2 and 3")
    load.add_argument("--duration", type=float, default=20.0, help="seconds per phase")
    load.add_argument("--max-requests", type=int, default=20_000,
                      help="most predictions per phase")
    load.add_argument("--seed", type=int, default=1500,
                      help="CLINC150 training queries taught before measuring")
    load.add_argument("--crash-after", type=float, default=3.0,
                      help="seconds of load before the SIGKILL in the crash phase")
    load.add_argument("--no-crash", action="store_true", help="skip the kill -9 phase")
    load.add_argument("--no-flood", action="store_true",
                      help="skip the flood phase (one key's maximal batches against another "
                      "key's single texts)")
    load.add_argument("--flood-clients", type=int, default=2,
                      help="connections sending the flood's maximal batches")
    load.add_argument("--flood-texts", type=int, default=256,
                      help="texts in each flood batch (the server's limit: 256)")
    load.add_argument("--flood-chars", type=int, default=4_000,
                      help="characters in each flood text")
    load.add_argument("--workers", type=int, default=1,
                      help="the server's worker processes (ocrr serve --workers; 2 uses both "
                      "cores of a 2-core machine)")
    load.add_argument("--database", default=None,
                      help="a postgresql:// URL for the server's state instead of a "
                      "temporary SQLite folder")
    load.add_argument("--server-arg", action="append", default=[],
                      help="extra argument for 'ocrr serve' (repeatable), e.g. "
                      "--server-arg=--encoder-threads=2")
    load.add_argument("--json", dest="json_out", default=None, help="write the figures here")
    load.add_argument("--keep", action="store_true",
                      help="keep the temporary data folder (its path is printed)")
    load.set_defaults(handler=run)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.clients < 1 or args.correctors < 0 or args.duration <= 0 or args.seed < 0:
        parser.error("--clients must be positive, --correctors and --seed non-negative, "
                     "--duration positive")
    if args.max_requests < 1:
        parser.error("--max-requests must be positive")
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.flood_clients < 1 or args.flood_texts < 1 or args.flood_chars < 1:
        parser.error("--flood-clients, --flood-texts and --flood-chars must be positive")
    from ocrr.server.loadtest import LoadSettings, run_load

    settings = LoadSettings(
        encoder=args.encoder, encoder_factory=args.encoder_factory, clients=args.clients,
        correctors=args.correctors, duration=args.duration, max_requests=args.max_requests,
        seed=args.seed, crash_after=args.crash_after, crash=not args.no_crash,
        flood=not args.no_flood, flood_clients=args.flood_clients,
        flood_texts=args.flood_texts, flood_chars=args.flood_chars,
        database=args.database, keep=args.keep,
        server_args=(*(("--workers", str(args.workers)) if args.workers > 1 else ()),
                     *args.server_arg),
    )
    report = asyncio.run(run_load(settings, log=lambda line: print(line, flush=True)))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(report.figures, indent=2) + "\n",
                                       encoding="utf-8")
    return 0 if report.ok else 1
