"""Audit (a read key): entries, verification, tree heads, proofs and stats.

Everything here can be checked without trusting the server: entries carry their hashes,
tree heads may be signed (``ocrr serve --signing-key``), and proofs verify offline
(``ocrr ledger check-proof``, or ``InclusionProof.from_dict(...).verify()``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi import Path as PathParam
from starlette.concurrency import run_in_threadpool

from ocrr.server.routes.common import API_PREFIX, ERRORS, Reader
from ocrr.server.schemas import (
    SEQ_MAX,
    ConsistencyProofOut,
    EntryPage,
    InclusionProofOut,
    KeptHead,
    StatsOut,
    TreeHeadOut,
    VerificationOut,
)

router = APIRouter(prefix=API_PREFIX, tags=["audit"])

Size = Annotated[int | None, Query(ge=0, le=SEQ_MAX, description="a tree size (default: all)")]


@router.get("/namespaces/{ns}/entries", response_model=EntryPage, responses=ERRORS,
            summary="ledger entries in sequence order, a page at a time")
async def entries(
    namespace: Reader,
    start: Annotated[int, Query(ge=0, le=SEQ_MAX)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> EntryPage:
    return await run_in_threadpool(namespace.entries, start, limit)


@router.get("/namespaces/{ns}/verify", response_model=VerificationOut, responses=ERRORS,
            summary="re-hash every stored entry and walk the chain")
async def verify(namespace: Reader) -> VerificationOut:
    return await run_in_threadpool(namespace.verify)


@router.post("/namespaces/{ns}/verify", response_model=VerificationOut, responses=ERRORS,
             summary="verify, and check that the ledger still extends a tree head kept "
             "earlier (nothing rewritten or dropped since)")
async def verify_against(body: KeptHead, namespace: Reader) -> VerificationOut:
    return await run_in_threadpool(namespace.verify, body.size, body.root_hash)


@router.get("/namespaces/{ns}/tree-head", response_model=TreeHeadOut, responses=ERRORS,
            summary="the Merkle tree head (signed when the server has a signing key)")
async def tree_head(namespace: Reader) -> TreeHeadOut:
    return await run_in_threadpool(namespace.tree_head)


@router.get("/namespaces/{ns}/proofs/inclusion/{seq}", response_model=InclusionProofOut,
            responses=ERRORS, summary="RFC 6962 inclusion proof of entry seq")
async def inclusion_proof(
    namespace: Reader,
    seq: Annotated[int, PathParam(ge=0, le=SEQ_MAX)],
    size: Size = None,
) -> InclusionProofOut:
    return await run_in_threadpool(namespace.prove, seq, size)


@router.get("/namespaces/{ns}/proofs/consistency", response_model=ConsistencyProofOut,
            responses=ERRORS, summary="RFC 6962 consistency proof from old_size to size")
async def consistency_proof(
    namespace: Reader,
    old_size: Annotated[int, Query(ge=0, le=SEQ_MAX)],
    size: Size = None,
) -> ConsistencyProofOut:
    return await run_in_threadpool(namespace.prove_consistency, old_size, size)


@router.get("/namespaces/{ns}/stats", response_model=StatsOut, responses=ERRORS,
            summary="entries, classes, storage, and the recent accuracy of predictions "
            "that were later corrected")
async def stats(namespace: Reader) -> StatsOut:
    return await run_in_threadpool(namespace.stats)
