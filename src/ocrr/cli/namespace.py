"""``ocrr namespace ...``: create, load, inspect and reshape namespaces, and copy them.

Each command works against a running server (``--url`` and ``--key``, or ``$OCRR_URL`` and
``$OCRR_KEY``) or directly on a data folder (``--data``, the default ``./ocrr-data``, or
``--database postgresql://...``), through the same :class:`~ocrr.client.Client` operations.
``export``, ``import``, ``backup`` and ``restore`` read and write the data folder itself
(safe while a server runs on it, except ``restore``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import TYPE_CHECKING, Any

from ocrr.cli.serve import _location_options, _where, factory, registry_of

if TYPE_CHECKING:
    from ocrr.client import Client

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def _target_options(parser: argparse.ArgumentParser, *, encoder: bool = True) -> None:
    _location_options(parser)
    parser.add_argument("--url", default=None,
                        help="a running server (default: $OCRR_URL); without it, the data "
                        "folder is used directly")
    parser.add_argument("--key", default=None, help="the API key (default: $OCRR_KEY)")
    if encoder:
        parser.add_argument("--encoder", default="default",
                            help="without --url: the encoder ('default': offline "
                            "all-MiniLM-L6-v2; must be the one the server runs)")
        parser.add_argument("--encoder-factory", metavar="MODULE:FUNCTION", default=None,
                            help="without --url: build the encoder by calling this")


def _remote(args: argparse.Namespace) -> tuple[str, str] | None:
    url = args.url or os.environ.get("OCRR_URL")
    if not url:
        return None
    key = args.key or os.environ.get("OCRR_KEY")
    if not key:
        raise SystemExit("ocrr namespace: --url needs --key (or $OCRR_KEY)")
    return url, key


def _encoder(args: argparse.Namespace) -> Any:
    from ocrr.server.app import resolve_encoder

    if getattr(args, "encoder_factory", None):
        return factory(args.encoder_factory)()
    return resolve_encoder(getattr(args, "encoder", "default"))


def _client(args: argparse.Namespace, name: str) -> Client:
    """A client of namespace ``name``: remote with --url, else on the data folder."""
    from ocrr.client import Client, _Local
    from ocrr.server.namespaces import Namespaces

    remote = _remote(args)
    if remote is not None:
        return Client.remote(remote[0], key=remote[1], namespace=name, timeout=300.0)
    registry = registry_of(args)
    namespace = Namespaces(registry, _encoder(args)).get(name)
    return Client(_Local(namespace, owned=True))


def _print(model: Any) -> None:
    data = model.model_dump(mode="json", by_alias=True) if hasattr(model, "model_dump") else model
    print(json.dumps(data, indent=2, ensure_ascii=False))


# -- the commands ----------------------------------------------------------------------------
def _create(args: argparse.Namespace) -> int:
    remote = _remote(args)
    if remote is not None:
        from ocrr.client import Client

        with Client.remote(remote[0], key=remote[1]) as client:
            _print(client.create_namespace(args.name, threshold=args.threshold,
                                           vote=args.vote))
        return EXIT_OK
    from ocrr.server.namespaces import Namespaces

    registry = registry_of(args)
    namespaces = Namespaces(registry, _encoder(args))
    record = namespaces.create(args.name, threshold=args.threshold, vote=args.vote)
    namespaces.close()
    print(json.dumps({"name": record.name, "threshold": record.threshold, "vote": record.vote,
                      "encoder": record.encoder}, indent=2))
    return EXIT_OK


def _load(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    with _client(args, args.name) as client:
        def progress(receipt: Any, last_row: int) -> None:
            if not args.quiet:
                rate = (receipt.upload_rows or 0) / max(time.perf_counter() - started, 1e-9)
                print(f"row {last_row}: {receipt.upload_rows} examples in the upload, ledger "
                      f"size {receipt.ledger_size} ({rate:,.0f} rows/s)", file=sys.stderr)

        status = client.load_csv(args.file, upload=args.upload, actor=args.actor,
                                 chunk_rows=args.chunk_rows, progress=progress)
    seconds = time.perf_counter() - started
    print(json.dumps({**status.model_dump(mode="json"), "seconds": round(seconds, 3)},
                     indent=2))
    return EXIT_OK


def _stats(args: argparse.Namespace) -> int:
    with _client(args, args.name) as client:
        _print(client.stats())
    return EXIT_OK


def _relabel(args: argparse.Namespace) -> int:
    with _client(args, args.name) as client:
        _print(client.relabel(args.old, args.new, reason=args.reason, actor=args.actor))
    return EXIT_OK


def _retire(args: argparse.Namespace) -> int:
    with _client(args, args.name) as client:
        _print(client.retire(args.label, reason=args.reason, actor=args.actor))
    return EXIT_OK


def _changes(args: argparse.Namespace) -> int:
    with _client(args, args.name) as client:
        _print(client.changes(args.start, args.stop))
    return EXIT_OK


def _vote(args: argparse.Namespace) -> int:
    with _client(args, args.name) as client:
        if args.rule is None:
            _print(client.vote())
            return EXIT_OK
        params: dict[str, Any] = {}
        for pair in args.param:
            key, _, value = pair.partition("=")
            params[key] = json.loads(value) if value else value
        _print(client.set_vote(args.rule, actor=args.actor, **params))
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    from ocrr.server.backup import export_namespace

    registry = registry_of(args)
    with open(args.output, "w", encoding="utf-8") as out:
        header = export_namespace(registry, args.name, out, with_keys=args.with_keys)
    print(json.dumps({"exported": args.name, "size": header["size"],
                      "root_hash": header["root_hash"], "file": args.output}, indent=2))
    return EXIT_OK


def _import(args: argparse.Namespace) -> int:
    from ocrr.server.backup import import_namespace

    registry = registry_of(args)
    with open(args.input, encoding="utf-8") as lines:
        header = import_namespace(registry, lines, args.name)
    print(json.dumps({"imported": args.name or header["namespace"]["name"],
                      "size": header["size"], "root_hash": header["root_hash"]}, indent=2))
    return EXIT_OK


def _reencode(args: argparse.Namespace) -> int:
    from ocrr.server.move import move_namespace
    from ocrr.server.registry import Registry

    if not args.encoder and not args.encoder_factory:
        raise SystemExit("ocrr namespace reencode: say the new encoder: --encoder NAME")
    registry = Registry(_where(args))
    moved = move_namespace(registry, args.name, _encoder(args), batch=args.batch,
                           actor=args.actor)
    registry.close()
    print(json.dumps(moved.__dict__, indent=2))
    return EXIT_OK


def _sqlite_folder(args: argparse.Namespace) -> str | None:
    """The data folder to copy, or None (said on stderr) for PostgreSQL: pg_dump's job."""
    from ocrr.server.backup import PG_DUMP_HINT

    where = _where(args)
    if where.startswith(("postgresql://", "postgres://")):
        print(PG_DUMP_HINT, file=sys.stderr)
        return None
    return where


