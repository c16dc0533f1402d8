"""``ocrr load`` as a library: a real server on loopback, seeded, then measured in phases
(:func:`run_load`); the figures come back as a :class:`LoadReport`.

1. predictions alone: ``clients`` concurrent clients, each with its own read key, one text
   per request;
2. the same with ``correctors`` clients appending corrections as fast as they are
   acknowledged; the ledger must then hold exactly the acknowledged corrections, and verify;
3. (unless ``flood=False``) the flood: one key sends maximal batches (256 texts of 4,000
   characters) back to back while another key predicts single texts; that key's p99 is the
   figure (target < 500 ms on 2 cores: the fair queue and the work budgets);
4. (unless ``crash=False``) corrections and predictions again, the server killed with
   SIGKILL mid-flight, started again: every acknowledged correction must be there, and verify.

The HTTP client and the phases themselves are :mod:`ocrr.server.loadgen`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NAMESPACE = "load"


@dataclass(frozen=True)
class LoadSettings:
    """What ``ocrr load`` measures; the fields are its flags (see ``ocrr load --help``).

    >>> LoadSettings(clients=4).correctors
    2
    """

    encoder: str = "default"
    encoder_factory: str | None = None
    clients: int = 16
    correctors: int = 2
    duration: float = 20.0
    max_requests: int = 20_000
    seed: int = 1500
    crash_after: float = 3.0
    crash: bool = True
    flood: bool = True
    flood_clients: int = 2
    flood_texts: int = 256
    flood_chars: int = 4_000
    database: str | None = None
    server_args: Sequence[str] = field(default_factory=tuple)
    keep: bool = False


@dataclass
class LoadReport:
    """Whether every ledger check passed, and the figures (``--json`` writes them).

    >>> LoadReport(ok=True, figures={"cpus": 2}).figures["cpus"]
    2
    """

    ok: bool
    figures: dict[str, object]


def loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def workload(seed: int) -> tuple[list[tuple[str, str]], list[str], list[tuple[str, str]]]:
    """(seed examples, texts to predict, corrections to append), from CLINC150."""
    from ocrr.datasets import load_dataset

    data = load_dataset("clinc150")
    per_class: dict[str, int] = {}
    quota = max(1, -(-seed // len(set(data.train.labels))))
    taught: list[tuple[str, str]] = []
    for text, label in zip(data.train.texts, data.train.labels, strict=True):
        if per_class.get(label, 0) < quota and len(taught) < seed:
            per_class[label] = per_class.get(label, 0) + 1
            taught.append((text, label))
    test = list(zip(data.test.texts, data.test.labels, strict=True))
    return taught, list(data.test.texts), test


async def run_load(settings: LoadSettings, log: Callable[[str], None] = print) -> LoadReport:
    """Run the phases against a fresh server (a temporary SQLite folder, or
    ``settings.database``); ``log`` receives each line of progress and figures."""
    from ocrr.server.loadgen import ledger_check, request_json, run_phase
    from ocrr.server.process import ServerProcess
    from ocrr.server.registry import Registry

    folder = Path(tempfile.mkdtemp(prefix="ocrr-load-"))
    where = settings.database or str(folder / "data")
    registry = Registry(where)
    if registry.get_namespace(NAMESPACE) is None:
        registry.create_namespace(NAMESPACE)
    token, _ = registry.create_key("admin", name="ocrr load")
    flood_token, _ = registry.create_key("read", NAMESPACE, name="ocrr load flood")
    # a key per predicting client, as separate clients have (one key's rate limit, 1,000
    # requests/s by default, would otherwise cap the server's figure)
    client_keys = [registry.create_key("read", NAMESPACE, name=f"ocrr load client {i}")[0]
                   for i in range(settings.clients)]
    registry.close()
    server = ServerProcess(where, encoder=settings.encoder,
                           encoder_factory=settings.encoder_factory,
                           extra_args=list(settings.server_args),
                           log_path=folder / "server.log")
    taught, texts, corrections = workload(settings.seed)
    figures: dict[str, object] = {
        "cpus": os.cpu_count(), "clients": settings.clients, "correctors": settings.correctors,
        "encoder": settings.encoder_factory or settings.encoder, "load_average_before": loadavg(),
    }
    log(f"ocrr load: {os.cpu_count()} CPUs, load average {loadavg()}; server state in "
        f"{where}")
    ok = True
    run = uuid.uuid4().hex[:8]  # this run's actors: a reused database holds earlier runs'
    try:
        started = time.perf_counter()
        server.start()
        log(f"server up on {server.url} in {time.perf_counter() - started:.1f} s")
        base = f"/v1/namespaces/{NAMESPACE}"
        started = time.perf_counter()
        for i in range(0, len(taught), 250):
            chunk = taught[i : i + 250]
            await request_json(server.url, token, "POST", base + "/corrections/batch", {
                "items": [{"text": t, "label": y} for t, y in chunk],
                "actor": "ocrr-load-seed"})
        log(f"seeded {len(taught)} examples in {time.perf_counter() - started:.1f} s")
        await run_phase(server.url, token, NAMESPACE, name="warm-up", clients=2,
                        duration=2.0, max_requests=50, texts=texts)

        pid = server.pid
        common: dict[str, Any] = {"clients": settings.clients, "duration": settings.duration,
                  "max_requests": settings.max_requests, "texts": texts,
                  "client_keys": client_keys}
        alone = await run_phase(server.url, token, NAMESPACE, name="phase 1, predictions",
                                **common, server_pid=pid)
        for line in alone.lines():
            log(line)
        mixed = await run_phase(server.url, token, NAMESPACE,
                                name="phase 2, predictions with corrections", **common,
                                corrections=corrections, correctors=settings.correctors,
                                actor=f"ocrr-load-{run}", server_pid=pid)
        for line in mixed.lines():
            log(line)
        check = await ledger_check(server.url, token, NAMESPACE, f"ocrr-load-{run}",
                                   mixed.acknowledged)
        log(f"  {check.message}: {'OK' if check.exact else 'FAILED'}")
        ok &= check.exact
        figures.update(_figures("phase1", alone), **_figures("phase2", mixed),
                       phase2_ledger_exact=check.exact, phase2_ledger=check.message)
        if settings.flood:
            from ocrr.server.loadgen import run_flood

            flood = await run_flood(server.url, flood_token, token, NAMESPACE,
                                    duration=settings.duration, texts=texts,
                                    flooders=settings.flood_clients,
                                    batch_texts=settings.flood_texts,
                                    batch_chars=settings.flood_chars)
            for line in flood.lines(settings.flood_texts, settings.flood_chars):
                log(line)
            figures.update(
                flood_other_key_p50_ms=round(flood.percentile(50), 1),
                flood_other_key_p99_ms=round(flood.percentile(99), 1),
                flood_other_key_predictions=len(flood.latencies),
                flood_other_key_errors=flood.errors,
                flood_batches_accepted=flood.batches_accepted,
                flood_batches_refused=flood.batches_refused,
                load_average_after_flood=loadavg())
        if settings.crash:
            crash_ok, crash_message = await _crash_phase(settings, server, token, texts,
                                                         corrections[len(mixed.acknowledged):],
                                                         f"ocrr-load-crash-{run}")
            log(f"crash phase, kill -9 under load: {crash_message}: "
                f"{'OK' if crash_ok else 'FAILED'}")
            ok &= crash_ok
            figures.update(crash_ok=crash_ok, crash=crash_message)
    finally:
        server.stop()
        figures["load_average_after"] = loadavg()
        log(f"load average now {loadavg()}")
        if settings.keep:
            log(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return LoadReport(ok, figures)


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


async def _crash_phase(settings: LoadSettings, server, token: str, texts,  # noqa: ANN001
                       corrections, actor: str) -> tuple[bool, str]:
    """Load, SIGKILL mid-flight, restart; every acknowledged correction must be there."""
    from ocrr.server.loadgen import ledger_check, run_phase

    stop = asyncio.Event()
    phase = asyncio.create_task(run_phase(
        server.url, token, NAMESPACE, name="phase 3", clients=settings.clients,
        duration=settings.crash_after + 30, max_requests=settings.max_requests, texts=texts,
        corrections=corrections or [("fallback text", "fallback")],
        correctors=max(1, settings.correctors), actor=actor, stop=stop))
    await asyncio.sleep(settings.crash_after)
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

