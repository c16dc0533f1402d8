"""Authentication and authorisation: every route but health needs an API key.

A key arrives as ``Authorization: Bearer <key>`` (or ``X-API-Key: <key>``). No key, or one
the registry does not know (or revoked) → 401; a valid key without the scope, or for another
namespace → 403. The answer says only that: a key bound to one namespace learns nothing
about others (not even whether they exist), and no data is read before the check passes.
Rate limits are charged here too, per key (or per address for requests without a valid key).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from ocrr.server.buckets import SharedLimits
from ocrr.server.errors import Forbidden, RateLimited, Unauthenticated
from ocrr.server.keys import ApiKey
from ocrr.server.ratelimit import RateLimiter
from ocrr.server.registry import Registry

bearer = HTTPBearer(auto_error=False, scheme_name="bearer",
                    description="an API key made by `ocrr keys create`")
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="apiKey",
                              description="the same key, in a header of its own")


class KeyCache:
    """Valid keys seen lately (by secret), so most requests need no registry query."""

    def __init__(self, registry: Registry, seconds: float) -> None:
        self.registry = registry
        self.seconds = seconds
        self._seen: dict[str, tuple[ApiKey, float]] = {}

    def cached(self, token: str) -> ApiKey | None:
        """The key if it was found valid within the cache's seconds, else None."""
        hit = self._seen.get(token)
        if hit is not None and time.monotonic() - hit[1] < self.seconds:
            return hit[0]
        return None

    async def lookup(self, token: str) -> ApiKey | None:
        hit = self.cached(token)
        if hit is not None:
            return hit
        now = time.monotonic()
        key = await run_in_threadpool(self.registry.find_key, token)
        if key is None:
            self._seen.pop(token, None)
            return None
        if len(self._seen) > 10_000:
            self._seen.clear()
        self._seen[token] = (key, now)
        return key

    def forget(self) -> None:
        self._seen.clear()


def _client(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def requires(scope: str) -> Callable[..., Awaitable[ApiKey]]:
    """A dependency: the caller's key, if it may do ``scope`` in the path's namespace."""

    async def authorised(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
        header_key: Annotated[str | None, Security(api_key_header)],
    ) -> ApiKey:
        state = request.app.state.ocrr
        token = credentials.credentials if credentials is not None else header_key
        if credentials is not None and header_key is not None and header_key != token:
            token = None  # two different keys: refuse rather than guess which is meant
        key = await state.keys.lookup(token) if token else None
        if key is None:
            wait = state.failures.check(_client(request))
            state.metrics.refused.inc("unauthenticated")
            if wait is not None:
                raise RateLimited("too many requests without a valid key", retry_after=wait)
            raise Unauthenticated(
                "unknown or revoked API key" if token
                else "two different keys (Authorization and X-API-Key)" if header_key
                and credentials is not None
                else "an API key is required (Authorization: Bearer <key>)"
            )
        wait = state.limiter.check(key.key_id)
        if wait is not None:
            state.metrics.refused.inc("rate_limited")
            raise RateLimited(f"rate limit of {state.limiter.rate:g} requests per second "
                              "exceeded", retry_after=wait)
        if not key.allows(scope, request.path_params.get("ns")):
            state.metrics.refused.inc("forbidden")
            raise Forbidden(f"this key does not grant {scope} access here")
        request.state.api_key = key  # who is asking: written into what this request appends
        return key

    return authorised


def key_of(request: Request) -> ApiKey:
    """The key :func:`requires` authenticated for this request."""
    return request.state.api_key


def charge_work(request: Request, key: ApiKey, texts: list[str]) -> None:
    """Charge ``texts`` to ``key``'s work budget (texts and characters per second), or
    refuse the request: 429 with ``Retry-After``, nothing encoded or written."""
    state = request.app.state.ocrr
    refused = state.budget.check(key.key_id, texts)
    if refused is not None:
        wait, message = refused
        state.metrics.refused.inc("over_budget")
        raise RateLimited(message, retry_after=wait)


def limiters(rate: float, failure_rate: float,
             shared: SharedLimits | None = None) -> tuple[RateLimiter, RateLimiter]:
    """The request limiter (per key) and the failed-authentication limiter (per address),
    on the workers' ``shared`` tables where given."""
    return (RateLimiter(rate, buckets=shared.requests if shared else None),
            RateLimiter(failure_rate, burst=max(1.0, 5 * failure_rate),
                        buckets=shared.failures if shared else None))
