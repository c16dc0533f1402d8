"""Who is asking, and what they may do: the session's key (re-checked on every request),
the namespace it opens, the CSRF token and origin on every POST, the ``write`` scope on
every write, and reading the bodies (forms for pages, JSON for the script's calls)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from ocrr.server.console.ledger_index import LedgerIndexes
from ocrr.server.console.sessions import SESSION_COOKIE, Session, Sessions, same, same_origin
from ocrr.server.errors import (
    ApiError,
    Forbidden,
    InvalidRequest,
    NotFound,
    RateLimited,
    Unauthenticated,
    Unavailable,
)
from ocrr.server.keys import ApiKey
from ocrr.server.namespace import Namespace
from ocrr.server.state import state_of


@dataclass
class Viewer:
    session: Session
    key: ApiKey

    @property
    def actor(self) -> str:
        return self.session.actor or self.key.name or f"key {self.key.key_id}"

    def can_write(self, ns: str) -> bool:
        return self.key.allows("write", ns)


class ConsoleState:
    def __init__(self) -> None:
        self.sessions = Sessions()
        self.indexes = LedgerIndexes()


class PageError(Exception):
    """A page that cannot be shown: an error page, or a redirect (to the login form)."""

    def __init__(self, status: int, message: str, *, location: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.location = location


def console_of(request: Request) -> ConsoleState:
    return request.app.state.console


async def viewer_of(request: Request) -> Viewer | None:
    console = console_of(request)
    sid = request.cookies.get(SESSION_COOKIE)
    session = console.sessions.get(sid)
    if session is None:
        return None
    state = state_of(request)
    key = await state.keys.lookup(session.token)
    if key is None:
        console.sessions.end(sid)  # the key was revoked
        return None
    wait = state.limiter.check(key.key_id)
    if wait is not None:
        raise RateLimited("rate limit exceeded", retry_after=wait)
    return Viewer(session, key)


async def page_viewer(request: Request) -> Viewer:
    viewer = await viewer_of(request)
    if viewer is None:
        raise PageError(401, "log in", location="/login")
    return viewer


async def _open(request: Request, ns: str) -> Namespace:
    namespaces = state_of(request).namespaces
    found = namespaces.cached(ns)
    if found is None:
        found = await run_in_threadpool(namespaces.get, ns)
    return found


async def page_namespace(request: Request, ns: str) -> tuple[Viewer, Namespace]:
    viewer = await page_viewer(request)
    if not viewer.key.allows("read", ns):
        raise PageError(403, "This key does not give access to that namespace.")
    try:
        return viewer, await _open(request, ns)
    except NotFound:
        raise PageError(404, f"No namespace {ns}.") from None
    except Unavailable as err:
        raise PageError(503, err.message) from None


def _check_post(request: Request, session: Session, token: str | None) -> None:
    if not same_origin(request):
        raise Forbidden("this request came from another site")
    if not same(token, session.csrf):
        raise Forbidden("missing or wrong CSRF token: reload the page")


async def api_namespace(request: Request, ns: str, scope: str) -> tuple[Viewer, Namespace]:
    """For the script's calls (JSON errors): a session, a CSRF token on POST, the scope."""
    viewer = await viewer_of(request)
    if viewer is None:
        raise Unauthenticated("log in again: the session ended")
    if request.method == "POST":
        _check_post(request, viewer.session, request.headers.get("x-csrf-token"))
    if not viewer.key.allows(scope, ns):
        raise Forbidden(f"this key does not grant {scope} access here"
                        + (" (it is read-only)" if scope == "write" else ""))
    return viewer, await _open(request, ns)


async def read_form(request: Request) -> dict[str, str]:
    kind = request.headers.get("content-type", "")
    if not kind.startswith("application/x-www-form-urlencoded"):
        raise PageError(415, "Expected a form.")
    body = (await request.body()).decode("utf-8", "replace")
    try:
        return dict(parse_qsl(body, keep_blank_values=True, max_num_fields=20))
    except ValueError:
        raise PageError(400, "Too many form fields.") from None


async def read_json(request: Request) -> dict[str, Any]:
    body = await request.body()
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("the body is not JSON") from None
    except RecursionError:  # "[" * 100000: nested deeper than the parser goes
        raise InvalidRequest("the body's JSON is nested too deeply") from None
    if not isinstance(data, dict):
        raise InvalidRequest("expected a JSON object")
    return data


async def form_post(request: Request, ns: str, scope: str) -> tuple[Viewer, Namespace,
                                                                    dict[str, str]]:
    viewer, namespace = await page_namespace(request, ns)
    form = await read_form(request)
    try:
        _check_post(request, viewer.session, form.get("csrf"))
    except ApiError as err:
        raise PageError(403, err.message) from None
    if not viewer.key.allows(scope, ns):
        raise PageError(403, "This key is read-only: it cannot change the ledger.")
    return viewer, namespace, form


async def visible_namespaces(request: Request, key: ApiKey) -> list[str]:
    if key.scope == "admin":
        records = await run_in_threadpool(state_of(request).registry.list_namespaces)
        return [r.name for r in records]
    return [key.namespace] if key.namespace else []


async def page_context(request: Request, viewer: Viewer, ns: str | None,
                       tab: str) -> dict[str, Any]:
    return {"viewer": viewer, "ns": ns, "tab": tab, "csrf": viewer.session.csrf,
            "namespaces": await visible_namespaces(request, viewer.key),
            "can_write": ns is not None and viewer.can_write(ns)}


def problem(err: ValidationError) -> str:
    return "; ".join(e.get("msg", "invalid") for e in err.errors()[:3])
