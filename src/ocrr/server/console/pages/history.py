"""The ledger's history in the console: what changed between two ledger sizes, and what the
classifier answered about a text as of any size (with the neighbours it used then): the
auditor's "what did it answer last Tuesday, and why"."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from ocrr.ledger import MAX_TEXT_CHARS
from ocrr.server.console.access import page_context, page_namespace
from ocrr.server.console.pages.params import NsPath
from ocrr.server.console.rendering import render
from ocrr.server.errors import ApiError

router = APIRouter(include_in_schema=False)


def _size(value: str | None, default: int, size: int) -> int:
    if value is None or not value.strip():
        return default
    if not value.strip().isdigit():
        raise ValueError(f"{value!r}: a ledger size is a whole number from 0 to {size}")
    return min(int(value), size)


@router.get("/ns/{ns}/history")
async def history(request: Request, ns: NsPath) -> Response:
    viewer, namespace = await page_namespace(request, ns)
    q = request.query_params
    size = await run_in_threadpool(namespace.size)
    error, changes, answer = None, None, None
    text = q.get("text", "").strip()[:MAX_TEXT_CHARS]
    try:
        start = _size(q.get("from"), max(0, size - 100), size)
        stop = _size(q.get("to"), size, size)
        as_of = _size(q.get("as_of"), size, size)
        changes = await run_in_threadpool(namespace.changes, min(start, stop), stop)
        if text:
            answer = (await run_in_threadpool(namespace.predict_texts_as_of, [text], as_of))[0]
    except ValueError as err:
        error, start, stop, as_of = str(err), 0, size, size
    except ApiError as err:
        error, start, stop, as_of = err.message, 0, size, size
    return render(request, "history.html", **await page_context(request, viewer, ns, "history"),
                  size=size, start=start, stop=stop, as_of=as_of, text=text, changes=changes,
                  answer=answer, error=error)
