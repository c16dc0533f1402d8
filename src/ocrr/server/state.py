"""What every request handler reaches through ``request.app.state.ocrr``."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from ocrr.server.auth import KeyCache
from ocrr.server.batching import BatchingEncoder
from ocrr.server.config import ServerSettings
from ocrr.server.metrics import Metrics
from ocrr.server.namespaces import Namespaces
from ocrr.server.ratelimit import RateLimiter, WorkBudget
from ocrr.server.registry import Registry
from ocrr.server.workers import WorkerShare


@dataclass
class ServerState:
    settings: ServerSettings
    registry: Registry
    namespaces: Namespaces
    batcher: BatchingEncoder
    keys: KeyCache
    limiter: RateLimiter
    failures: RateLimiter
    metrics: Metrics
    budget: WorkBudget
    workers: WorkerShare | None = None
    """What this process shares with the other workers of ``ocrr serve --workers N``."""


def state_of(request: Request) -> ServerState:
    return request.app.state.ocrr
