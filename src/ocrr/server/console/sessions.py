"""Console sessions: log in with an API key, then a cookie; a CSRF token per session.

Why a server-side session and not the key in a cookie: the key never returns to the browser
after the login form, logging out ends the session for good, and the cookie is a random name
(HttpOnly, so scripts cannot read it; SameSite=Strict, so other sites' pages cannot send
it). Every request still checks the key itself against the registry (through the server's
key cache), so a revoked key stops working in the console as fast as in the API.

CSRF: each session has a random token, in the pages it serves; every state-changing request
(a POST) must carry it (form field ``csrf`` or header ``X-CSRF-Token``) and, when the browser
says where it comes from (``Origin``), come from this server. The login form, made before
any session, uses a double-submit cookie the same way.

Sessions live in the server process (a restart logs everyone out; behind several replicas,
route a browser to one replica).
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

SESSION_COOKIE = "ocrr_session"
LOGIN_COOKIE = "ocrr_login"
IDLE_SECONDS = 8 * 3600.0
MAX_SESSIONS = 10_000


@dataclass
class Session:
    sid: str
    token: str = field(repr=False)
    actor: str | None
    csrf: str = field(repr=False)
    seen: float


class Sessions:
    """Session id → session, in memory, bounded, idle ones expire."""

    def __init__(self, idle_seconds: float = IDLE_SECONDS, limit: int = MAX_SESSIONS) -> None:
        self.idle_seconds = idle_seconds
        self.limit = limit
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def create(self, token: str, actor: str | None) -> Session:
        session = Session(secrets.token_urlsafe(32), token, actor, secrets.token_urlsafe(32),
                          time.monotonic())
        with self._lock:
            self._sessions[session.sid] = session
            while len(self._sessions) > self.limit:
                self._sessions.popitem(last=False)
        return session

    def get(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        now = time.monotonic()
        with self._lock:
            session = self._sessions.get(sid)
            if session is None:
                return None
            if now - session.seen > self.idle_seconds:
                del self._sessions[sid]
                return None
            session.seen = now
            self._sessions.move_to_end(sid)
            return session

    def end(self, sid: str | None) -> None:
        with self._lock:
            self._sessions.pop(sid or "", None)


def same(a: str | None, b: str | None) -> bool:
    """Constant-time equality of two tokens (as UTF-8 bytes: ``compare_digest`` refuses
    non-ASCII strings, and a form or header may bring any)."""
    if not a or not b:
        return False
    return hmac.compare_digest(str(a).encode("utf-8", "surrogatepass"),
                               str(b).encode("utf-8", "surrogatepass"))


def same_origin(request: Request) -> bool:
    """False only when the browser names another origin than this server's."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = request.headers.get("host")
    try:
        parts = urlsplit(origin)
        parts.port  # noqa: B018 - raises on a malformed port, as the netloc compare would not
    except ValueError:  # "http://[", a port that is not a number: not this server
        return False
    return bool(host) and parts.netloc == host and parts.scheme in ("http", "https")


def _secure(request: Request) -> bool:
    """``Secure`` when the server is told so (``ServerSettings.secure_cookies``: behind a TLS
    proxy the scheme seen is http) or the request came by https."""
    settings = getattr(getattr(request.app.state, "ocrr", None), "settings", None)
    return bool(getattr(settings, "secure_cookies", False)) or request.url.scheme == "https"


def set_cookie(request: Request, response: Response, name: str, value: str,
               path: str = "/") -> None:
    response.set_cookie(name, value, path=path, httponly=True, samesite="strict",
                        secure=_secure(request))


def clear_cookie(request: Request, response: Response, name: str, path: str = "/") -> None:
    response.delete_cookie(name, path=path, httponly=True, samesite="strict",
                           secure=_secure(request))
