"""kill -9 of a real server under load loses no acknowledged correction: concurrent
clients correct and predict, the server is killed with SIGKILL mid-flight and started
again, and every correction it had answered 201 is in the ledger, which verifies. On
SQLite and on PostgreSQL (issue 17: the same crash test for both stores)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from ocrr.server.registry import Registry
from server_processes import all_entries, http, server

pytest_plugins = ["stores_fixtures"]  # the database fixture (a fresh PostgreSQL database)

NS = "/v1/namespaces/crash"
WRITERS, READERS = 4, 2


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_kill_9_under_load_loses_no_acknowledged_correction(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    data = (str(tmp_path / "data") if backend == "sqlite"
            else request.getfixturevalue("database"))
    registry = Registry(data)
    registry.create_namespace("crash")
    key, _ = registry.create_key("write", "crash")
    registry.close()
    process = server(data, tmp_path / "server.log").start()
    acknowledged: list[tuple[int, str, str]] = []
    attempted = [0] * WRITERS
    stop = threading.Event()

    def write(worker: int) -> None:
        with http(process, key) as client:
            for i in range(10_000):  # bounded; ends at the kill
                if stop.is_set():
                    return
                text, label = f"writer {worker} text {i}", f"label_{i % 7}"
                attempted[worker] += 1
                try:
                    answer = client.post(f"{NS}/corrections",
                                         json={"text": text, "label": label, "actor": "load"})
                except httpx.HTTPError:
                    return  # the server is gone
                if answer.status_code == 201:
                    acknowledged.append((answer.json()["seq"], text, label))

    def read(worker: int) -> None:
        with http(process, key) as client:
            for i in range(10_000):
                if stop.is_set():
                    return
                try:
                    client.post(f"{NS}/predict", json={"text": f"reader {worker} {i}"})
                except httpx.HTTPError:
                    return

    threads = [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
    threads += [threading.Thread(target=read, args=(r,)) for r in range(READERS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < 60 and time.monotonic() < deadline:
        time.sleep(0.02)
    process.kill()  # SIGKILL, with requests in flight
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert len(acknowledged) >= 60

    process.start()  # same data folder, a fresh process
    try:
        with http(process, key) as client:
            entries = all_entries(client, "crash")
            stored = {e["seq"]: (e["text"], e["label"]) for e in entries
                      if e["provenance"].get("actor") == "load"}
            for seq, text, label in acknowledged:
                assert stored.get(seq) == (text, label), seq
            # at most one unanswered correction per writer was in flight at the kill
            assert len(stored) - len(acknowledged) <= WRITERS
            assert client.get(f"{NS}/verify").json()["ok"] is True
            after = client.post(f"{NS}/corrections", json={"text": "after", "label": "x"})
            assert after.status_code == 201 and after.json()["seq"] == len(entries)
    finally:
        process.stop()
