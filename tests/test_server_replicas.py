"""Two server processes on one PostgreSQL ledger: a correction accepted by one is used by
the other's predictions within a second (both directions), and so are revocations and
threshold changes; both see the same verified ledger."""

from __future__ import annotations

import time
from pathlib import Path

from ocrr.server.registry import Registry
from server_processes import http, server

pytest_plugins = ["stores_fixtures"]  # the database fixture (a fresh PostgreSQL database)

NS = "/v1/namespaces/shared"


def _seen_within(client, text: str, label: str, limit: float) -> float:  # noqa: ANN001
    """Seconds until ``client`` predicts ``label`` for ``text`` (fails past ``limit``)."""
    started = time.monotonic()
    while True:
        answer = client.post(f"{NS}/predict", json={"text": text}).json()
        waited = time.monotonic() - started
        if answer["label"] == label:
            return waited
        assert waited < limit, f"not seen after {waited:.2f} s: {answer['label']}"
        time.sleep(0.02)


def test_two_replicas_share_corrections_within_a_second(database: str, tmp_path: Path) -> None:
    registry = Registry(database)
    registry.create_namespace("shared")
    admin, _ = registry.create_key("admin")
    registry.close()
    first = server(database, tmp_path / "first.log").start()
    second = server(database, tmp_path / "second.log").start()
    try:
        a, b = http(first, admin), http(second, admin)
        seed = [{"text": t, "label": y} for t, y in [
            ("where is my card", "card"), ("card has not arrived", "card"),
            ("euro exchange rate", "fx"), ("dollars to pounds rate", "fx")]]
        assert a.post(f"{NS}/corrections/batch", json={"items": seed}).status_code == 201
        waits = []
        for i, (writer, reader) in enumerate([(a, b), (b, a), (a, b), (b, a)]):
            text, label = f"zorblax quux number {i}", f"novel_{i}"
            assert reader.post(f"{NS}/predict", json={"text": text}).json()["label"] != label
            made = writer.post(f"{NS}/corrections", json={"text": text, "label": label})
            assert made.status_code == 201 and made.json()["new_label"] is True
            waits.append(_seen_within(reader, text, label, limit=1.0))
        # a revocation on one replica withdraws the example on the other
        last = made.json()["seq"]
        assert b.post(f"{NS}/revocations", json={"seq": last, "reason": "wrong"}).status_code \
            == 201
        started = time.monotonic()
        while a.post(f"{NS}/predict", json={"text": "zorblax quux number 3"}).json()[
                "label"] == "novel_3":
            assert time.monotonic() - started < 1.0
            time.sleep(0.02)
        # a threshold set through one replica reaches the other
        assert a.patch(NS, json={"threshold": 0.999}).status_code == 200
        started = time.monotonic()
        while not b.post(f"{NS}/predict", json={"text": "card"}).json()["abstained"]:
            assert time.monotonic() - started < 2.5
            time.sleep(0.05)
        head_a, head_b = a.get(f"{NS}/tree-head").json(), b.get(f"{NS}/tree-head").json()
        assert (head_a["size"], head_a["root_hash"]) == (head_b["size"], head_b["root_hash"])
        assert head_a["size"] == 4 + 4 + 1
        assert a.get(f"{NS}/verify").json()["ok"] and b.get(f"{NS}/verify").json()["ok"]
        assert max(waits) < 1.0
    finally:
        first.stop()
        second.stop()
