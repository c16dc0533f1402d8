"""Helpers for the server tests: an app on a temporary data folder with the tiny hashing
encoder, its keys, and a TestClient (the fixture is in server_fixtures)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from fastapi.testclient import TestClient

from ocrr.server.app import create_app
from ocrr.server.config import ServerSettings
from ocrr.server.registry import Registry
from server_fakes import HashingEncoder

SEED = [
    ("where is my card", "card"),
    ("my card has not arrived yet", "card"),
    ("when will my new card arrive", "card"),
    ("what is the exchange rate for euros", "fx"),
    ("how much is a dollar in euros", "fx"),
    ("convert pounds to dollars rate", "fx"),
    ("I forgot my password", "password"),
    ("reset my password please", "password"),
    ("cannot log in, password wrong", "password"),
]


@dataclass
class Service:
    client: TestClient
    registry: Registry
    encoder: HashingEncoder
    folder: Path
    keys: dict[str, str] = field(default_factory=dict)

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    def seed(self, namespace: str = "demo") -> None:
        items = [{"text": t, "label": y} for t, y in SEED]
        answer = self.client.post(f"/v1/namespaces/{namespace}/corrections/batch",
                                  json={"items": items, "actor": "seed"},
                                  headers=self.auth("admin"))
        assert answer.status_code == 201, answer.text

    def size(self, namespace: str = "demo") -> int:
        answer = self.client.get(f"/v1/namespaces/{namespace}/entries?limit=1",
                                 headers=self.auth("admin"))
        return answer.json()["size"]


def make_service(folder: Path, settings: ServerSettings | None = None) -> tuple[Service, object]:
    registry = Registry(folder)
    registry.create_namespace("demo")
    registry.create_namespace("other")
    keys = {
        "admin": registry.create_key("admin")[0],
        "write": registry.create_key("write", "demo")[0],
        "read": registry.create_key("read", "demo")[0],
        "other": registry.create_key("write", "other")[0],
        "metrics": registry.create_key("metrics")[0],
    }
    encoder = HashingEncoder()
    settings = settings or ServerSettings(rate_limit=0, auth_failure_rate=0)
    app = create_app(registry, encoder=encoder, settings=settings)
    return Service(TestClient(app), registry, encoder, folder, keys), app


def login(service: Service, who: str, actor: str = "") -> str:
    """Log ``who`` in (dropping any session); return the session's CSRF token."""
    client = service.client
    client.cookies.clear()
    page = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)[1]
    answer = client.post("/login", data={"key": service.keys[who], "actor": actor,
                                         "csrf": token}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    home = client.get("/ns/demo/ledger")
    return re.search(r'name="csrf-token" content="([^"]+)"', home.text)[1]
