"""The review console: the web page where people check and correct the classifier.

Served by ``ocrr serve`` at ``/`` (the API stays under ``/v1``): a queue of recent
predictions, least confident first, to accept or correct with the keyboard; the ledger,
filtered and paged, with inclusion proofs, the tree head, verification, revocation and
erasure; and a dashboard of corrections over time, the accuracy of reviewed predictions and
the classes. Server-rendered Jinja2 templates (autoescaped), one small script and one style
sheet, all inside the package: nothing is fetched from elsewhere.

Sign-in is with an API key (see :mod:`ocrr.server.console.sessions`); a read key sees
everything its namespace shows and changes nothing.
"""

from __future__ import annotations

from typing import Any


def mount(app: Any) -> None:
    """Add the console's pages and static files to the service's app."""
    from ocrr.server.console.routes import install

    install(app)


__all__ = ["mount"]
