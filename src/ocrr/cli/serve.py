"""``ocrr serve`` (the HTTP service) and ``ocrr keys ...`` (its API keys).

Where the service keeps its state: ``--data DIR`` (SQLite: ``DIR/registry.db`` and one
ledger file per namespace; the default, ``./ocrr-data``) or ``--database postgresql://...``
(one schema for the registry, one per namespace; several replicas may share it). Both also
read ``$OCRR_DATA`` / ``$OCRR_DATABASE``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from dataclasses import fields, replace
from typing import Any

EXIT_OK, EXIT_USAGE = 0, 2


def _location_options(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--data", default=None,
                       help="data folder for the embedded SQLite store (default: $OCRR_DATA "
                       "or ./ocrr-data)")
    where.add_argument("--database", default=None,
                       help="a postgresql:// URL instead (default: $OCRR_DATABASE)")
    parser.add_argument("--keys-dir", default=os.environ.get("OCRR_KEYS_DIR"),
                        help="keep each namespace's subject keys apart from its ledger, in "
                        "DIR/<namespace>.keys.db (0600, DIR 0700); back DIR up with the data "
                        "(default: $OCRR_KEYS_DIR; none: keys beside the entries)")


def _where(args: argparse.Namespace) -> str:
    if args.database:
        return args.database
    if args.data:
        return args.data
    return os.environ.get("OCRR_DATABASE") or os.environ.get("OCRR_DATA") or "ocrr-data"


def registry_of(args: argparse.Namespace):  # noqa: ANN201 - a Registry
    """The registry the location options name, with its ``--keys-dir``."""
    from ocrr.server.registry import Registry

    return Registry(_where(args), keys_dir=args.keys_dir)


def add_parser(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser(
        "serve", help="run the classifier as an HTTP service (FastAPI + uvicorn)",
        description="Serve namespaces (one classifier and ledger each) over HTTP: "
        "OpenAPI at /openapi.json, routes under /v1. Make keys with 'ocrr keys create'.",
    )
    _location_options(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on "
                       "(default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--encoder", default="default",
                       help="'default' (offline all-MiniLM-L6-v2), 'minilm-int8', "
                       "'use-multilingual', 'wordllama' or 'mpnet' (ocrr encoders --info), "
                       "or a sentence-transformers "
                       "name or folder; every namespace uses it")
    serve.add_argument("--encoder-factory", metavar="MODULE:FUNCTION", default=None,
                       help="build the encoder by calling this instead (any object with "
                       "identity and encode(texts))")
    serve.add_argument("--signing-key", metavar="KEY",
                       help="sign tree heads with this Ed25519 key ('ocrr ledger keygen')")
    serve.add_argument("--rate-limit", type=float, default=None,
                       help="requests per second per key (0: off; default 1000)")
    serve.add_argument("--text-rate", type=float, default=None,
                       help="texts per second per key, predicted or corrected (0: off; "
                       "default 1000)")
    serve.add_argument("--char-rate", type=float, default=None,
                       help="characters per second per key (0: off; default 250000)")
    serve.add_argument("--encode-batch-chars", type=int, default=None,
                       help="most characters in one encoding batch (texts x the longest's "
                       "16 + length up to 1024; default 2048): bounds how long one key's "
                       "long texts hold the encoder before another key's turn")
    serve.add_argument("--max-body-bytes", type=int, default=None,
                       help="largest request body (default 1 MiB)")
    serve.add_argument("--encode-batch", type=int, default=None,
                       help="most texts encoded together (default 64)")
    serve.add_argument("--encode-workers", type=int, default=None,
                       help="batches encoded side by side, one model copy each (default 2)")
    serve.add_argument("--encode-inline", choices=["auto", "on", "off"], default="auto",
                       help="encode a request of one short text at once on the event loop "
                       "(auto: for static embedding models such as wordllama)")
    serve.add_argument("--encoder-backend", choices=["auto", "torch", "onnx"], default=None,
                       help="what runs the encoder: ONNX Runtime (the same vectors, less "
                       "CPU; exported once into the cache folder) or PyTorch (default auto: "
                       "ONNX Runtime where installed)")
    serve.add_argument("--encoder-threads", type=int, default=None,
                       help="torch threads (default: the cores shared among the workers)")
    serve.add_argument("--refresh-interval", type=float, default=None,
                       help="most seconds predictions lag other replicas' corrections "
                       "(default 0.25; 0 with --workers above 1: every answer reflects every "
                       "acknowledged correction)")
    serve.add_argument("--forwarded-allow-ips", metavar="ADDRESSES", default=None,
                       help="believe X-Forwarded-For/-Proto only from these proxies (comma "
                       "list, or '*'); default: from nobody, loopback included")
    serve.add_argument("--docs", action="store_true",
                       help="serve Swagger UI at /docs and ReDoc at /redoc (their pages load "
                       "scripts from a CDN); /openapi.json is always served")
    cookies = serve.add_mutually_exclusive_group()
    cookies.add_argument("--secure-cookies", dest="secure_cookies", action="store_true",
                         default=None, help="mark the console's cookies Secure (default: on "
                         "unless listening on loopback only)")
    cookies.add_argument("--no-secure-cookies", dest="secure_cookies", action="store_false",
                         help="Secure only on requests that came by https")
    serve.add_argument("--http", choices=["auto", "httptools", "h11"], default="auto",
                       help="uvicorn's HTTP parser (default auto: httptools where installed, "
                       "the 'server' extra installs it; h11 is pure Python)")
    serve.add_argument("--loop", choices=["auto", "uvloop", "asyncio"], default="auto",
                       help="the event loop (default auto: uvloop where installed, the "
                       "'server' extra installs it)")
    serve.add_argument("--workers", type=int, default=1,
                       help="server processes accepting from one port (default 1); rate "
                       "limits and /metrics speak for the whole server; above 1 the review "
                       "console is off (docs/architecture.md, \"Workers\")")
    serve.add_argument("--log-level", default="warning",
                       choices=["critical", "error", "warning", "info", "debug"])
    serve.set_defaults(handler=_serve)

    keys = sub.add_parser("keys", help="create, list and revoke the service's API keys",
                          description="API keys for 'ocrr serve'. The secret is printed "
                          "once, on stdout; the registry keeps only its SHA-256.")
    commands = keys.add_subparsers(dest="keys_command", required=True)
    create = commands.add_parser("create", help="make a key and print its secret")
    _location_options(create)
    create.add_argument("--scope", default="read",
                        choices=["read", "write", "admin", "metrics"],
                        help="read: predict and audit one namespace; write: also correct, "
                        "revoke, erase; admin: everything, namespaces and keys; metrics: "
                        "/v1/metrics only")
    create.add_argument("--namespace", "-n", help="the namespace (read and write keys)")
    create.add_argument("--create-namespace", action="store_true",
                        help="create the namespace first if it does not exist")
    create.add_argument("--threshold", type=float, default=None,
                        help="with --create-namespace: its abstention threshold")
    create.add_argument("--name", help="a note saying who or what the key is for")
    create.set_defaults(handler=_keys_create)
    listing = commands.add_parser("list", help="list keys (never their secrets)")
    _location_options(listing)
    listing.set_defaults(handler=_keys_list)
    revoke = commands.add_parser("revoke", help="revoke a key by its id")
    _location_options(revoke)
    revoke.add_argument("key_id")
    revoke.set_defaults(handler=_keys_revoke)


def factory(spec: str):  # noqa: ANN201 - a callable making encoders
    """``MODULE:FUNCTION`` → the function (called once per encoding worker)."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError(f"--encoder-factory {spec!r}: expected MODULE:FUNCTION")
    made = getattr(importlib.import_module(module_name), attr)
    if not callable(made):
        raise ValueError(f"--encoder-factory {spec!r} is not callable")
    return made


