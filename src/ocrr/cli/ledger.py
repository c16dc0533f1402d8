"""``ocrr ledger ...``: verify, prove and audit a ledger from the command line.

A ledger is named by a SQLite file path or a ``postgresql://`` URL: the ``--ledger`` option
(or the ``OCRR_LEDGER`` environment variable); ``verify`` also takes it as its argument.
Exit status: 0 when all is well, 1 when a check fails (verification, a proof, consistency),
2 for unusable input (no such ledger, unreadable files).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ocrr.ledger.audit import Verification

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _CliError(Exception):
    """A message for stderr and exit status 2."""


class _CheckFailed(Exception):
    """A check failed and said so on stdout: exit status 1."""


def add_ledger_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``ledger`` and its subcommands to the main parser's subcommands."""
    ledger = sub.add_parser(
        "ledger",
        help="verify, prove, export and import a durable ledger",
        description="Audit a durable ledger (a SQLite file or a postgresql:// URL).",
    )
    commands = ledger.add_subparsers(dest="ledger_command", required=True)

    def command(name: str, handler: Callable[[argparse.Namespace], int], help_: str,
                *, location: bool = True) -> argparse.ArgumentParser:
        parser = commands.add_parser(name, help=help_, description=help_)
        if location:
            parser.add_argument(
                "--ledger", "-l", default=os.environ.get("OCRR_LEDGER"),
                help="SQLite file or postgresql:// URL (default: $OCRR_LEDGER)",
            )
            parser.add_argument(
                "--keys", "-k", default=os.environ.get("OCRR_KEYS"),
                help="the ledger's separate key store, if it keeps its subject keys apart: "
                     "SQLite file or postgresql:// URL (default: $OCRR_KEYS)",
            )
        parser.set_defaults(handler=lambda args, _parser: _run(handler, args))
        return parser

    verify = command("verify", _verify, "re-hash every entry, walk the chain, check it "
                     "against the head record and the subject keys against the tombstones; "
                     "exit 1 and name the first bad sequence number on failure. It opens the "
                     "ledger read-only, so it works on one refused at open")
    verify.add_argument("path", nargs="?", help="the ledger (instead of --ledger)")
    verify.add_argument("--forensic", action="store_true",
                        help="also list what the check at open finds, then the full "
                        "verification (the ledger is opened read-only either way)")
    verify.add_argument("--head", help="a kept (signed) tree head JSON: also detect truncation "
                        "and rewriting since it was issued")
    verify.add_argument("--public-key", help="check the --head's signature with this key")

    head = command("head", _head, "print the tree head (size, Merkle root, time) as JSON")
    head.add_argument("--sign", metavar="KEY", help="sign it with this Ed25519 private key "
                      "(PEM, see 'ocrr ledger keygen')")
    head.add_argument("--out", help="write it to this file as well")

    prove = command("prove", _prove, "print the inclusion proof of entry SEQ as JSON")
    prove.add_argument("seq", type=int)
    prove.add_argument("--size", type=int, help="tree size to prove against (default: all)")
    prove.add_argument("--out", help="write it to this file as well")

    check = command("check-proof", _check_proof, "check an inclusion proof offline: needs only "
                    "the proof (and a tree head to check it against)", location=False)
    check.add_argument("proof", help="proof JSON from 'ocrr ledger prove'")
    check.add_argument("--head", help="tree head JSON the proof must lead to")
    check.add_argument("--public-key", help="check the --head's signature with this key")

    consistency = command("check-consistency", _check_consistency,
                          "prove the ledger today extends OLD_HEAD: nothing it covered was "
                          "changed or dropped (a consistency proof, and every entry re-hashed)")
    consistency.add_argument("old_head", help="tree head JSON kept earlier")
    consistency.add_argument("--public-key", help="check OLD_HEAD's signature with this key")
    consistency.add_argument("--out", help="write the consistency proof JSON to this file")

    export = command("export", _export, "write every stored entry as JSON lines (sealed "
                     "entries stay sealed; no keys)")
    export.add_argument("--out", "-o", default="-", help="file (default: standard output)")

    import_ = command("import", _import, "append an export's entries, checking every hash "
                      "and link (resumes an interrupted import)")
    import_.add_argument("--in", "-i", dest="source", default="-",
                         help="file (default: standard input)")

    erase = command("erase", _erase, "crypto-shred a subject: write its tombstone, then "
                    "destroy its key (in the separate key store with --keys)")
    erase.add_argument("subject")
    erase.add_argument("--reason", help="why (stored in clear: no personal data)")
    erase.add_argument("--actor", help="who asked (stored in clear)")
    move = command("reencode", _reencode, "move a ledger to another encoder: a new ledger "
                   "(NEW, empty or an interrupted move's, which resumes) from OLD's texts, "
                   "each entry citing the old one's hash; OLD is only read. Erased and "
                   "vector-only examples cannot move: counted", location=False)
    move.add_argument("old", help="the ledger to move (SQLite file or postgresql:// URL)")
    move.add_argument("new", help="where the moved ledger goes")
    move.add_argument("--encoder", required=True,
                      help="the new encoder (minilm, minilm-int8, wordllama, or a "
                      "sentence-transformers name or folder)")
    move.add_argument("--batch", type=int, default=256, help="texts encoded per commit")
    checked = command("verify-move", _verify_move, "check that NEW is a faithful move of "
                      "OLD: the roots recorded, every citation (hash, kind, label, text "
                      "SHA-256), and every old entry moved or with a reason not to",
                      location=False)
    checked.add_argument("old")
    checked.add_argument("new")

    adopt = command("adopt", _adopt, "record a head record for a ledger made before head "
                    "records (or whose record was lost), or sign an unsigned one with "
                    "--sign, after a full verification passes")
    adopt.add_argument("path", nargs="?", help="the ledger (instead of --ledger)")
    adopt.add_argument("--sign", metavar="KEY", help="sign head records with this Ed25519 "
                       "private key from now on (PEM, see 'ocrr ledger keygen')")

    keygen = command("keygen", _keygen, "make an Ed25519 key pair for signing tree heads: "
                     "PREFIX.key (private, mode 0600) and PREFIX.pub", location=False)
    keygen.add_argument("prefix")

    bench = command("bench", _bench, "durable throughput (single and batched corrections) "
                    "and the time to open a large ledger", location=False)
    bench.add_argument("--store", choices=["sqlite", "postgresql", "memory"], default="sqlite")
    bench.add_argument("--path", help="SQLite file to create (default: a temporary folder)")
    bench.add_argument("--dsn", help="postgresql:// URL for --store postgresql")
    bench.add_argument("--dim", type=int, default=384)
    bench.add_argument("--single", type=int, default=300, help="single corrections to time")
    bench.add_argument("--batch", type=int, default=100, help="rows per correct_many call")
    bench.add_argument("--batches", type=int, default=30)
    bench.add_argument("--entries", "--open-size", type=int, default=0,
                       help="fill the ledger to this many entries and time opening it: the "
                       "full and the fast check at open, reading, Substrate.open")
    bench.add_argument("--subjects", action="store_true",
                       help="corrections carry subjects (sealed, AES-GCM)")
    bench.add_argument("--open-only", action="store_true",
                       help="only time the check at open (full, fast, fast with 10,000 "
                       "entries to re-hash) of the existing ledger at --path or --dsn")
    bench.add_argument("--keys-open", type=int, metavar="N", default=0,
                       help="instead, time opening an N-entry ledger with its subject keys "
                       "beside the entries and in a separate key file")
    bench.add_argument("--key-store-only", action="store_true",
                       help="--tamper: only the cases of a ledger whose subject keys live in "
                       "a separate key store")
    bench.add_argument("--tamper", action="store_true",
                       help="instead, the tamper-at-rest suite: alter stored ledgers every "
                       "way it knows and print where each was caught, then count false "
                       "alarms over genuine opens (SQLite, and PostgreSQL with --dsn); exit "
                       "1 if anything was missed")
    bench.add_argument("--trials", type=int, default=20,
                       help="--tamper: trials per alteration and store")
    bench.add_argument("--clean-opens", type=int, default=1000,
                       help="--tamper: genuine opens, each after an ordinary write")


