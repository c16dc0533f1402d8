"""The ledger: entries filtered and paged, one entry with its inclusion proof, revocation,
verification (the script's call) and erasure of a subject."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, RedirectResponse, Response

from ocrr.ledger.audit import check_inclusion
from ocrr.ledger.merkle import InclusionProof
from ocrr.ledger.signing import TreeHead
from ocrr.server.console.access import (
    PageError,
    api_namespace,
    console_of,
    form_post,
    page_context,
    page_namespace,
    problem,
)
from ocrr.server.console.pages.params import NsPath
from ocrr.server.console.rendering import SECURITY_HEADERS, render
from ocrr.server.errors import ApiError, InvalidRequest
from ocrr.server.namespace import Namespace
from ocrr.server.schemas import ErasureRequest, RevocationRequest

LEDGER_PAGE = 50
router = APIRouter(include_in_schema=False)


def _when(value: str, what: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    for fmt in ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            moment = datetime.strptime(value, fmt).replace(tzinfo=timezone.utc)
            return int(moment.timestamp() * 1e9)
        except ValueError:
            continue
    raise ValueError(f"{what}: expected a date (YYYY-MM-DD, optionally THH:MM), UTC")


def _entries_at(namespace: Namespace, seqs: list[int]) -> dict[int, Any]:
    out = {}
    for seq in seqs:
        page = namespace.entries(seq, 1)
        if page.entries:
            out[seq] = page.entries[0]
    return out


@router.get("/ns/{ns}/ledger")
async def ledger_page(request: Request, ns: NsPath) -> Response:
    viewer, namespace = await page_namespace(request, ns)
    q = request.query_params
    filters = {name: q.get(name, "").strip() for name in
               ("label", "actor", "subject", "kind", "since", "until")}
    error = None
    try:
        since, until = _when(filters["since"], "from"), _when(filters["until"], "until")
        if until is not None and len(filters["until"]) == 10:
            until += 86_400 * 10**9  # a day given: through its end
        before = int(q["before"]) if q.get("before", "").isdigit() else None
    except ValueError as err:
        error, since, until, before = str(err), None, None, None
    index = console_of(request).indexes[ns]
    await run_in_threadpool(index.update, namespace)
    match = index.find(label=filters["label"] or None, actor=filters["actor"] or None,
                       subject=filters["subject"] or None, kind=filters["kind"] or None,
                       since_ns=since, until_ns=until, before=before, limit=LEDGER_PAGE)
    entries = await run_in_threadpool(_entries_at, namespace, [r.seq for r in match.rows])
    head = await run_in_threadpool(namespace.tree_head)
    labels = await run_in_threadpool(namespace.labels)
    kept = {k: v for k, v in filters.items() if v}
    older = f"?{urlencode({**kept, 'before': match.older})}" if match.older is not None else None
    return render(request, "ledger.html", **await page_context(request, viewer, ns, "ledger"),
                  rows=match.rows, entries=entries, total=match.total, filters=filters,
                  error=error, head=head, older=older, newest=f"?{urlencode(kept)}",
                  paged=before is not None, labels=labels, actors=index.actors(),
                  notice=q.get("notice"))


def _proof_view(namespace: Namespace, seq: int) -> dict[str, Any]:
    head = namespace.tree_head()
    page = namespace.entries(seq, 1)
    if not page.entries:
        raise PageError(404, f"No entry {seq} (the ledger has {page.size}).")
    entry = page.entries[0]
    proof = namespace.prove(seq, head.size)
    # the same check `ocrr ledger check-proof` makes, on what the page shows
    problems = check_inclusion(
        InclusionProof.from_dict(proof.model_dump()),
        entry_hash=bytes.fromhex(entry.entry_hash),
        head=TreeHead(head.size, bytes.fromhex(head.root_hash), head.timestamp_ns),
    )
    return {"entry": entry, "proof": proof, "head": head, "proof_ok": not problems,
            "proof_problems": problems}


@router.get("/ns/{ns}/ledger/{seq}")
async def entry_page(request: Request, ns: NsPath, seq: int) -> Response:
    viewer, namespace = await page_namespace(request, ns)
    if seq < 0:
        raise PageError(404, "No such entry.")
    view = await run_in_threadpool(_proof_view, namespace, seq)
    return render(request, "entry.html", **await page_context(request, viewer, ns, "ledger"),
                  **view, notice=request.query_params.get("notice"), error=None)


@router.post("/ns/{ns}/ledger/{seq}/revoke")
async def revoke(request: Request, ns: NsPath, seq: int) -> Response:
    viewer, namespace, form = await form_post(request, ns, "write")
    error = None
    try:
        body = RevocationRequest(seq=seq, reason=form.get("reason", ""), actor=viewer.actor)
        receipt = await run_in_threadpool(
            lambda: namespace.revoke(body.seq, body.reason, actor=body.actor))
    except ValidationError as err:
        error = f"Reason: {problem(err)}"
    except ApiError as err:
        error = err.message
    if error is None:
        notice = f"Entry {seq} revoked: revocation entry {receipt.seq} appended."
        return RedirectResponse(f"/ns/{ns}/ledger/{seq}?{urlencode({'notice': notice})}",
                                status_code=303, headers=SECURITY_HEADERS)
    view = await run_in_threadpool(_proof_view, namespace, seq)
    return render(request, "entry.html", status=422,
                  **await page_context(request, viewer, ns, "ledger"), **view, notice=None,
                  error=error)


@router.get("/ns/{ns}/verify")
async def verify(request: Request, ns: NsPath) -> JSONResponse:
    """Re-hash every entry and walk the chain; with size and root, against that head."""
    viewer, namespace = await api_namespace(request, ns, "read")
    size, root = request.query_params.get("size"), request.query_params.get("root")
    started = time.perf_counter()
    if size is not None and root is not None:
        if not size.isdigit() or len(root) != 64:
            raise InvalidRequest("size must be a whole number and root 64 hex digits")
        result = await run_in_threadpool(namespace.verify, int(size), root)
    else:
        result = await run_in_threadpool(namespace.verify)
    return JSONResponse({**result.model_dump(), "seconds": time.perf_counter() - started},
                        headers={"Cache-Control": "no-store"})


@router.post("/ns/{ns}/erase")
async def erase(request: Request, ns: NsPath) -> Response:
    """Erase a subject: the first post shows what will happen; the confirmed one does it."""
    viewer, namespace, form = await form_post(request, ns, "write")
    context = await page_context(request, viewer, ns, "ledger")
    subject, reason = form.get("subject", ""), form.get("reason", "").strip() or None
    try:
        body = ErasureRequest(subject=subject, reason=reason, actor=viewer.actor)
    except ValidationError as err:
        return render(request, "erase.html", status=422, **context, subject=subject,
                      reason=reason, rows=[], error=f"Subject: {problem(err)}", done=None)
    index = console_of(request).indexes[ns]
    await run_in_threadpool(index.update, namespace)
    rows = index.subject_rows(body.subject)
    if form.get("confirm") != "yes" or not rows:
        error = None if rows else ("Nothing readable is recorded about that subject (or it "
                                   "was erased already): there is nothing to erase.")
        return render(request, "erase.html", status=200 if rows else 404, **context,
                      subject=body.subject, reason=reason, rows=rows, error=error, done=None)
    try:
        receipt = await run_in_threadpool(
            lambda: namespace.erase(body.subject, reason=body.reason, actor=body.actor))
    except ApiError as err:
        return render(request, "erase.html", status=err.status, **context,
                      subject=body.subject, reason=reason, rows=rows, error=err.message,
                      done=None)
    await run_in_threadpool(index.update, namespace)
    return render(request, "erase.html", **context, subject=None, reason=reason, rows=rows,
                  error=None, done=receipt)