def _serve(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ocrr.server.config import ServerSettings

    overrides = {
        "rate_limit": args.rate_limit,
        "text_rate": args.text_rate,
        "char_rate": args.char_rate,
        "encode_batch_chars": args.encode_batch_chars,
        "max_body_bytes": args.max_body_bytes,
        "encode_batch": args.encode_batch,
        "encoder_threads": args.encoder_threads,
        "encoder_backend": args.encoder_backend,
        "encode_workers": args.encode_workers,
        "encode_inline": {"on": True, "off": False}.get(args.encode_inline),
        # behind several workers a client's next request may reach another one: every
        # answer checks the ledger's head (ocrr.server.workers), unless told otherwise
        "refresh_interval": (args.refresh_interval if args.refresh_interval is not None
                             else 0.0 if args.workers > 1 else None),
        "forwarded_allow_ips": args.forwarded_allow_ips,
        "docs": args.docs or None,
        "console": False if args.workers > 1 else None,  # one process's sessions and queue
        "secure_cookies": (args.secure_cookies if args.secure_cookies is not None
                           else not is_loopback(args.host)),
    }
    known = {f.name for f in fields(ServerSettings)}
    settings = ServerSettings(**{k: v for k, v in overrides.items()
                                 if v is not None and k in known})
    if not 0 < args.port < 65536:
        parser.error("--port must be in 1..65535")
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.workers > 1 and not hasattr(os, "fork"):
        parser.error("--workers above 1 needs os.fork (Linux, macOS): run one process per "
                     "port and a proxy in front instead")
    try:
        encoder = factory(args.encoder_factory) if args.encoder_factory else args.encoder
    except (ImportError, AttributeError, ValueError) as err:
        parser.error(f"--encoder-factory: {err}")
    signing_key = None
    if args.signing_key:
        from ocrr.ledger.signing import load_private_key

        signing_key = load_private_key(args.signing_key)

    # before torch loads: its OpenMP threads sleep when idle instead of spinning against the
    # HTTP side (numpy's BLAS is already loaded: the app limits it with threadpoolctl)
    from ocrr.server.app import default_workers
    from ocrr.server.batching import available_cores

    encode_workers = settings.encode_workers or default_workers()
    # the cores shared among every encoding worker of every server worker (N server
    # workers each taking all the cores would oversubscribe them: spinning threads)
    threads = settings.encoder_threads or max(
        1, available_cores() // (encode_workers * args.workers))
    if args.workers > 1 and settings.encoder_threads is None:
        settings = replace(settings, encoder_threads=threads)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))

    import uvicorn

    from ocrr.server.app import create_app

    def make_app(workers: Any = None):  # noqa: ANN202 - a FastAPI app
        return create_app(registry_of(args), encoder=encoder, settings=settings,
                          signing_key=signing_key, workers=workers)

    if args.workers > 1:
        return _serve_workers(args, make_app)
    try:
        app = make_app()
    except (ValueError, OSError) as err:
        print(f"ocrr serve: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    print(f"ocrr serve: {_where(args)} on http://{args.host}:{args.port} "
          "(OpenAPI at /openapi.json)", file=sys.stderr, flush=True)
    uvicorn.run(app, **uvicorn_options(args))
    return EXIT_OK


