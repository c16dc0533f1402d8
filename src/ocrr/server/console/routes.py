"""The console mounted on the service's app: its pages and the few JSON calls its script
makes (:mod:`ocrr.server.console.pages`), its static files, and the error page.

Every page checks the session's key on each request (a revoked key is logged out), every
POST checks the CSRF token and the request's origin, and every write checks the key's
``write`` scope in the namespace, whatever the page showed
(:mod:`ocrr.server.console.access`). Texts, labels, actors and subjects are user data:
templates print them through Jinja's autoescaping (:mod:`ocrr.server.console.rendering`),
and the script puts them in the page with ``textContent`` only.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from ocrr.server.console.access import ConsoleState, PageError
from ocrr.server.console.pages import dashboard, history, ledger, login, queue
from ocrr.server.console.rendering import HERE, SECURITY_HEADERS, render
from ocrr.server.review import queues_of


async def _page_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageError)
    if exc.location is not None:
        return RedirectResponse(exc.location, status_code=303, headers=SECURITY_HEADERS)
    return render(request, "error.html", status=exc.status, message=exc.message, viewer=None,
                  ns=None)


def install(app: FastAPI) -> None:
    app.state.console = ConsoleState()
    queues_of(app)
    # mounting order: signing in, the queue, the ledger, the dashboard
    for router in (login.router, queue.router, ledger.router, history.router,
                   dashboard.router):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="console-static")
    app.add_exception_handler(PageError, _page_error)
