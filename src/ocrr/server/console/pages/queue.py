"""The review queue: recent predictions, least confident first, to accept or correct; and
"try a text", which asks the classifier without queueing or counting the answer."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from ocrr.server.console.access import (
    api_namespace,
    page_context,
    page_namespace,
    problem,
    read_json,
)
from ocrr.server.console.pages.params import NsPath
from ocrr.server.console.rendering import render
from ocrr.server.errors import InvalidRequest, NotFound
from ocrr.server.namespace import Namespace
from ocrr.server.review import QueuedPrediction, ReviewQueue, queues_of, recheck
from ocrr.server.schemas import CorrectionItem
from ocrr.server.state import state_of

QUEUE_PAGE = 50
"""Queue items on the page at once (the script fetches more as they are reviewed)."""
NEIGHBOURS_SHOWN = 5
SUGGESTIONS = 5
router = APIRouter(include_in_schema=False)


def _suggestions(item: QueuedPrediction, labels: list[str]) -> list[str]:
    """Other labels worth a one-key correction: the neighbours', nearest first."""
    out: list[str] = []
    for n in item.answer.neighbours:
        if n.label != item.label and n.label not in out and n.label in labels:
            out.append(n.label)
        if len(out) == SUGGESTIONS:
            break
    return out


def _why(item: QueuedPrediction) -> list[tuple[str, int]]:
    """The shown neighbours' labels with counts, the voters' if any voted: the reason at a
    glance (the full table shows on the selected item)."""
    shown = item.answer.neighbours[:NEIGHBOURS_SHOWN]
    counts: dict[str, int] = {}
    for n in [n for n in shown if n.voted] or shown:
        counts[n.label] = counts.get(n.label, 0) + 1
    return list(counts.items())


async def _queue_view(request: Request, namespace: Namespace, queue: ReviewQueue,
                      limit: int, *, recheck_first: bool) -> dict[str, Any]:
    """The page shows the queue as it stands (fast); the script's refresh, a second later
    and then every few seconds, rechecks it first (after corrections made elsewhere)."""
    if recheck_first:
        await run_in_threadpool(recheck, queue, namespace, wait=False)
    items = queue.pending(limit)
    labels = await run_in_threadpool(namespace.labels)
    return {"items": items, "queued": len(queue), "labels": labels,
            "suggestions": {i.id: _suggestions(i, labels) for i in items},
            "why": {i.id: _why(i) for i in items},
            "shown": NEIGHBOURS_SHOWN}


@router.get("/ns/{ns}/queue")
async def queue_page(request: Request, ns: NsPath) -> Response:
    viewer, namespace = await page_namespace(request, ns)
    view = await _queue_view(request, namespace, queues_of(request.app)[ns], QUEUE_PAGE,
                             recheck_first=False)
    return render(request, "queue.html", **await page_context(request, viewer, ns, "queue"),
                  **view)


@router.get("/ns/{ns}/queue/items")
async def queue_items(request: Request, ns: NsPath, limit: int = QUEUE_PAGE) -> Response:
    viewer, namespace = await api_namespace(request, ns, "read")
    limit = max(1, min(limit, 500))
    view = await _queue_view(request, namespace, queues_of(request.app)[ns], limit,
                             recheck_first=True)
    return render(request, "_queue_items.html", headers={"X-Queue-Count": str(view["queued"])},
                  ns=ns, can_write=viewer.can_write(ns), **view)


@router.post("/ns/{ns}/queue/{item_id}")
async def review(request: Request, ns: NsPath, item_id: int) -> JSONResponse:
    """Accept (the answer was right) or correct (another label) one queued prediction."""
    viewer, namespace = await api_namespace(request, ns, "write")
    body = await read_json(request)
    queue = queues_of(request.app)[ns]
    action = body.get("action")
    if action not in ("accept", "correct"):
        raise InvalidRequest("action must be accept or correct")
    item = queue.take(item_id)
    if item is None:
        raise NotFound("that prediction is no longer queued (reviewed already?)")
    try:
        label = item.label if action == "accept" else body.get("label")
        try:
            correction = CorrectionItem.model_validate({"text": item.text, "label": label})
        except ValidationError as err:
            raise InvalidRequest(f"label: {problem(err)}") from None
        receipt = (await run_in_threadpool(
            lambda: namespace.correct([correction], actor=viewer.actor,
                                      vectors=item.vector[None])
        ))[0]
    except BaseException:
        queue.put_back(item)
        raise
    state_of(request).metrics.corrections.inc(ns)
    queue.reviewed(item, correction.label, seq=receipt.seq, accepted=action == "accept",
                   actor=viewer.actor)
    changes = await run_in_threadpool(recheck, queue, namespace)
    return JSONResponse({
        "seq": receipt.seq, "label": receipt.label, "new_label": receipt.new_label,
        "entry_hash": receipt.entry_hash, "ledger_size": receipt.ledger_size,
        "accepted": action == "accept", "changed": [c.to_dict() for c in changes],
        "queued": len(queue),
    }, status_code=201, headers={"Cache-Control": "no-store"})


@router.post("/ns/{ns}/try")
async def try_text(request: Request, ns: NsPath) -> JSONResponse:
    """Predict a text for the reviewer (not queued, not counted as a prediction)."""
    viewer, namespace = await api_namespace(request, ns, "read")
    body = await read_json(request)
    try:
        text = CorrectionItem.model_validate({"text": body.get("text"), "label": "x"}).text
    except ValidationError as err:
        raise InvalidRequest(f"text: {problem(err)}") from None
    vectors = await state_of(request).batcher.encode([text])
    answer = (await run_in_threadpool(namespace.explain_vectors, vectors))[0]
    return JSONResponse(answer.model_dump(), headers={"Cache-Control": "no-store"})
