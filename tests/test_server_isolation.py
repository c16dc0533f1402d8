"""Issue 17 item 2: one namespace that cannot be opened is quarantined (503 with the reason,
reported by /v1/health and the metrics) and every other namespace serves; a registered
namespace whose ledger file is gone is an error, never a fresh empty ledger."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from fastapi.testclient import TestClient

from ocrr.server.app import create_app
from ocrr.server.config import ServerSettings
from ocrr.server.registry import Registry
from server_fakes import HashingEncoder
from server_support import SEED

NAMES = [f"tenant_{i}" for i in range(10)]


def _folder_of_ten(tmp_path: Path) -> tuple[str, str, str]:
    """Ten seeded namespaces; returns (folder, admin key, metrics key)."""
    data = str(tmp_path / "data")
    registry = Registry(data)
    for name in NAMES:
        registry.create_namespace(name)
    admin, _ = registry.create_key("admin")
    metrics, _ = registry.create_key("metrics")
    app = create_app(registry, encoder=HashingEncoder(),
                     settings=ServerSettings(rate_limit=0, auth_failure_rate=0))
    items = [{"text": t, "label": y} for t, y in SEED]
    with TestClient(app) as client:
        for name in NAMES:
            answer = client.post(f"/v1/namespaces/{name}/corrections/batch",
                                 json={"items": items}, headers={"Authorization":
                                                                 f"Bearer {admin}"})
            assert answer.status_code == 201, answer.text
    return data, admin, metrics


def _serve(data: str) -> TestClient:
    return TestClient(create_app(data, encoder=HashingEncoder(),
                                 settings=ServerSettings(rate_limit=0, auth_failure_rate=0)))


def _timed_predictions(client: TestClient, key: str, names: list[str]) -> list[float]:
    seconds = []
    for name in names:
        started = time.perf_counter()
        answer = client.post(f"/v1/namespaces/{name}/predict", json={"text": "where is my card"},
                             headers={"Authorization": f"Bearer {key}"})
        seconds.append(time.perf_counter() - started)
        assert answer.status_code == 200, (name, answer.text)
        assert answer.json()["label"] == "card"
    return seconds


def test_one_corrupt_namespace_among_ten_the_other_nine_answer(tmp_path: Path) -> None:
    data, admin, metrics = _folder_of_ten(tmp_path)
    with _serve(data) as client:  # before: the normal latency of these requests
        _timed_predictions(client, admin, NAMES)  # warm
        normal = max(_timed_predictions(client, admin, NAMES))
    bad = NAMES[3]
    with sqlite3.connect(Path(data) / "namespaces" / f"{bad}.db") as conn:
        conn.execute("UPDATE entries SET provenance = '{bad' WHERE seq = 2")
    with _serve(data) as client:  # starts: one undecodable row no longer stops every tenant
        others = [n for n in NAMES if n != bad]
        _timed_predictions(client, admin, others)  # they answer (the first call warms up)
        seconds = _timed_predictions(client, admin, others)
        assert max(seconds) < max(1.0, 10 * normal), (seconds, normal)
        refused = client.post(f"/v1/namespaces/{bad}/predict", json={"text": "card"},
                              headers={"Authorization": f"Bearer {admin}"})
        assert refused.status_code == 503
        assert refused.json()["error"] == "unavailable"
        assert "quarantined" in refused.json()["message"]
        health = client.get("/v1/health").json()
        assert health["status"] == "degraded" and health["quarantined"] == 1
        scraped = client.get("/v1/metrics", headers={"Authorization": f"Bearer {metrics}"})
        assert f'ocrr_namespace_quarantined{{namespace="{bad}"}} 1' in scraped.text
        assert f'ocrr_ledger_entries{{namespace="{others[0]}"}}' in scraped.text


def test_a_deleted_ledger_is_quarantined_not_recreated_empty(tmp_path: Path) -> None:
    data, admin, _ = _folder_of_ten(tmp_path)
    gone = Path(data) / "namespaces" / f"{NAMES[0]}.db"
    for path in gone.parent.glob(f"{gone.name}*"):
        os.remove(path)
    with _serve(data) as client:
        answer = client.post(f"/v1/namespaces/{NAMES[0]}/predict", json={"text": "card"},
                             headers={"Authorization": f"Bearer {admin}"})
        assert answer.status_code == 503, answer.text
        assert "no ledger" in answer.json()["message"]
        verify = client.get(f"/v1/namespaces/{NAMES[0]}/verify",
                            headers={"Authorization": f"Bearer {admin}"})
        assert verify.status_code == 503  # not "ok, size 0"
        assert client.get("/v1/health").json()["status"] == "degraded"
        _timed_predictions(client, admin, NAMES[1:])
    assert not gone.exists()


def test_a_namespace_gets_its_ledger_when_it_is_created(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "data")
    registry.create_namespace("fresh")
    path = Path(registry.ledger_location("fresh")[0])
    assert path.is_file()
    registry.close()


def test_a_quarantined_namespace_opens_again_once_repaired(tmp_path: Path) -> None:
    data, admin, _ = _folder_of_ten(tmp_path)
    path = Path(data) / "namespaces" / f"{NAMES[5]}.db"
    with sqlite3.connect(path) as conn:
        good = conn.execute("SELECT provenance FROM entries WHERE seq = 1").fetchone()[0]
        conn.execute("UPDATE entries SET provenance = '{bad' WHERE seq = 1")
    app = create_app(data, encoder=HashingEncoder(), settings=ServerSettings(
        rate_limit=0, auth_failure_rate=0, quarantine_retry_seconds=0.0))
    with TestClient(app) as client:
        headers = {"Authorization": f"Bearer {admin}"}
        url = f"/v1/namespaces/{NAMES[5]}/predict"
        assert client.post(url, json={"text": "card"}, headers=headers).status_code == 503
        with sqlite3.connect(path) as conn:  # the operator restores the row
            conn.execute("UPDATE entries SET provenance = ? WHERE seq = 1", (good,))
        answer = client.post(url, json={"text": "where is my card"}, headers=headers)
        assert answer.status_code == 200 and answer.json()["label"] == "card"
        health = client.get("/v1/health").json()
        assert health["status"] == "ok" and health["quarantined"] == 0
