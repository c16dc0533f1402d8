"""API keys: what a key may do, how its secret is made and how it is stored.

Why hashed with plain SHA-256 (not a slow password hash): the secret is 256 random bits, not
something a person chose, so no dictionary can guess it, and a fast hash lets every request
check its key in microseconds. The store keeps only the hash; a stolen registry yields no
usable key. The ``key_id`` (a prefix of the hash) names a key in listings and revocations
without revealing it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

TOKEN_PREFIX = "ocrr_"
SCOPES = ("read", "write", "admin", "metrics")
"""``read``: predictions and the ledger's audit routes in one namespace; ``write``: that plus
corrections, revocations and erasures; ``admin``: everything, every namespace, and managing
namespaces and keys; ``metrics``: ``/v1/metrics`` only (for a Prometheus scraper)."""
NAMESPACED = ("read", "write")


def new_token() -> str:
    """A fresh secret: ``ocrr_`` and 43 URL-safe characters (256 random bits)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def key_id_of(digest: str) -> str:
    return digest[:16]


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    scope: str
    namespace: str | None
    name: str | None
    created_at_ns: int
    revoked: bool = False

    def allows(self, need: str, namespace: str | None = None) -> bool:
        """Whether this key may do ``need`` (a scope) in ``namespace``."""
        if self.revoked:
            return False
        if self.scope == "admin":
            return True
        if self.scope == "metrics":
            return need == "metrics"
        if namespace is None or namespace != self.namespace:
            return False
        return need == "read" or (need == "write" and self.scope == "write")


def check_scope(scope: str, namespace: str | None) -> None:
    """Refuse a key that could never be used: a namespaced scope without a namespace, etc."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; valid: {', '.join(SCOPES)}")
    if scope in NAMESPACED and namespace is None:
        raise ValueError(f"a {scope} key belongs to one namespace: name it")
    if scope not in NAMESPACED and namespace is not None:
        raise ValueError(f"an {scope} key is not bound to a namespace")
