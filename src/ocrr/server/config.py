"""The server's tunable limits, in one place, with the reasons for their defaults."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServerSettings:
    max_body_bytes: int = 1 << 20
    """Requests over 1 MiB are refused (413): a full batch of texts fits well inside."""
    max_batch_texts: int = 256
    """Texts in one batch prediction (413 above)."""
    max_batch_corrections: int = 1_000
    """Corrections in one batch (one transaction) (413 above)."""
    rate_limit: float = 1_000.0
    """Requests per second per API key, bursts of twice that; 0 turns limits off."""
    auth_failure_rate: float = 20.0
    """Requests per second per client address *without a valid key* (bursts of 100), so
    guessing keys is slow; 0 turns it off."""
    encode_batch: int = 64
    """Most texts encoded in one batch: bounds the latency one batch adds."""
    encoder_threads: int | None = 1
    """Torch threads for encoding (None: torch's default). One leaves a core for HTTP."""
    refresh_interval: float = 0.25
    """Most seconds a prediction may lag corrections other replicas appended."""
    settings_interval: float = 1.0
    """Seconds between re-reading namespace settings (thresholds) from the registry."""
    key_cache_seconds: float = 2.0
    """A valid key is re-checked against the registry this often (so a revoked key stops
    working within this), not on every request."""
    preload: bool = True
    """Open every namespace at start-up rather than on its first request."""
