"""What every console page's path shares: the namespace parameter, checked by the pattern."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path as PathParam

from ocrr.server.schemas import NAMESPACE_PATTERN

NsPath = Annotated[str, PathParam(pattern=NAMESPACE_PATTERN)]
