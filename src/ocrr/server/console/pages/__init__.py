"""The console's pages and the script's JSON calls, one router per group, in the order they
are mounted: signing in (:mod:`.login`), the review queue (:mod:`.queue`), the ledger
(:mod:`.ledger`) and the dashboard (:mod:`.dashboard`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path as PathParam

from ocrr.server.schemas import NAMESPACE_PATTERN

NsPath = Annotated[str, PathParam(pattern=NAMESPACE_PATTERN)]


def routers() -> list:
    """The routers, in mounting order."""
    from ocrr.server.console.pages import dashboard, ledger, login, queue

    return [login.router, queue.router, ledger.router, dashboard.router]
