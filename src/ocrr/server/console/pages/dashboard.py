"""The dashboard page: the namespace's figures (:mod:`ocrr.server.console.dashboard`),
its statistics and the corrections worth a review."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from ocrr.server.console.access import console_of, page_context, page_namespace
from ocrr.server.console.dashboard import dashboard_figures
from ocrr.server.console.pages.params import NsPath
from ocrr.server.console.rendering import render
from ocrr.server.review import queues_of

router = APIRouter(include_in_schema=False)


@router.get("/ns/{ns}/dashboard")
async def dashboard(request: Request, ns: NsPath) -> Response:
    viewer, namespace = await page_namespace(request, ns)
    index = console_of(request).indexes[ns]
    await run_in_threadpool(index.update, namespace)
    stats = await run_in_threadpool(namespace.stats)
    suspects = (await run_in_threadpool(namespace.suspects))[:20]
    reviews = queues_of(request.app)[ns].reviews()
    return render(
        request, "dashboard.html", **await page_context(request, viewer, ns, "dashboard"),
        stats=stats, suspects=suspects, **dashboard_figures(index, reviews),
    )