def _backup(args: argparse.Namespace) -> int:
    from ocrr.server.backup import backup

    where = _sqlite_folder(args)
    if where is None:
        return EXIT_USAGE
    copies = backup(where, args.dest, keys_dir=args.keys_dir)
    print(json.dumps({"backup": args.dest, "ledgers": [c.__dict__ for c in copies]}, indent=2))
    return EXIT_OK


def _restore(args: argparse.Namespace) -> int:
    from ocrr.server.backup import restore

    where = _sqlite_folder(args)
    if where is None:
        return EXIT_USAGE
    copies = restore(args.source, where, force=args.force, keys_dir=args.keys_dir)
    print(json.dumps({"restored": where, "verified": [c.__dict__ for c in copies]}, indent=2))
    return EXIT_OK


def _bench(args: argparse.Namespace) -> int:
    from ocrr.server import loadbench

    if args.what == "speed":
        loadbench.speed(args.rows or 10_000, args.encoder, full=not args.no_full)
    elif args.what == "reencode":
        from ocrr.server.loadbench import reencode

        reencode(args.rows or 10_000, args.encoder, args.to)
    elif args.what == "memory":
        loadbench.memory(tuple(args.sizes or (10_000, 100_000, 1_000_000)))
    elif args.what == "predict":
        loadbench.predict(args.rows or 1500, args.encoder)
    else:
        loadbench.asof(args.rows or 20_000)
    return EXIT_OK


def _run(handler: Any) -> Any:
    """Run a command; refusals (API errors, bad files) print their message and exit 1."""

    def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
        from ocrr.datasets import DatasetError
        from ocrr.ledger import LedgerError
        from ocrr.server.backup import BackupError
        from ocrr.server.errors import ApiError
        from ocrr.server.move import MoveError

        try:
            return int(handler(args))
        except ApiError as err:
            print(f"ocrr namespace {args.namespace_command}: {err.message} "
                  f"({err.status} {err.code})", file=sys.stderr)
        except (DatasetError, LedgerError, BackupError, MoveError, OSError) as err:
            print(f"ocrr namespace {args.namespace_command}: {err}", file=sys.stderr)
        return EXIT_FAIL

    return run


