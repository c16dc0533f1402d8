"""The app factory: ``create_app(where, encoder=...)`` → a FastAPI application.

Why a factory: the CLI (``ocrr serve``), the tests (with a tiny encoder object and a
temporary folder) and anyone embedding the service build the same app from the same parts:
a registry (namespaces, keys), the namespaces it holds open, one batching encoder shared by
all of them, rate limiters, metrics, the ``/v1`` routes, and the review console at ``/``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from ocrr import __version__
from ocrr.server import console
from ocrr.server.auth import KeyCache, limiters
from ocrr.server.batching import BatchingEncoder, MemoEncoder, available_cores
from ocrr.server.config import ServerSettings
from ocrr.server.errors import ApiError
from ocrr.server.fastpath import FastPredict
from ocrr.server.limits import BodyLimit
from ocrr.server.metrics import Metrics, RequestMetrics
from ocrr.server.namespaces import Namespaces
from ocrr.server.ratelimit import WorkBudget
from ocrr.server.registry import Registry
from ocrr.server.routes import ROUTERS, classify
from ocrr.server.state import ServerState
from ocrr.server.workers import PUBLISH_SECONDS, WorkerShare

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ocrr.encoders import Encoder

log = logging.getLogger("ocrr.server")

DESCRIPTION = """A classifier that learns from each correction at once, over a verifiable
ledger: one classifier and ledger per namespace. Every route but `/v1/health` needs an API
key (`Authorization: Bearer <key>`), made with `ocrr keys create`. Errors answer
`{"error": code, "message": text}` with a 4xx status; nothing is written on a refusal."""

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}


def resolve_encoder(encoder: Encoder | str, backend: str = "auto") -> Encoder:
    """An encoder object, or a name: ``default`` (all-MiniLM-L6-v2, offline) or a
    sentence-transformers name or folder, run by ``backend`` (see
    ``ServerSettings.encoder_backend``). No embedding cache on disk: a server would write a
    file per batch."""
    if not isinstance(encoder, str):
        return encoder
    if encoder == "tfidf":
        raise ValueError("tfidf must be fitted on a corpus: pass a fitted TfidfEncoder to "
                         "create_app, or use --encoder-factory")
    from ocrr.encoders import get_encoder

    return get_encoder(encoder, cache=False, backend=backend)


def default_workers() -> int:
    return min(2, available_cores())


def _instances(encoder: Encoder | str | Callable[[], Encoder], workers: int,
               backend: str = "auto") -> list[Encoder]:
    """One encoder per worker: a name or a factory makes copies; an object is one."""
    if isinstance(encoder, str):
        return [resolve_encoder(encoder, backend) for _ in range(workers)]
    if callable(encoder) and not hasattr(encoder, "encode"):
        return [encoder() for _ in range(workers)]
    return [encoder]  # type: ignore[list-item]


def create_app(
    where: str | os.PathLike[str] | Registry,
    *,
    encoder: Encoder | str | Callable[[], Encoder] = "default",
    settings: ServerSettings | None = None,
    signing_key: Ed25519PrivateKey | None = None,
    workers: WorkerShare | None = None,
) -> FastAPI:
    """The service over a data folder (SQLite), a ``postgresql://`` URL, or a registry.
    ``encoder``: a name (``default``, a sentence-transformers name or folder), a factory
    (called once per encoding worker), or an encoder object (one worker).
    ``workers``: what this process shares with the other workers of ``ocrr serve --workers
    N`` (the rate limits' tables, the published metrics; made before they were forked);
    default: a server of one process."""
    settings = settings or ServerSettings()
    registry = where if isinstance(where, Registry) else Registry(where)
    encoders = _instances(encoder, settings.encode_workers or default_workers(),
                          settings.encoder_backend)
    memo = MemoEncoder(encoders[0])
    metrics = Metrics()

    def counted(size: int, seconds: float) -> None:
        metrics.batch_texts.observe(size)
        metrics.batch_seconds.observe(seconds)

    shared_limits = workers.limits if workers is not None else None
    limiter, failures = limiters(settings.rate_limit, settings.auth_failure_rate,
                                 shared_limits)
    state = ServerState(
        settings=settings,
        registry=registry,
        namespaces=Namespaces(registry, memo, refresh_interval=settings.refresh_interval,
                              signing_key=signing_key,
                              retry_seconds=settings.quarantine_retry_seconds),
        batcher=BatchingEncoder(memo, encoders[1:], max_batch=settings.encode_batch,
                                max_cost=settings.encode_batch_chars,
                                threads=settings.encoder_threads, on_batch=counted,
                                inline=(settings.encode_inline
                                        if settings.encode_inline is not None
                                        else bool(getattr(encoders[0], "static", False)))),
        keys=KeyCache(registry, settings.key_cache_seconds),
        limiter=limiter,
        failures=failures,
        metrics=metrics,
        budget=WorkBudget(
            settings.text_rate, settings.char_rate,
            text_burst=max(settings.max_batch_texts, settings.max_batch_corrections),
            char_burst=settings.max_body_bytes,
            texts=shared_limits.texts if shared_limits else None,
            chars=shared_limits.chars if shared_limits else None),
        workers=workers,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.blas_threads is not None:
            from threadpoolctl import threadpool_limits

            threadpool_limits(settings.blas_threads, user_api="blas")  # process-wide
        await state.batcher.start()
        await state.batcher.warm()  # load every worker's model before taking traffic
        if settings.preload:
            opened = await run_in_threadpool(state.namespaces.preload)
            log.info("opened %d namespaces", opened)
        tasks = [asyncio.create_task(_sync_settings(state))]
        if workers is not None:
            tasks.append(asyncio.create_task(_publish_metrics(state, workers)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await state.batcher.stop()
            state.namespaces.close()
            registry.close()

    docs = {} if settings.docs else {"docs_url": None, "redoc_url": None}
    app = FastAPI(title="OCRR", version=__version__, description=DESCRIPTION,
                  lifespan=lifespan, **docs)  # type: ignore[arg-type]
    app.state.ocrr = state
    for router in ROUTERS:
        app.include_router(router)
    app.add_exception_handler(ApiError, api_error_response)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
    app.add_middleware(FastPredict, on_error=api_error_response,  # innermost: see fastpath
                       route=next(r for r in classify.router.routes
                                  if getattr(r, "endpoint", None) is classify.predict))
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestMetrics, metrics=metrics)
    if settings.forwarded_allow_ips:  # outermost: limits and logs see the client's address
        from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

        app.add_middleware(ProxyHeadersMiddleware,
                           trusted_hosts=settings.forwarded_allow_ips)
    if settings.console:
        console.mount(app)  # the review console at / (ocrr.server.console)
    else:
        app.add_api_route("/", _no_console, methods=["GET"], include_in_schema=False)
    return app


_NO_CONSOLE = """<!doctype html><meta charset="utf-8"><title>OCRR</title>
<p>The review console is off on this server: it runs several worker processes
(<code>ocrr serve --workers N</code>), and the console's sessions and review queue live in
one process. Serve it from a one-worker server on the same data, for example
<code>ocrr serve --data DATA --port 8001</code>. The API is under <code>/v1</code>.</p>
"""


async def _no_console() -> HTMLResponse:
    return HTMLResponse(_NO_CONSOLE, status_code=503)


async def _sync_settings(state: ServerState) -> None:
    """Thresholds changed through another replica reach this one within a second."""
    while True:
        await asyncio.sleep(state.settings.settings_interval)
        try:
            await run_in_threadpool(state.namespaces.sync_settings)
        except Exception:  # noqa: BLE001 - a registry hiccup must not stop the loop
            log.exception("could not re-read namespace settings")


async def _publish_metrics(state: ServerState, workers: WorkerShare) -> None:
    """This worker's counts, published for the others' ``/metrics`` answers."""
    while True:
        try:
            await run_in_threadpool(workers.publish, state.metrics)
        except OSError:  # a full disk must not stop the loop; the scrape misses a second
            log.exception("could not publish this worker's metrics")
        await asyncio.sleep(PUBLISH_SECONDS)


def _error(status: int, code: str, message: str,
           headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status,
                        headers=headers)


async def api_error_response(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    headers = None
    if exc.retry_after is not None:
        headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
    return _error(exc.status, exc.code, exc.message, headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = exc.errors()
    for problem in problems:
        if problem.get("type") == "json_invalid":
            detail = (problem.get("ctx") or {}).get("error", "")
            return _error(400, "malformed_json", f"the body is not valid JSON: {detail}")
    parts = []
    for problem in problems[:5]:
        where = ".".join(str(p) for p in problem.get("loc", ()))
        parts.append(f"{where}: {problem.get('msg', 'invalid')}")
    more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
    return _error(422, "invalid_request", "; ".join(parts) + more)


def _allowed_methods(path: str) -> str:
    """Every method some route answers at ``path`` (the router names only the first
    route that matched the path, so a 405 would understate ``Allow``)."""
    methods: set[str] = set()
    for router in ROUTERS:
        for route in router.routes:
            regex = getattr(route, "path_regex", None)
            if regex is not None and regex.match(path):
                methods |= set(getattr(route, "methods", None) or ())
    return ", ".join(sorted(methods))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request.url.path) or headers.get("Allow", "")
    return _error(exc.status_code, code, str(exc.detail), headers or None)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error answering %s %s", request.method, request.url.path,
                  exc_info=exc)
    return _error(500, "internal", "internal server error")
