"""The ``/v1`` routes, one module per concern: operations (health, metrics), administration
(namespaces, keys), classification (predict, correct, revoke, erase) and audit (entries,
verification, tree heads, proofs, stats) and lifecycle (uploads of fit examples, changes,
relabels, retirements, the vote rule). Each module's router carries the ``/v1`` prefix
itself, so a route's path is its full template (what metrics label requests with)."""

from __future__ import annotations

from fastapi import APIRouter

from ocrr.server.routes import admin, audit, classify, lifecycle, ops
from ocrr.server.routes.common import API_PREFIX

ROUTERS: tuple[APIRouter, ...] = (ops.router, admin.router, classify.router, audit.router,
                                  lifecycle.router)

__all__ = ["API_PREFIX", "ROUTERS"]