def _run(handler: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    from ocrr.errors import LedgerIntegrityError
    from ocrr.ledger import LedgerError
    from ocrr.ledger.signing import SignatureError

    try:
        return handler(args)
    except _CheckFailed:
        return EXIT_FAILED
    except LedgerIntegrityError as err:
        print(f"FAILED at open: {err}")
        if err.first_bad_seq is not None:
            print(f"first bad sequence number: {err.first_bad_seq}")
        return EXIT_FAILED
    except BrokenPipeError:  # `... | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except (_CliError, LedgerError, SignatureError, OSError) as err:
        print(f"ocrr ledger: error: {err}", file=sys.stderr)
        return EXIT_USAGE


# -- helpers ---------------------------------------------------------------------------------


def _location(args: argparse.Namespace) -> str:
    where = getattr(args, "path", None) or args.ledger
    if not where:
        raise _CliError("say which ledger: --ledger PATH_OR_URL (or set OCRR_LEDGER)")
    return where


def _open(args: argparse.Namespace, *, create: bool = False,  # noqa: ANN202
          read_only: bool = False):
    from ocrr.errors import LedgerIntegrityError, LedgerMissingError
    from ocrr.ledger import Ledger

    where = _location(args)
    try:
        return Ledger.open(where, create=create, read_only=read_only, keys=args.keys)
    except LedgerMissingError as err:
        raise _CliError(f"no ledger at {where}: {err.reason}") from None
    except LedgerIntegrityError:
        raise
    except FileNotFoundError as err:
        raise _CliError(str(err)) from None
    except Exception as err:  # a driver's connection error, a file that is not a ledger
        if isinstance(err, (_CliError, OSError)):
            raise
        raise _CliError(f"cannot open {where}: {err}") from None


def _read_json(path: str) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise _CliError(f"cannot read {path}: {err}") from None
    if not isinstance(data, dict):
        raise _CliError(f"{path} does not hold a JSON object")
    return data


def _load_head(path: str, public_key: str | None):  # noqa: ANN202
    """A kept head; with ``public_key``, only if its signature verifies."""
    from ocrr.ledger.signing import SignedTreeHead, head_from_dict, load_public_key

    try:
        head = head_from_dict(_read_json(path))
    except (KeyError, ValueError) as err:
        raise _CliError(f"{path} is not a tree head: {err}") from None
    if public_key is not None:
        if not isinstance(head, SignedTreeHead):
            raise _CliError(f"{path} is not signed, and --public-key asks for a signature")
        if not head.verify(load_public_key(public_key)):
            print(f"FAILED: the signature on {path} does not verify under {public_key}")
            raise _CheckFailed
    return head


def _emit(data: dict, out: str | None) -> None:
    text = json.dumps(data, indent=2)
    if out:
        Path(out).write_text(text + "\n", encoding="utf-8")
    print(text)


@contextmanager
def _stream(path: str, mode: str):  # noqa: ANN202
    if path == "-":
        yield sys.stdout if "w" in mode else sys.stdin
        return
    with open(path, mode, encoding="utf-8") as handle:
        yield handle


# -- commands --------------------------------------------------------------------------------


def _verify(args: argparse.Namespace) -> int:
    from ocrr.errors import LedgerIntegrityError
    from ocrr.ledger.integrity import check_at_open

    head = _load_head(args.head, args.public_key) if args.head else None
    with _open(args, read_only=True) as ledger:
        if args.forensic:
            try:
                check_at_open(ledger.store)
                print("check at open: passes")
            except LedgerIntegrityError as err:
                print(f"check at open: refuses at entry {err.first_bad_seq}: {err.reason}")
        result = ledger.verify(head)
    if result.ok:
        against = f"; consistent with the kept head of {args.head}" if head else ""
        print(f"ok: {result.size} entries, every hash and link verified{against}")
        return EXIT_OK
    return _failed(result)


def _failed(result: Verification) -> int:
    """Print where verification broke (the line scripts grep for comes second)."""
    print(f"FAILED at entry {result.first_bad_seq}: {result.reason}")
    print(f"first bad sequence number: {result.first_bad_seq}")
    return EXIT_FAILED


def _head(args: argparse.Namespace) -> int:
    from ocrr.ledger.signing import load_private_key

    with _open(args) as ledger:
        if args.sign:
            head = ledger.signed_tree_head(load_private_key(args.sign))
        else:
            head = ledger.tree_head()
    _emit(head.to_dict(), args.out)
    return EXIT_OK


def _prove(args: argparse.Namespace) -> int:
    from ocrr.ledger.merkle import ProofError

    with _open(args) as ledger:
        if not 0 <= args.seq < len(ledger):
            raise _CliError(f"no entry {args.seq}: the ledger has {len(ledger)}")
        try:
            proof = ledger.prove(args.seq, args.size)
        except ProofError as err:
            raise _CliError(str(err)) from None
        entry_hash = ledger.store[args.seq].entry_hash
    _emit({"seq": args.seq, "entry_hash": entry_hash.hex(), **proof.to_dict()}, args.out)
    return EXIT_OK


def _check_proof(args: argparse.Namespace) -> int:
    from ocrr.ledger.audit import check_inclusion
    from ocrr.ledger.merkle import InclusionProof

    data = _read_json(args.proof)
    try:
        proof = InclusionProof.from_dict(data)
        entry_hash = bytes.fromhex(str(data["entry_hash"])) if "entry_hash" in data else None
    except (KeyError, ValueError, TypeError) as err:
        raise _CliError(f"{args.proof} is not an inclusion proof: {err}") from None
    head = _load_head(args.head, args.public_key) if args.head else None
    problems = check_inclusion(proof, entry_hash=entry_hash, head=head)
    if problems:
        print("FAILED: " + "; ".join(problems))
        return EXIT_FAILED
    print(f"ok: entry {proof.index} is in the tree of {proof.tree_size} entries with root "
          f"{proof.root_hash.hex()}")
    return EXIT_OK


def _check_consistency(args: argparse.Namespace) -> int:
    from ocrr.ledger.audit import check_extends

    old = _load_head(args.old_head, args.public_key)
    with _open(args, read_only=True) as ledger:
        check = check_extends(ledger, old)
    proof = check.proof
    if proof is not None and args.out:
        Path(args.out).write_text(json.dumps(proof.to_dict(), indent=2) + "\n")
    if check.consistent and check.stored is not None and not check.stored.ok:
        return _failed(check.stored)
    if not check.ok or proof is None:
        print(f"FAILED: {check.reason}")
        return EXIT_FAILED
    print(f"ok: the ledger ({proof.new_size} entries, root {proof.new_root.hex()}) extends the "
          f"old head ({check.old.size} entries); the consistency proof has {len(proof.path)} "
          "hashes")
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    from ocrr.ledger.transfer import export_jsonl

    with _open(args) as ledger, _stream(args.out, "w") as out:
        count = export_jsonl(ledger, out)
    if args.out != "-":
        print(f"exported {count} entries to {args.out}")
    return EXIT_OK


def _import(args: argparse.Namespace) -> int:
    from ocrr.ledger.transfer import import_jsonl

    with _open(args, create=True) as ledger, _stream(args.source, "r") as source:
        added = import_jsonl(ledger, source)
        total = len(ledger)
    print(f"imported {added} entries; the ledger holds {total}")
    return EXIT_OK


def _erase(args: argparse.Namespace) -> int:
    from ocrr.ledger import LedgerError

    with _open(args) as ledger:
        try:
            tombstone = ledger.erase(args.subject, reason=args.reason, actor=args.actor)
        except LedgerError as err:
            raise _CliError(str(err)) from None
    print(f"erased: tombstone entry {tombstone.seq}, key {tombstone.provenance['erases']} "
          "destroyed")
    return EXIT_OK


def _reencode(args: argparse.Namespace) -> int:
    from ocrr.encoders import get_encoder
    from ocrr.ledger import Ledger, reencode

    encoder = get_encoder(args.encoder, cache=False, backend="auto")  # as ocrr serve
    with Ledger.open(args.old, create=False) as old, Ledger.open(args.new) as new:
        report = reencode(old, new, encoder.encode, identity=encoder.identity,
                          batch=args.batch)
    print(json.dumps(report.as_dict(), indent=2))
    return EXIT_OK


def _verify_move(args: argparse.Namespace) -> int:
    from ocrr.ledger import Ledger, verify_move

    with Ledger.open(args.old, create=False, read_only=True) as old, \
            Ledger.open(args.new, create=False, read_only=True) as new:
        check = verify_move(old, new)
        ok = check.ok and old.verify().ok and new.verify().ok
    print(json.dumps({**check.as_dict(), "ok": ok}, indent=2))
    if not ok:
        raise _CheckFailed
    return EXIT_OK


def _adopt(args: argparse.Namespace) -> int:
    from ocrr.ledger import Ledger
    from ocrr.ledger.signing import load_private_key

    signer = load_private_key(args.sign) if args.sign else None
    with Ledger.open(_location(args), create=False, read_only=True, signer=signer,
                     keys=args.keys) as ledger:
        head = ledger.adopt()
    print(f"adopted: head record of {head.size} entries, root {head.root.hex()}")
    return EXIT_OK


def _keygen(args: argparse.Namespace) -> int:
    from ocrr.ledger.signing import generate_key, key_id, raw_public_key, save_key_pair

    key = generate_key()
    try:
        key_path, pub_path = save_key_pair(key, args.prefix)
    except FileExistsError:
        raise _CliError(f"{args.prefix}.key exists: refusing to overwrite a key") from None
    print(f"wrote {key_path} (private; keep it secret) and {pub_path} (give it to auditors); "
          f"key id {key_id(raw_public_key(key.public_key()))}")
    return EXIT_OK


def _tamper(args: argparse.Namespace) -> int:
    import shutil
    import tempfile

    from ocrr.bench.tamper import postgres_places, run_suite, sqlite_places

    folder = tempfile.mkdtemp(prefix="ocrr-tamper-")
    places = {"sqlite": sqlite_places(folder)}
    if args.dsn:
        places["postgresql"] = postgres_places(args.dsn)
    try:
        ok = run_suite(places, trials=args.trials, opens=args.clean_opens,
                       say=lambda line: print(line, flush=True),
                       key_store_only=args.key_store_only)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return EXIT_OK if ok else EXIT_FAILED


def _bench(args: argparse.Namespace) -> int:
    import shutil
    import tempfile

    from ocrr.bench.ledger_perf import measure_store

    if args.tamper:
        return _tamper(args)
    if args.keys_open:
        from ocrr.bench.keys_open import measure

        scratch = tempfile.mkdtemp(prefix="ocrr-keys-open-")
        try:
            measure(args.keys_open, scratch, dim=args.dim)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return EXIT_OK
    if args.open_only:
        from ocrr.bench.ledger_perf import measure_checks

        where = args.dsn if args.store == "postgresql" else args.path
        if not where:
            raise _CliError("--open-only needs the ledger: --path FILE (or --dsn URL)")
        measure_checks(where, progress=lambda line: print(line, flush=True))
        return EXIT_OK

    folder = None
    if args.store == "postgresql":
        if not args.dsn:
            raise _CliError("--store postgresql needs --dsn postgresql://...")
        where = args.dsn
    elif args.store == "memory":
        raise _CliError("the memory store is measured by 'ocrr perf'; choose sqlite or "
                        "postgresql")
    else:
        if args.path:
            where = args.path
            if Path(where).exists():
                raise _CliError(f"{where} exists: the bench needs a fresh file")
        else:
            folder = tempfile.mkdtemp(prefix="ocrr-bench-")
            where = str(Path(folder) / "bench.db")
    print(f"ledger bench: {args.store} at {where}, dimension {args.dim}", flush=True)
    try:
        measure_store(
            where, dim=args.dim, single=args.single, batch=args.batch, batches=args.batches,
            entries=args.entries, subjects=args.subjects,
            progress=lambda line: print(line, flush=True),
        )
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    return EXIT_OK