def _serve_workers(args: argparse.Namespace, make_app: Any) -> int:
    """``--workers N``: bind the port, fork N workers that each build the app and serve
    their socket (:mod:`ocrr.server.workers`)."""
    import uvicorn

    from ocrr.server.workers import WorkerShare, bind, run_workers

    try:
        sockets = bind(args.host, args.port, args.workers)
    except OSError as err:
        print(f"ocrr serve: error: cannot listen on {args.host}:{args.port}: {err}",
              file=sys.stderr)
        return EXIT_USAGE
    share = WorkerShare.create()  # before the fork: every worker maps the same tables

    def serve(index: int, listening: Any) -> int:
        try:
            app = make_app(share.worker(index))
        except (ValueError, OSError) as err:
            print(f"ocrr serve: error: {err}", file=sys.stderr)
            return EXIT_USAGE
        server = uvicorn.Server(uvicorn.Config(app, **uvicorn_options(args)))
        server.run(sockets=[listening])
        return EXIT_OK if server.started else 3  # 3: what uvicorn.run exits with then

    print(f"ocrr serve: {_where(args)} on http://{args.host}:{args.port} with "
          f"{args.workers} workers (OpenAPI at /openapi.json)", file=sys.stderr, flush=True)
    try:
        return run_workers(sockets, serve)
    finally:
        share.close()


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or name to listen on) reaches this machine only."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def uvicorn_options(args: argparse.Namespace) -> dict[str, Any]:
    """What ``uvicorn.run`` is given. uvicorn's own proxy headers are off: by default it
    believes ``X-Forwarded-For`` from 127.0.0.1; the app believes them only from
    ``--forwarded-allow-ips`` (``ServerSettings.forwarded_allow_ips``)."""
    return {"host": args.host, "port": args.port, "log_level": args.log_level,
            "access_log": False, "timeout_graceful_shutdown": 5, "proxy_headers": False,
            "server_header": False, "http": _http(getattr(args, "http", "auto")),
            "loop": getattr(args, "loop", "auto")}


