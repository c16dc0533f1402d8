"""Signing in and out with an API key, and the home page (the namespaces a key sees)."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request
from pydantic import TypeAdapter, ValidationError
from starlette.responses import RedirectResponse, Response

from ocrr.server.console.access import (
    console_of,
    page_context,
    page_viewer,
    problem,
    read_form,
    viewer_of,
    visible_namespaces,
)
from ocrr.server.console.rendering import SECURITY_HEADERS, render
from ocrr.server.console.sessions import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    clear_cookie,
    same,
    same_origin,
    set_cookie,
)
from ocrr.server.schemas import Name
from ocrr.server.state import state_of

_ACTOR = TypeAdapter(Name)
router = APIRouter(include_in_schema=False)


@router.get("/")
async def home(request: Request) -> Response:
    viewer = await page_viewer(request)
    names = await visible_namespaces(request, viewer.key)
    if len(names) == 1:
        return RedirectResponse(f"/ns/{names[0]}/queue", status_code=303)
    return render(request, "home.html", **await page_context(request, viewer, None, "home"))


def _login_form(request: Request, status: int = 200, error: str | None = None) -> Response:
    token = secrets.token_urlsafe(32)
    response = render(request, "login.html", status=status, login_csrf=token, error=error,
                      viewer=None, ns=None)
    set_cookie(request, response, LOGIN_COOKIE, token, path="/login")
    return response


@router.get("/login")
async def login_page(request: Request) -> Response:
    if await viewer_of(request) is not None:
        return RedirectResponse("/", status_code=303)
    return _login_form(request)


@router.post("/login")
async def login(request: Request) -> Response:
    form = await read_form(request)
    if not same_origin(request) or not same(form.get("csrf"), request.cookies.get(LOGIN_COOKIE)):
        return _login_form(request, 403, "The form expired: please try again.")
    state = state_of(request)
    token = form.get("key", "").strip()
    key = await state.keys.lookup(token) if token else None
    if key is None:
        wait = state.failures.check(request.client.host if request.client else "unknown")
        state.metrics.refused.inc("unauthenticated")
        if wait is not None:
            return _login_form(request, 429, "Too many attempts: wait a moment.")
        return _login_form(request, 401, "Unknown or revoked API key.")
    if key.scope not in ("read", "write", "admin"):
        return _login_form(request, 403, "This key cannot use the console (a metrics key).")
    actor = form.get("actor", "").strip() or None
    if actor is not None:
        try:
            actor = _ACTOR.validate_python(actor)
        except ValidationError as err:
            return _login_form(request, 422, f"Your name: {problem(err)}")
    session = console_of(request).sessions.create(token, actor)
    response = RedirectResponse("/", status_code=303, headers=SECURITY_HEADERS)
    set_cookie(request, response, SESSION_COOKIE, session.sid)
    clear_cookie(request, response, LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    form = await read_form(request)
    console = console_of(request)
    sid = request.cookies.get(SESSION_COOKIE)
    session = console.sessions.get(sid)
    if session is not None and same_origin(request) and same(form.get("csrf"), session.csrf):
        console.sessions.end(sid)
    response = RedirectResponse("/login", status_code=303, headers=SECURITY_HEADERS)
    clear_cookie(request, response, SESSION_COOKIE)
    return response
