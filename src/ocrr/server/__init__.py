"""The substrate as a service: an HTTP API (FastAPI, served by uvicorn) with namespaces,
API keys, explanations, abstention, batching, rate limits and metrics.

``create_app`` needs the web framework; everything else here that :mod:`ocrr.client` uses
(the wire models, the errors, the namespace service) does not import it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ocrr.server.app import create_app as create_app
    from ocrr.server.config import ServerSettings as ServerSettings

__all__ = ["ServerSettings", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from ocrr.server.app import create_app

        return create_app
    if name == "ServerSettings":
        from ocrr.server.config import ServerSettings

        return ServerSettings
    raise AttributeError(name)
