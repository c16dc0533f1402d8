"""Classification: predict (one text or a batch), correct, revoke, erase.

Texts are encoded by the shared batching encoder (with other requests' texts), outside the
namespace's lock; the substrate work then runs on a worker thread under it. A correction is
acknowledged (201) only once its ledger transaction has committed, so an acknowledged
correction survives a crash of the server.
"""

from __future__ import annotations

import asyncio

import numpy as np
from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from ocrr.server.auth import charge_work, key_of
from ocrr.server.errors import TooLarge, Unavailable
from ocrr.server.review import log_predictions
from ocrr.server.routes.common import API_PREFIX, ERRORS, Reader, Writer, json_body
from ocrr.server.schemas import (
    CorrectionBatchRequest,
    CorrectionItem,
    CorrectionRequest,
    ErasureRequest,
    KeptHead,
    PredictBatchRequest,
    Prediction,
    PredictionBatch,
    PredictRequest,
    Receipt,
    ReceiptBatch,
    RevocationRequest,
)
from ocrr.server.state import state_of

router = APIRouter(prefix=API_PREFIX, tags=["classify"])
_POLL_SECONDS = 0.5


async def _encode(request: Request, texts: list[str], owner: str) -> np.ndarray:
    """The texts' vectors from the shared batching encoder; if the client goes away while
    they wait (a flood abandoned), the rest of its texts are dropped from the queue. A
    single short text of a static embedding model is encoded at once instead, when the
    model's instance is free (``BatchingEncoder.encode_now``)."""
    batcher = state_of(request).batcher
    now = batcher.encode_now(texts)
    if now is not None:
        return now
    encoding = asyncio.ensure_future(batcher.encode(texts, owner=owner))
    try:
        while True:
            done, _ = await asyncio.wait({encoding}, timeout=_POLL_SECONDS)
            if done:
                return encoding.result()
            if await request.is_disconnected():
                raise Unavailable("the client went away")
    finally:
        encoding.cancel()  # a no-op when done; else its job leaves the queue


async def _predict(request: Request, namespace, texts: list[str],  # noqa: ANN001
                   as_of: int | KeptHead | None = None) -> list[Prediction]:
    state = state_of(request)
    key = key_of(request)
    charge_work(request, key, texts)
    if as_of is not None:  # the past: not counted, not queued for review
        size = await run_in_threadpool(namespace.size_of, as_of)
        vectors = await _encode(request, texts, key.key_id)
        return await run_in_threadpool(namespace.predict_as_of, vectors, size)
    vectors = await _encode(request, texts, key.key_id)
    answers = namespace.predict_now(texts, vectors)  # on the loop if the lock is free
    if answers is None:
        answers = await run_in_threadpool(namespace.predict_vectors, texts, vectors)
    if state.settings.console:  # the review queue the console shows
        log_predictions(request.app, namespace, texts, vectors, answers)
    state.metrics.predictions.inc(namespace.name, by=len(answers))
    abstained = sum(a.abstained for a in answers)
    if abstained:
        state.metrics.abstentions.inc(namespace.name, by=abstained)
    return answers


@router.post("/namespaces/{ns}/predict", response_model=Prediction, responses=ERRORS,
             summary="predict one text, with the neighbours that decided it")
async def predict(request: Request, body: PredictRequest, namespace: Reader) -> Response:
    return json_body((await _predict(request, namespace, [body.text], body.as_of))[0])


@router.post("/namespaces/{ns}/predict/batch", response_model=PredictionBatch,
             responses=ERRORS, summary="predict several texts")
async def predict_batch(request: Request, body: PredictBatchRequest,
                        namespace: Reader) -> Response:
    limit = state_of(request).settings.max_batch_texts
    if len(body.texts) > limit:
        raise TooLarge(f"a batch of {len(body.texts)} texts; the limit is {limit}")
    return json_body(PredictionBatch(predictions=await _predict(request, namespace,
                                                                body.texts, body.as_of)))


async def _correct(request: Request, namespace, items: list[CorrectionItem],  # noqa: ANN001
                   actor: str | None) -> list[Receipt]:
    state = state_of(request)
    texts = [item.text for item in items]
    key_id = key_of(request).key_id
    charge_work(request, key_of(request), texts)
    vectors = await _encode(request, texts, key_id)
    receipts = await run_in_threadpool(
        lambda: namespace.correct(items, actor=actor, vectors=vectors, key_id=key_id)
    )
    state.metrics.corrections.inc(namespace.name, by=len(receipts))
    return receipts


@router.post("/namespaces/{ns}/corrections", response_model=Receipt, status_code=201,
             responses=ERRORS,
             summary="append a correction; it counts at once (a new label makes a new class)")
async def correct(request: Request, body: CorrectionRequest, namespace: Writer) -> Receipt:
    item = CorrectionItem(text=body.text, label=body.label, subject=body.subject)
    return (await _correct(request, namespace, [item], body.actor))[0]


@router.post("/namespaces/{ns}/corrections/batch", response_model=ReceiptBatch,
             status_code=201, responses=ERRORS,
             summary="append several corrections in one transaction (all or none)")
async def correct_batch(request: Request, body: CorrectionBatchRequest,
                        namespace: Writer) -> ReceiptBatch:
    limit = state_of(request).settings.max_batch_corrections
    if len(body.items) > limit:
        raise TooLarge(f"a batch of {len(body.items)} corrections; the limit is {limit}")
    return ReceiptBatch(receipts=await _correct(request, namespace, body.items, body.actor))


@router.post("/namespaces/{ns}/revocations", response_model=Receipt, status_code=201,
             responses=ERRORS, summary="withdraw an example from voting (it stays for audit)")
async def revoke(request: Request, body: RevocationRequest, namespace: Writer) -> Receipt:
    key_id = key_of(request).key_id
    return await run_in_threadpool(
        lambda: namespace.revoke(body.seq, body.reason, actor=body.actor, key_id=key_id)
    )


@router.post("/namespaces/{ns}/erasures", response_model=Receipt, status_code=201,
             responses=ERRORS,
             summary="erase a subject: its key is destroyed, its examples stop voting")
async def erase(request: Request, body: ErasureRequest, namespace: Writer) -> Receipt:
    key_id = key_of(request).key_id
    return await run_in_threadpool(
        lambda: namespace.erase(body.subject, reason=body.reason, actor=body.actor,
                                key_id=key_id)
    )
