"""The service's hot route without FastAPI's per-request machinery: one text predicted.

Why: on 2 cores a single-text prediction spent about a fifth of its server CPU in FastAPI
resolving the route's dependencies (two security headers, the path, the body) and routing
(docs/results.md, "The service"). This ASGI layer answers ``POST /v1/namespaces/{ns}/predict``
itself when the request is plainly valid and allowed, with the same objects the route uses
(the key cache, the rate limiter, the work budget, the namespaces, :func:`_predict`, the
review queue's hook), and hands *everything else* to the FastAPI route, body replayed,
before anything is charged or read: a missing, unknown or revoked key, two key headers, a
key without the scope, a namespace not open yet (or quarantined), a body that is not JSON
or not a valid request, a look into the past (``as_of``). So every refusal is the route's
own answer, and the checks run in the route's order where it matters (a key over its rate
is answered 429 before its scope is judged: this layer only passes such a request on).

Once the key's rate limit is charged here, the request is answered here: a work budget
refusal or a failure while encoding goes through the app's own error handler.

>>> FastPredict.matches({"type": "http", "method": "POST",
...                      "path": "/v1/namespaces/demo/predict", "query_string": b""})
'demo'
>>> FastPredict.matches({"type": "http", "method": "GET",
...                      "path": "/v1/namespaces/demo/predict", "query_string": b""})
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ocrr.server.errors import ApiError
from ocrr.server.routes.classify import _predict
from ocrr.server.routes.common import json_body
from ocrr.server.schemas import NAMESPACE_PATTERN, PredictRequest

ErrorHandler = Callable[[Request, Exception], Awaitable[Response]]

_PATH = re.compile(r"/v1/namespaces/(" + NAMESPACE_PATTERN.strip("^$") + r")/predict")
_SMALL_BODY = 64 * 1024
"""Larger bodies (or undeclared lengths) take the route: a single text is far smaller."""


class FastPredict:
    """ASGI layer in front of the app's routing (inside the body limit and the metrics)."""

    def __init__(self, app: ASGIApp, on_error: ErrorHandler, route: Any = None) -> None:
        self.app = app
        self.on_error = on_error
        """The app's handler for :class:`ApiError` (the route's refusals look the same)."""
        self.route = route
        """The FastAPI route it stands in for (the metrics label requests by its path)."""

    @staticmethod
    def matches(scope: Scope) -> str | None:
        """The namespace of a single-text prediction request, or None."""
        if scope["type"] != "http" or scope["method"] != "POST" or scope.get("query_string"):
            return None
        found = _PATH.fullmatch(scope["path"])
        return found.group(1) if found else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ns = self.matches(scope)
        if ns is None:
            await self.app(scope, receive, send)
            return
        token, length = _headers(scope)
        if token is None or length is None or length > _SMALL_BODY:
            await self.app(scope, receive, send)
            return
        body, again = await _read(receive)
        if await self._answered(scope, receive, send, ns, token, body):
            return
        await self.app(scope, again, send)

    async def _answered(self, scope: Scope, receive: Receive, send: Send, ns: str,
                        token: str, body: bytes) -> bool:
        """Answer the request, or return False having charged and written nothing."""
        state = scope["app"].state.ocrr
        hit = state.keys.cached(token)
        if hit is None or not hit.allows("read", ns):
            return False
        namespace = state.namespaces.cached(ns)
        if namespace is None:
            return False
        try:
            parsed = PredictRequest.model_validate(json.loads(body))
        except (ValueError, ValidationError):  # the route says what is wrong with it
            return False
        if parsed.as_of is not None:
            return False
        if state.limiter.check(hit.key_id) is not None:
            return False  # nothing charged: the route refuses it (429), counting the refusal
        if self.route is not None:
            scope["route"] = self.route
        request = Request(scope, receive)
        request.state.api_key = hit
        try:
            answers = await _predict(request, namespace, [parsed.text])
            response = json_body(answers[0])
        except ApiError as err:
            response = await self.on_error(request, err)
        await response(scope, receive, send)
        return True


def _headers(scope: Scope) -> tuple[str | None, int | None]:
    """The bearer token (only if it is the request's one key header) and the declared
    body length, if the body is JSON; (None, None) for anything else."""
    token: str | None = None
    length: int | None = None
    is_json = False
    keys = 0
    for name, value in scope["headers"]:
        if name == b"authorization":
            keys += 1
            scheme, _, param = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and param.strip():
                token = param.strip()
        elif name == b"x-api-key" or name == b"transfer-encoding":
            return None, None
        elif name == b"content-length":
            if length is not None or not value.isdigit():
                return None, None
            length = int(value)
        elif name == b"content-type":
            is_json = value == b"application/json"
    if keys != 1 or not is_json:
        return None, None
    return token, length


async def _read(receive: Receive) -> tuple[bytes, Receive]:
    """The whole body, and a ``receive`` that gives it again to whoever reads next."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away: let the route see it
            return b"", _replay([message], receive)
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    return body, _replay([{"type": "http.request", "body": body, "more_body": False}],
                         receive)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
