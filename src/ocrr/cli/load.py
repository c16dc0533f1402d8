"""``ocrr load``: throughput, latency and durability of the service, measured on loopback.

By default it is self-contained: a temporary data folder, a namespace seeded with CLINC150
training queries, a real ``ocrr serve`` child process on 127.0.0.1, then

1. predictions alone: ``--clients`` concurrent clients, one text per request;
2. the same with ``--correctors`` clients appending corrections as fast as they are
   acknowledged; the ledger must then hold exactly the acknowledged corrections, and verify;
3. (unless ``--no-crash``) corrections and predictions again, the server killed with SIGKILL
   mid-flight, started again: every acknowledged correction must be there, and verify.

Every phase is bounded by ``--duration`` seconds and ``--max-requests``. The figures depend
on the machine's load: the load average is printed beside them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

NAMESPACE = "load"


def add_parser(sub: argparse._SubParsersAction) -> None:
    load = sub.add_parser(
        "load",
        help="measure the service on loopback: predictions/s, p50/p99, corrections/s, "
        "exactly-once ledger contents, and recovery from kill -9",
    )
    load.add_argument("--encoder", default="default",
                      help="the server's encoder (default: offline all-MiniLM-L6-v2)")
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
                      help="seconds of load before the SIGKILL in phase 3")
    load.add_argument("--no-crash", action="store_true", help="skip phase 3")
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


def _loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.clients < 1 or args.correctors < 0 or args.duration <= 0 or args.seed < 0:
        parser.error("--clients must be positive, --correctors and --seed non-negative, "
                     "--duration positive")
    if args.max_requests < 1:
        parser.error("--max-requests must be positive")
    return asyncio.run(_run(args))


def _workload(seed: int) -> tuple[list[tuple[str, str]], list[str], list[tuple[str, str]]]:
    """(seed examples, texts to predict, corrections to append), from CLINC150."""
    from ocrr.datasets import load_dataset

    data = load_dataset("clinc150")
    per_class: dict[str, int] = {}
    quota = max(1, -(-seed // len(set(data.train.labels))))
    taught = []
    for text, label in zip(data.train.texts, data.train.labels, strict=True):
        if per_class.get(label, 0) < quota and len(taught) < seed:
            per_class[label] = per_class.get(label, 0) + 1
            taught.append((text, label))
    test = list(zip(data.test.texts, data.test.labels, strict=True))
    return taught, list(data.test.texts), test


async def _run(args: argparse.Namespace) -> int:
    from ocrr.server.loadgen import ledger_check, request_json, run_phase
    from ocrr.server.process import ServerProcess
    from ocrr.server.registry import Registry

    folder = Path(tempfile.mkdtemp(prefix="ocrr-load-"))
    where = args.database or str(folder / "data")
    registry = Registry(where)
    if registry.get_namespace(NAMESPACE) is None:
        registry.create_namespace(NAMESPACE)
    token, _ = registry.create_key("admin", name="ocrr load")
    registry.close()
    server = ServerProcess(where, encoder=args.encoder, encoder_factory=args.encoder_factory,
                           extra_args=args.server_arg, log_path=folder / "server.log")
    taught, texts, corrections = _workload(args.seed)
    figures: dict[str, object] = {
        "cpus": os.cpu_count(), "clients": args.clients, "correctors": args.correctors,
        "encoder": args.encoder_factory or args.encoder, "load_average_before": _loadavg(),
    }
    print(f"ocrr load: {os.cpu_count()} CPUs, load average {_loadavg()}; server state in "
          f"{where}", flush=True)
    ok = True
    run = uuid.uuid4().hex[:8]  # this run's actors: a reused database holds earlier runs'
    try:
        started = time.perf_counter()
        server.start()
        print(f"server up on {server.url} in {time.perf_counter() - started:.1f} s", flush=True)
        base = f"/v1/namespaces/{NAMESPACE}"
        started = time.perf_counter()
        for i in range(0, len(taught), 250):
            chunk = taught[i : i + 250]
            await request_json(server.url, token, "POST", base + "/corrections/batch", {
                "items": [{"text": t, "label": y} for t, y in chunk],
                "actor": "ocrr-load-seed"})
        print(f"seeded {len(taught)} examples in {time.perf_counter() - started:.1f} s",
              flush=True)
        await run_phase(server.url, token, NAMESPACE, name="warm-up", clients=2,
                        duration=2.0, max_requests=50, texts=texts)

        common = {"clients": args.clients, "duration": args.duration,
                  "max_requests": args.max_requests, "texts": texts}
        alone = await run_phase(server.url, token, NAMESPACE, name="phase 1, predictions",
                                **common, server_pid=server.process.pid)
        for line in alone.lines():
            print(line, flush=True)
        mixed = await run_phase(server.url, token, NAMESPACE,
                                name="phase 2, predictions with corrections", **common,
                                corrections=corrections, correctors=args.correctors,
                                actor=f"ocrr-load-{run}", server_pid=server.process.pid)
        for line in mixed.lines():
            print(line, flush=True)
        check = await ledger_check(server.url, token, NAMESPACE, f"ocrr-load-{run}",
                                   mixed.acknowledged)
        print(f"  {check.message}: {'OK' if check.exact else 'FAILED'}", flush=True)
        ok &= check.exact
        figures.update(_figures("phase1", alone), **_figures("phase2", mixed),
                       phase2_ledger_exact=check.exact, phase2_ledger=check.message)
        if not args.no_crash:
            crash_ok, crash_message = await _crash_phase(args, server, token, texts,
                                                         corrections[len(mixed.acknowledged):],
                                                         f"ocrr-load-crash-{run}")
            print(f"phase 3, kill -9 under load: {crash_message}: "
                  f"{'OK' if crash_ok else 'FAILED'}", flush=True)
            ok &= crash_ok
            figures.update(crash_ok=crash_ok, crash=crash_message)
    finally:
        server.stop()
        figures["load_average_after"] = _loadavg()
        print(f"load average now {_loadavg()}", flush=True)
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0 if ok else 1


def _figures(prefix: str, phase) -> dict[str, object]:  # noqa: ANN001 - a PhaseResult
    return {
        f"{prefix}_predictions_per_second": round(phase.predictions_per_second, 1),
        f"{prefix}_p50_ms": round(phase.percentile(50), 1),
        f"{prefix}_p99_ms": round(phase.percentile(99), 1),
        f"{prefix}_predict_errors": phase.predict_errors,
        f"{prefix}_corrections_per_second": round(phase.corrections_per_second, 1),
        f"{prefix}_correction_p50_ms": round(phase.percentile(50, True), 1)
        if phase.correction_latencies else None,
        f"{prefix}_correction_p99_ms": round(phase.percentile(99, True), 1)
        if phase.correction_latencies else None,
        f"{prefix}_correction_errors": phase.correction_errors,
        f"{prefix}_server_cpu_s": None if phase.server_cpu is None else round(phase.server_cpu, 2),
        f"{prefix}_server_cpu_ms_per_request": None if phase.server_cpu_ms_per_request is None
        else round(phase.server_cpu_ms_per_request, 2),
        f"{prefix}_client_cpu_s": round(phase.client_cpu, 2),
    }


async def _crash_phase(args, server, token: str, texts, corrections,  # noqa: ANN001
                       actor: str) -> tuple[bool, str]:
    """Load, SIGKILL mid-flight, restart; every acknowledged correction must be there."""
    from ocrr.server.loadgen import ledger_check, run_phase

    stop = asyncio.Event()
    phase = asyncio.create_task(run_phase(
        server.url, token, NAMESPACE, name="phase 3", clients=args.clients,
        duration=args.crash_after + 30, max_requests=args.max_requests, texts=texts,
        corrections=corrections or [("fallback text", "fallback")],
        correctors=max(1, args.correctors), actor=actor, stop=stop))
    await asyncio.sleep(args.crash_after)
    await asyncio.to_thread(server.kill)
    await asyncio.sleep(0.3)
    stop.set()
    result = await phase
    started = time.perf_counter()
    await asyncio.to_thread(server.start)
    restart = time.perf_counter() - started
    check = await ledger_check(server.url, token, NAMESPACE, actor, result.acknowledged)
    # a correction in flight at the kill may have committed without its answer: allowed
    return check.durable, (f"{len(result.acknowledged)} corrections acknowledged before the "
                           f"kill; restarted in {restart:.1f} s; {check.message}")

