"""A namespace's lifecycle: fit examples uploaded in chunks, the changes between two ledger
sizes, relabels and retirements, and the vote rule (recorded in the ledger).

``POST /examples`` is how a namespace is filled from a labelled file (``ocrr namespace
load``): each chunk is one transaction of fit examples, exactly what ``Substrate.fit``
writes, so the served classifier is the one the benchmark measures. A chunk names its
upload and number; sending it again adds nothing (the answer says ``duplicate``), so a
client retries a chunk whose answer it never got without counting anything twice.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from starlette.concurrency import run_in_threadpool

from ocrr.ledger import MAX_LABEL_CHARS
from ocrr.server.auth import charge_work, key_of
from ocrr.server.lifecycle_schemas import (
    CHUNK_MAX,
    UPLOAD_PATTERN,
    ChangesOut,
    ExampleBatchRequest,
    RelabelRequest,
    RetireRequest,
    UploadReceipt,
    UploadStatus,
    VoteSettingOut,
    VoteSettingRequest,
    vote_params,
)
from ocrr.server.routes.common import API_PREFIX, ERRORS, Admin, NamespacePath, Reader, Writer
from ocrr.server.schemas import NAME_PATTERN, SEQ_MAX, ErrorOut, Receipt
from ocrr.server.state import state_of
from ocrr.server.uploads import parse_chunk

router = APIRouter(prefix=API_PREFIX, tags=["lifecycle"])

def _inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """A pydantic JSON schema with its ``$defs`` references written in place (the spec's
    request body cannot point into them)."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(defs[ref.removeprefix("#/$defs/")])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)


# The spec lists the JSON form (what schemathesis can generate exactly); CSV and JSON lines
# bodies carry the same rows and are refused with the same 422s.
_EXAMPLES_BODY = {
    "requestBody": {
        "required": True,
        "description": "the chunk's rows. Also accepted: `text/csv` (a header naming `text` "
        "and `label`, then one row each) and `application/x-ndjson` (one `{\"text\", "
        "\"label\"}` object a line), with `upload`, `chunk` and `actor` in the query",
        "content": {"application/json": {
            "schema": _inlined(ExampleBatchRequest.model_json_schema())}},
    }
}

Upload = Annotated[str | None, Query(pattern=UPLOAD_PATTERN,
                                     description="the upload this chunk belongs to")]
Chunk = Annotated[int | None, Query(ge=0, le=CHUNK_MAX,
                                    description="the chunk's number within the upload")]
# an actor is a name (ocrr.names): the spec's pattern is the ledger's rule, so what the spec
# allows is accepted
Actor = Annotated[str | None, Query(min_length=1, max_length=MAX_LABEL_CHARS, pattern=NAME_PATTERN,
                                    description="who uploads (stored in clear): no control, "
                                    "zero-width or bidi characters")]


@router.post(
    "/namespaces/{ns}/examples", response_model=UploadReceipt, status_code=201,
    responses={**ERRORS, 415: {"model": ErrorOut, "description": "not CSV, JSON lines or JSON"}},
    openapi_extra=_EXAMPLES_BODY,
    summary="append labelled texts as fit examples (as Substrate.fit), one chunk at a time; "
    "a chunk sent again adds nothing",
)
async def add_examples(request: Request, namespace: Writer, upload: Upload = None,
                       chunk: Chunk = None, actor: Actor = None) -> UploadReceipt:
    state = state_of(request)
    key = key_of(request)
    parsed = parse_chunk(await request.body(), request.headers.get("content-type", ""))
    if isinstance(parsed, ExampleBatchRequest):
        items = parsed.items
        upload = parsed.upload if parsed.upload is not None else upload
        chunk = parsed.chunk if parsed.chunk is not None else chunk
        actor = parsed.actor if parsed.actor is not None else actor
    else:
        items = parsed
    texts = [item.text for item in items]
    labels = [item.label for item in items]
    charge_work(request, key, texts)  # a chunk is work like any other: the key's budget
    # encoded in pieces, so both encoding workers take part and predictions interleave
    step = state.batcher.max_batch
    pieces = await asyncio.gather(*(state.batcher.encode(texts[i:i + step], owner=key.key_id)
                                    for i in range(0, len(texts), step)))
    vectors = np.concatenate(pieces)
    return await run_in_threadpool(
        lambda: namespace.fit_examples(texts, labels, upload=upload, chunk=chunk, actor=actor,
                                       vectors=vectors, key_id=key.key_id))


@router.get("/namespaces/{ns}/uploads/{upload}", response_model=UploadStatus, responses=ERRORS,
            summary="an upload's progress: the chunks and rows the ledger holds")
async def upload_status(
    namespace: Reader, upload: Annotated[str, PathParam(pattern=UPLOAD_PATTERN)],
) -> UploadStatus:
    return await run_in_threadpool(namespace.upload_status, upload)


@router.get("/namespaces/{ns}/changes", response_model=ChangesOut, responses=ERRORS,
            summary="what changed between two ledger sizes: new classes, examples and "
            "corrections per class, revocations, relabels, retirements, erasures, settings")
async def changes(
    namespace: Reader,
    start: Annotated[int, Query(alias="from", ge=0, le=SEQ_MAX)] = 0,
    stop: Annotated[int | None, Query(alias="to", ge=0, le=SEQ_MAX,
                                      description="default: the ledger's size")] = None,
) -> ChangesOut:
    return await run_in_threadpool(namespace.changes, start, stop)


@router.post("/namespaces/{ns}/relabels", response_model=Receipt, status_code=201,
             responses=ERRORS, summary="rename a class (into an existing one: they merge)")
async def relabel(request: Request, body: RelabelRequest, namespace: Writer) -> Receipt:
    key_id = key_of(request).key_id
    return await run_in_threadpool(
        lambda: namespace.relabel(body.old, body.new, reason=body.reason, actor=body.actor,
                                  key_id=key_id))


@router.post("/namespaces/{ns}/retirements", response_model=Receipt, status_code=201,
             responses=ERRORS, summary="retire a class: its examples stop voting")
async def retire(request: Request, body: RetireRequest, namespace: Writer) -> Receipt:
    key_id = key_of(request).key_id
    return await run_in_threadpool(
        lambda: namespace.retire(body.label, reason=body.reason, actor=body.actor,
                                 key_id=key_id))


@router.get("/namespaces/{ns}/vote", response_model=VoteSettingOut, responses=ERRORS,
            summary="the vote rule and its parameters")
async def get_vote(namespace: Reader) -> VoteSettingOut:
    return await run_in_threadpool(namespace.vote_setting)


@router.put("/namespaces/{ns}/vote", response_model=Receipt, responses=ERRORS,
            summary="choose the vote rule and its parameters (admin); recorded in the "
            "ledger, so a rebuild votes the same way")
async def set_vote(request: Request, ns: NamespacePath, body: VoteSettingRequest,
                   key: Admin) -> Receipt:
    state = state_of(request)
    namespace = await run_in_threadpool(state.namespaces.get, ns)
    receipt = await run_in_threadpool(
        lambda: namespace.set_vote(body.rule, vote_params(body), actor=body.actor,
                                   key_id=key.key_id))
    await run_in_threadpool(state.registry.set_vote, ns, body.rule)
    return receipt