def add_parser(sub: argparse._SubParsersAction) -> None:
    ns = sub.add_parser(
        "namespace", help="create, load (CSV), inspect, relabel, retire, export, import, "
        "back up and restore namespaces",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None)
    commands = ns.add_subparsers(dest="namespace_command", required=True)

    def command(name: str, handler: Any, help: str, *, encoder: bool = True,
                target: bool = True) -> argparse.ArgumentParser:
        parser = commands.add_parser(name, help=help, description=help)
        if target:
            _target_options(parser, encoder=encoder)
        else:
            _location_options(parser)
        parser.set_defaults(handler=_run(handler))
        return parser

    create = command("create", _create, "create a namespace (its own classifier and ledger)")
    create.add_argument("name")
    create.add_argument("--threshold", type=float, default=None,
                        help="abstain (label 'unknown') below this confidence")
    create.add_argument("--vote", default="hybrid", choices=["hybrid", "band"])

    load = command("load", _load, "load a text,label CSV as fit examples (as Substrate.fit), "
                   "in resumable chunks")
    load.add_argument("name")
    load.add_argument("file", help="UTF-8 CSV with a header naming 'text' and 'label'")
    load.add_argument("--upload", default=None,
                      help="the upload id (default: from the file's contents; the same id "
                      "resumes an interrupted load)")
    load.add_argument("--actor", default=None, help="who loads (stored in the ledger)")
    load.add_argument("--chunk-rows", type=int, default=1000,
                      help="rows a chunk (one transaction; default 1000; a resumed load "
                      "must use the same)")
    load.add_argument("--quiet", "-q", action="store_true", help="no progress lines")

    stats = command("stats", _stats, "entries, classes, storage, recent accuracy")
    stats.add_argument("name")

    relabel = command("relabel", _relabel, "rename a class (into an existing one: merge)")
    relabel.add_argument("name")
    relabel.add_argument("old")
    relabel.add_argument("new")
    retire = command("retire", _retire, "retire a class: its examples stop voting")
    retire.add_argument("name")
    retire.add_argument("label")
    for parser in (relabel, retire):
        parser.add_argument("--reason", default=None)
        parser.add_argument("--actor", default=None)

    changes = command("changes", _changes, "what changed between two ledger sizes")
    changes.add_argument("name")
    changes.add_argument("--from", dest="start", type=int, default=0)
    changes.add_argument("--to", dest="stop", type=int, default=None)

    vote = command("vote", _vote, "show the vote rule, or set it (recorded in the ledger)")
    vote.add_argument("name")
    vote.add_argument("rule", nargs="?", default=None,
                      choices=["hybrid", "band", "band_no_recency", "band_count_only",
                               "sumsim"])
    vote.add_argument("--param", "-p", action="append", default=[], metavar="NAME=VALUE",
                      help="a rule parameter, e.g. -p k=3 -p margin=0.05")
    vote.add_argument("--actor", default=None)

    export = command("export", _export, "write a namespace (settings and ledger) to one "
                     "file; sealed entries stay sealed (their keys only with --with-keys)",
                     target=False)
    export.add_argument("name")
    export.add_argument("--output", "-o", required=True)
    export.add_argument("--with-keys", action="store_true",
                        help="also the live subject keys (the file then opens those "
                        "subjects' entries: keep it as safe as the database)")
    imported = command("import", _import, "create a namespace from an export, checking "
                       "every hash and the Merkle root", target=False)
    imported.add_argument("input")
    imported.add_argument("--name", default=None, help="import under another name")

    move = command("reencode", _reencode, "move a namespace to another encoder (--encoder): "
                   "a new ledger from the old one's texts, each entry citing the old one's "
                   "hash; the old ledger kept as NAME.before-reencode-TIME.db. Stop the "
                   "server first (refused while it holds the namespace); resumable",
                   target=False)
    move.add_argument("name")
    move.add_argument("--encoder", default=None,
                      help="the new encoder (minilm, minilm-int8, wordllama, ...)")
    move.add_argument("--encoder-factory", metavar="MODULE:FUNCTION", default=None,
                      help="build the new encoder by calling this instead")
    move.add_argument("--batch", type=int, default=256, help="texts encoded per commit")
    move.add_argument("--actor", default=None, help="who moves (stored in the record)")

    back = command("backup", _backup, "copy the data folder with SQLite's online backup "
                   "API (safe while the server runs)", target=False)
    back.add_argument("dest", help="a new folder for the copy")
    rest = command("restore", _restore, "restore a backup into the data folder (stop the "
                   "server first) and verify every ledger", target=False)
    rest.add_argument("source", help="a folder 'ocrr namespace backup' wrote")
    rest.add_argument("--force", action="store_true", help="replace an existing data folder")

    bench = command("bench", _bench, "figures: load speed against encoding alone, memory "
                    "of loads of growing files, latency of predictions as of a past size, "
                    "moving a namespace to another encoder, the server's work for one "
                    "prediction",
                    target=False)
    bench.add_argument("what", choices=["speed", "memory", "asof", "reencode", "predict"])
    bench.add_argument("--rows", type=int, default=None,
                       help="speed, reencode: rows loaded (10000); asof: ledger entries "
                       "(20000); predict: CLINC150 queries taught, as ocrr load --seed (1500)")
    bench.add_argument("--sizes", type=int, nargs="+", default=None,
                       help="memory: rows of each file (10000 100000 1000000)")
    bench.add_argument("--encoder", default="default",
                       help="speed, predict: the encoder; reencode: the one moved from")
    bench.add_argument("--to", default="wordllama", help="reencode: the encoder moved to")
    bench.add_argument("--no-full", action="store_true",
                       help="speed: leave out the load that encodes (minutes on 2 cores)")
