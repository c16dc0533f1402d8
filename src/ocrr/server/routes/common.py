"""What the route modules share: documented error answers and the namespace dependency."""


from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Path, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from ocrr.server.auth import requires
from ocrr.server.keys import ApiKey
from ocrr.server.namespace import Namespace
from ocrr.server.schemas import NAMESPACE_PATTERN, ErrorOut
from ocrr.server.state import state_of

API_PREFIX = "/v1"


def json_body(model: BaseModel) -> Response:
    """``model`` as the JSON answer, serialized once by pydantic: the bytes FastAPI would
    send for it under ``response_model=type(model)``, without FastAPI validating again
    what the server itself built (a hot route's saving; the OpenAPI schema still comes from
    the route's ``response_model``).

    >>> from ocrr.server.schemas import ErrorOut
    >>> json_body(ErrorOut(error="e", message="m")).body
    b'{"error":"e","message":"m"}'
    """
    return Response(model.__pydantic_serializer__.to_json(model, by_alias=True),
                    media_type="application/json")

_MEANING = {
    400: "malformed JSON",
    401: "no API key, or an unknown or revoked one",
    403: "the key lacks the scope, or belongs to another namespace",
    404: "no such namespace, entry, subject or key",
    409: "conflicts with the ledger's state (already revoked or erased, exists, ...)",
    413: "the body or the batch is over the server's limit",
    422: "a value is refused (empty, too long, out of range, unknown field)",
    429: "rate limit exceeded: retry after the Retry-After header's seconds",
    503: "the server is starting or stopping, or the namespace is quarantined (its ledger "
         "could not be opened: the message says why)",
}
AUTHENTICATED = (400, 401, 403, 404, 409, 413, 422, 429, 503)


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorOut, "description": _MEANING[code]} for code in codes}


ERRORS = errors(*AUTHENTICATED)

NamespacePath = Annotated[
    str, Path(pattern=NAMESPACE_PATTERN, description="the namespace (tenant or model)")
]


def namespace_for(scope: str) -> Callable[..., Awaitable[Namespace]]:
    """A dependency: the path's namespace, once the caller's key may do ``scope`` in it."""

    authorised = requires(scope)

    async def resolve(
        request: Request, ns: NamespacePath, key: Annotated[ApiKey, Depends(authorised)]
    ) -> Namespace:
        namespaces = state_of(request).namespaces
        found = namespaces.cached(ns)
        if found is None:
            found = await run_in_threadpool(namespaces.get, ns)
        return found

    return resolve


Reader = Annotated[Namespace, Depends(namespace_for("read"))]
Writer = Annotated[Namespace, Depends(namespace_for("write"))]
Admin = Annotated[ApiKey, Depends(requires("admin"))]
