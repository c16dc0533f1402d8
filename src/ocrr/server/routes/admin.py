"""Administration (an admin key): namespaces and API keys."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from ocrr.server.errors import InvalidRequest
from ocrr.server.keys import ApiKey
from ocrr.server.registry import NamespaceRecord
from ocrr.server.routes.common import API_PREFIX, ERRORS, Admin, NamespacePath, Reader
from ocrr.server.schemas import (
    KeyCreate,
    KeyCreated,
    KeyList,
    KeyOut,
    NamespaceCreate,
    NamespaceList,
    NamespaceOut,
    NamespaceUpdate,
)
from ocrr.server.state import state_of

router = APIRouter(prefix=API_PREFIX)


def _namespace(record: NamespaceRecord) -> NamespaceOut:
    return NamespaceOut(name=record.name, threshold=record.threshold, vote=record.vote,
                        encoder=record.encoder or "", created_at_ns=record.created_at_ns)


def _key(key: ApiKey) -> KeyOut:
    return KeyOut(key_id=key.key_id, scope=key.scope, namespace=key.namespace, name=key.name,
                  created_at_ns=key.created_at_ns, revoked=key.revoked)


@router.get("/namespaces", response_model=NamespaceList, responses=ERRORS,
            tags=["namespaces"], summary="list namespaces (admin)")
async def list_namespaces(request: Request, key: Admin) -> NamespaceList:
    records = await run_in_threadpool(state_of(request).registry.list_namespaces)
    return NamespaceList(namespaces=[_namespace(r) for r in records])


@router.post("/namespaces", response_model=NamespaceOut, status_code=201, responses=ERRORS,
             tags=["namespaces"], summary="create a namespace: its own classifier and ledger")
async def create_namespace(request: Request, body: NamespaceCreate, key: Admin) -> NamespaceOut:
    namespaces = state_of(request).namespaces
    record = await run_in_threadpool(
        lambda: namespaces.create(body.name, threshold=body.threshold, vote=body.vote)
    )
    return _namespace(record)


@router.get("/namespaces/{ns}", response_model=NamespaceOut, responses=ERRORS,
            tags=["namespaces"], summary="a namespace's settings")
async def get_namespace(request: Request, ns: NamespacePath, namespace: Reader) -> NamespaceOut:
    record = await run_in_threadpool(state_of(request).registry.require_namespace, ns)
    return _namespace(record)


@router.patch("/namespaces/{ns}", response_model=NamespaceOut, responses=ERRORS,
              tags=["namespaces"], summary="set or clear the abstention threshold (admin)")
async def update_namespace(request: Request, ns: NamespacePath, body: NamespaceUpdate,
                           key: Admin) -> NamespaceOut:
    namespaces = state_of(request).namespaces
    record = await run_in_threadpool(namespaces.set_threshold, ns, body.threshold)
    return _namespace(record)


@router.get("/keys", response_model=KeyList, responses=ERRORS, tags=["keys"],
            summary="list API keys, never their secrets (admin)")
async def list_keys(request: Request, key: Admin) -> KeyList:
    keys = await run_in_threadpool(state_of(request).registry.list_keys)
    return KeyList(keys=[_key(k) for k in keys])


@router.post("/keys", response_model=KeyCreated, status_code=201, responses=ERRORS,
             tags=["keys"], summary="make an API key; its secret is shown only now (admin)")
async def create_key(request: Request, body: KeyCreate, key: Admin) -> KeyCreated:
    registry = state_of(request).registry
    try:
        token, made = await run_in_threadpool(
            registry.create_key, body.scope, getattr(body, "namespace", None), body.name
        )
    except ValueError as err:
        raise InvalidRequest(str(err)) from None
    return KeyCreated(**_key(made).model_dump(), token=token)


@router.delete("/keys/{key_id}", response_model=KeyOut, responses=ERRORS, tags=["keys"],
               summary="revoke an API key (admin)")
async def revoke_key(request: Request, key_id: str, key: Admin) -> KeyOut:
    state = state_of(request)
    revoked = await run_in_threadpool(state.registry.revoke_key, key_id)
    state.keys.forget()
    return _key(revoked)