def _http(choice: str) -> Any:
    """uvicorn's ``http``: httptools (where installed, unless h11 is asked for) writing each
    response in one socket write (:mod:`ocrr.server.coalesce`), or h11."""
    if choice == "h11":
        return "h11"
    try:
        from ocrr.server.coalesce import CoalescingHttpToolsProtocol
    except ImportError:
        if choice == "httptools":
            raise
        return "h11"
    return CoalescingHttpToolsProtocol


def _registry(args: argparse.Namespace):  # noqa: ANN202
    return registry_of(args)


def _keys_create(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ocrr.server.errors import ApiError
    from ocrr.server.keys import NAMESPACED
    from ocrr.server.schemas import NAMESPACE_PATTERN

    if args.scope in NAMESPACED and not args.namespace:
        parser.error(f"a {args.scope} key needs --namespace")
    if args.namespace is not None and not re.fullmatch(NAMESPACE_PATTERN, args.namespace):
        parser.error("--namespace: lower-case letters, digits and _, starting with a "
                         "letter (48 characters at most)")
    if args.threshold is not None and not 0 <= args.threshold <= 1:
        parser.error("--threshold must be in [0, 1]")
    from ocrr.server.registry import check_key_name

    try:
        check_key_name(args.name)
    except ValueError as err:
        parser.error(f"--name: {err}")
    registry = _registry(args)
    try:
        wanted = args.create_namespace and args.namespace
        if wanted and registry.get_namespace(args.namespace) is None:
            registry.create_namespace(args.namespace, threshold=args.threshold)
            print(f"created namespace {args.namespace}", file=sys.stderr)
        token, key = registry.create_key(args.scope, args.namespace, args.name)
    except (ApiError, ValueError) as err:
        print(f"ocrr keys: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        registry.close()
    where = f" for namespace {key.namespace}" if key.namespace else ""
    print(f"key {key.key_id}: scope {key.scope}{where}; the secret (shown only now):",
          file=sys.stderr)
    print(token)
    return EXIT_OK


def _keys_list(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ocrr.names import printable

    registry = _registry(args)
    try:
        keys = registry.list_keys()
    finally:
        registry.close()
    print(f"{'key_id':<17} {'scope':<8} {'namespace':<20} {'state':<8} name")
    for key in keys:
        state = "revoked" if key.revoked else "live"
        # names made before the rule (or written to the registry by hand) may hold escapes:
        # never print them raw
        print(f"{printable(key.key_id):<17} {key.scope:<8} "
              f"{printable(key.namespace or '-'):<20} {state:<8} {printable(key.name or '')}")
    return EXIT_OK


def _keys_revoke(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ocrr.server.errors import ApiError

    registry = _registry(args)
    try:
        key = registry.revoke_key(args.key_id)
    except ApiError as err:
        print(f"ocrr keys: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        registry.close()
    print(f"revoked {key.key_id} (servers stop accepting it within seconds)")
    return EXIT_OK
