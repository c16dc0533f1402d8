"""The ``service`` fixture: a running app (lifespan included) on a temporary data folder
with the tiny hashing encoder. Used as a pytest plugin (``pytest_plugins =
["server_fixtures"]``); the helpers it uses are in server_support."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from server_support import Service, make_service


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    """A running app with namespaces demo (seeded) and other (empty), and keys admin,
    write (demo), read (demo), other (write on other) and metrics."""
    made, _ = make_service(tmp_path / "data")
    with made.client:
        made.seed()
        yield made
