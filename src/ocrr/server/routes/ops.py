"""Operations: health (the one route without a key) and Prometheus metrics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from ocrr import __version__
from ocrr.server.auth import requires
from ocrr.server.keys import ApiKey
from ocrr.server.metrics import Metrics
from ocrr.server.routes.common import API_PREFIX, errors
from ocrr.server.schemas import Health
from ocrr.server.state import state_of

router = APIRouter(prefix=API_PREFIX, tags=["operations"])


@router.get("/health", response_model=Health, summary="liveness (no key needed)")
async def health(request: Request) -> Health:
    """``ok``, or ``degraded`` when some namespaces are quarantined (their ledgers could not
    be opened; the others serve). Only their number: this route needs no key, so it names
    no tenant (the metrics, behind a key, do)."""
    quarantined = len(state_of(request).namespaces.quarantined())
    return Health(status="degraded" if quarantined else "ok", version=__version__,
                  quarantined=quarantined)


@router.get(
    "/metrics",
    summary="Prometheus metrics (a metrics or admin key)",
    responses={200: {"description": "the Prometheus text format",
                     "content": {"text/plain": {"schema": {"type": "string"}}}},
               **errors(400, 401, 403, 429)},
)
async def metrics(
    request: Request, key: Annotated[ApiKey, Depends(requires("metrics"))]
) -> PlainTextResponse:
    state = state_of(request)

    def gauges() -> list[tuple[str, str, list[tuple[str, float]]]]:
        loaded = state.namespaces.loaded()
        quarantined = state.namespaces.quarantined()
        return [("ocrr_ledger_entries", "entries in the namespace's ledger",
                 [(ns.name, float(ns.size())) for ns in loaded]),
                ("ocrr_namespace_quarantined",
                 "1: the namespace's ledger could not be opened; it answers 503 (the log "
                 "says why)", [(name, 1.0) for name in sorted(quarantined)])]

    counted = state.metrics
    if state.workers is not None:  # the whole server's counts, not this worker's alone:
        # every worker's published counts, this one's published now
        workers = state.workers

        def published() -> list[dict]:
            workers.publish(state.metrics)
            return workers.published()

        counted = Metrics().combined(await run_in_threadpool(published))
    text = counted.render(await run_in_threadpool(gauges))
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4")
