"""The errors a client can cause, each with its HTTP status and a stable code.

Why one hierarchy shared by the server, the namespace service and the client: a chatbot
calling ``client.correct(...)`` should catch the same exception whether the classifier runs
in its own process or behind HTTP, and the server should never have to guess which status a
refusal deserves. Anything that is not an :class:`ApiError` reaching the HTTP layer is a bug
(answered 500 and logged), never a client's mistake.
"""

from __future__ import annotations


class ApiError(Exception):
    """A refused request: ``status`` (HTTP), ``code`` (stable, machine-readable), message."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        self.retry_after = retry_after

    def to_dict(self) -> dict[str, str]:
        return {"error": self.code, "message": self.message}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.status}, {self.code!r}, {self.message!r})"


class InvalidRequest(ApiError):
    """The request is well-formed JSON but its values are refused (empty text, ...)."""

    status = 422
    code = "invalid_request"


class MalformedRequest(ApiError):
    """The body is not JSON at all."""

    status = 400
    code = "malformed_json"


class Unauthenticated(ApiError):
    """No API key, or one the server does not know (or that was revoked)."""

    status = 401
    code = "unauthenticated"


class Forbidden(ApiError):
    """A valid key without the scope or namespace this route needs."""

    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    """The request contradicts the ledger's state (already revoked, already erased, ...)."""

    status = 409
    code = "conflict"


class TooLarge(ApiError):
    status = 413
    code = "too_large"


class RateLimited(ApiError):
    status = 429
    code = "rate_limited"


class Unavailable(ApiError):
    """The server cannot serve this right now (shutting down, a store unreachable)."""

    status = 503
    code = "unavailable"


_BY_STATUS: dict[int, type[ApiError]] = {
    cls.status: cls
    for cls in (InvalidRequest, MalformedRequest, Unauthenticated, Forbidden, NotFound,
                Conflict, TooLarge, RateLimited, Unavailable)
}


def error_for(status: int, code: str, message: str,
              retry_after: float | None = None) -> ApiError:
    """Rebuild the right exception class from an HTTP answer (the remote client's side)."""
    cls = _BY_STATUS.get(status, ApiError)
    return cls(message, status=status, code=code, retry_after=retry_after)
