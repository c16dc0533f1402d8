"""``ocrr serve --workers N``: several processes on one port, with the rate limits shared.

The buckets' table is shared by forked processes (a key's burst is granted once across
them, not once per process), forgets only what it may, and its lock does not outlive a
worker that dies holding it; the server's workers answer from one port, share the key's
rate, die with their parent (``kill -9``), and take the server down when one of them dies.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from ocrr.server.app import create_app
from ocrr.server.buckets import LocalBuckets, SharedBuckets, SharedLimits
from ocrr.server.loadgen import process_cpu
from ocrr.server.ratelimit import RateLimiter
from ocrr.server.registry import Registry
from ocrr.server.workers import WorkerShare, bind
from server_fakes import HashingEncoder
from server_processes import http, server

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="workers need os.fork")

NS = "/v1/namespaces/demo"


def _allowed_in_children(limiter: RateLimiter, children: int, tries: int) -> int:
    """Fork ``children`` processes that each check ``tries`` times; how many were allowed."""
    pids = []
    for _ in range(children):
        pid = os.fork()
        if pid == 0:
            allowed = sum(limiter.check("key") is None for _ in range(tries))
            os._exit(allowed)
        pids.append(pid)
    return sum(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in pids)


def test_forked_processes_share_one_burst() -> None:
    # the rate is tiny: in the test's second no token comes back, only the burst counts
    shared = RateLimiter(rate=0.001, burst=5, buckets=SharedBuckets(max_callers=10))
    assert _allowed_in_children(shared, children=3, tries=5) == 5
    assert shared.check("key") is not None  # the parent sees the same empty bucket
    assert shared.check("another") is None
    local = RateLimiter(rate=0.001, burst=5, buckets=LocalBuckets())
    assert _allowed_in_children(local, children=3, tries=5) == 15  # each its own copy


def test_the_table_forgets_full_buckets_first(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr("ocrr.server.ratelimit.time", SimpleNamespace(monotonic=lambda: now[0]))
    buckets = SharedBuckets(max_callers=8)
    limiter = RateLimiter(rate=1, burst=4, buckets=buckets)  # full again after 4 s idle
    for i in range(6):
        assert limiter.check(f"old{i}") is None
    now[0] += 10  # the six are full again: forgetting them changes nothing
    for i in range(3):
        assert limiter.check(f"new{i}", cost=4) is None  # emptied
    assert len(buckets) == 8 + 1 - 6  # the ninth caller made the table drop the idle six
    with buckets.locked():
        assert buckets.get("old0") is None and buckets.get("new0") == (0.0, now[0])
    for i in range(3):
        assert limiter.check(f"new{i}") is not None  # still empty after the rebuild


def test_past_max_callers_the_longest_idle_go(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    monkeypatch.setattr("ocrr.server.ratelimit.time", SimpleNamespace(monotonic=lambda: now[0]))
    buckets = SharedBuckets(max_callers=4)
    limiter = RateLimiter(rate=0.001, burst=1, buckets=buckets)  # never full again here
    for i in range(5):
        now[0] += 1
        assert limiter.check(f"c{i}") is None
    assert len(buckets) == 3  # the two most recent of four kept, then the fifth
    with buckets.locked():
        kept = [c for c in ("c0", "c1", "c2", "c3", "c4") if buckets.get(c) is not None]
    assert kept == ["c2", "c3", "c4"]


def test_a_worker_dying_with_the_lock_does_not_keep_it() -> None:
    buckets = SharedBuckets(max_callers=4)
    pid = os.fork()
    if pid == 0:
        buckets.locked().__enter__()
        os._exit(0)  # dies holding it
    os.waitpid(pid, 0)

    def take() -> None:
        with buckets.locked():
            buckets.put("x", 1.0, 0.0, idle=1.0)

    taker = threading.Thread(target=take, daemon=True)  # a hang fails, not blocks, the test
    taker.start()
    taker.join(timeout=10)
    assert not taker.is_alive()


def test_a_port_another_server_holds_is_refused_not_shared() -> None:
    sockets = bind("127.0.0.1", 0, 1)  # any free port
    port = sockets[0].getsockname()[1]
    try:
        with pytest.raises(OSError):
            bind("127.0.0.1", port, 2)  # a second --workers server on the same port
    finally:
        for sock in sockets:
            sock.close()
    with socket.socket() as plain:
        plain.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        plain.bind(("127.0.0.1", 0))
        plain.listen(1)
        with pytest.raises(OSError):
            bind("127.0.0.1", plain.getsockname()[1], 2)


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads Linux's /proc")
def test_the_load_test_counts_the_workers_cpu_too() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # a worker: half a second of CPU, then it waits to be counted
        os.close(read)
        spent = time.process_time()
        while time.process_time() - spent < 0.5:
            pass
        os.write(write, b"x")
        time.sleep(30)
        os._exit(0)
    os.close(write)
    try:
        os.read(read, 1)
        counted = process_cpu(os.getpid())
        assert counted is not None and counted >= time.process_time() + 0.4
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(read)


def test_folders_of_servers_that_are_gone_are_removed() -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # its process id is now free: a server killed with -9 leaves such a folder
    first = WorkerShare.create()
    left = first.folder.parent / str(gone.pid)
    left.mkdir(exist_ok=True)
    (left / "worker-0.json").write_text("{}")
    second = WorkerShare.create()
    try:
        assert not left.exists() and first.folder.exists()  # this process is alive
    finally:
        first.close()
        second.close()


def test_the_app_charges_the_shared_tables(tmp_path: Path) -> None:
    (tmp_path / "published").mkdir()
    share = WorkerShare(SharedLimits(max_callers=16), tmp_path / "published")
    shared = share.limits
    app = create_app(tmp_path / "data", encoder=HashingEncoder(), workers=share)
    state = app.state.ocrr
    assert state.limiter.buckets is shared.requests
    assert state.failures.buckets is shared.failures
    assert state.budget.texts.buckets is shared.texts
    assert state.budget.chars.buckets is shared.chars
    state.registry.close()


def test_without_the_console_nothing_is_queued_for_review(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from ocrr.server.config import ServerSettings
    from ocrr.server.review import queues_of

    registry = Registry(tmp_path / "data")
    registry.create_namespace("demo")
    admin, _ = registry.create_key("admin")
    app = create_app(registry, encoder=HashingEncoder(),
                     settings=ServerSettings(console=False, rate_limit=0))
    with TestClient(app) as client:
        auth = {"Authorization": f"Bearer {admin}"}
        assert client.post(f"{NS}/corrections", json={"text": "card", "label": "card"},
                           headers=auth).status_code == 201
        assert client.post(f"{NS}/predict", json={"text": "my card"},
                           headers=auth).status_code == 200
        assert client.get("/").status_code == 503
        assert client.get("/login").status_code == 404
    assert len(queues_of(app)["demo"]) == 0  # the prediction was not kept for review


def _workers(pid: int) -> list[int]:
    children = []
    for task in os.listdir(f"/proc/{pid}/task"):
        children += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
    return children


def _setup(tmp_path: Path) -> tuple[str, str]:
    data = str(tmp_path / "data")
    registry = Registry(data)
    registry.create_namespace("demo")
    admin, _ = registry.create_key("admin")
    registry.close()
    return data, admin


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads Linux's /proc")
def test_two_workers_answer_share_the_rate_and_die_with_the_parent(tmp_path: Path) -> None:
    data, admin = _setup(tmp_path)
    process = server(data, tmp_path / "server.log", "--workers", "2",
                     "--rate-limit", "0.01").start()  # a burst of 1, no refill to speak of
    try:
        workers = _workers(process.pid)
        assert len(workers) == 2
        allowed = 0
        for _ in range(12):  # a new connection each: the workers take them as they come
            with http(process, admin) as client:
                allowed += client.get("/v1/namespaces").status_code != 429
        assert allowed == 1  # one burst for the key from the whole server
        page = httpx.get(process.url + "/", timeout=10)  # the console: one process's
        assert page.status_code == 503 and "--workers" in page.text
    finally:
        process.kill()  # kill -9 of the parent: the workers must not outlive it
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{w}").exists() and "Z" not in _state(w) for w in workers):
        assert time.monotonic() < deadline, "a worker outlived its parent"
        time.sleep(0.05)
    with pytest.raises(httpx.TransportError):
        httpx.get(process.url + "/v1/health", timeout=2)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads Linux's /proc")
def test_answers_reflect_acknowledged_corrections_and_one_dying_stops_all(
        tmp_path: Path) -> None:
    data, admin = _setup(tmp_path)
    process = server(data, tmp_path / "server.log", "--workers", "2").start()
    try:
        seed = [{"text": t, "label": y} for t, y in [
            ("where is my card", "card"), ("card has not arrived", "card"),
            ("euro exchange rate", "fx"), ("dollars to pounds rate", "fx")]]
        with http(process, admin) as client:
            assert client.post(f"{NS}/corrections/batch", json={"items": seed}).status_code \
                == 201
        for i in range(6):  # each correction, then a new connection at once: whichever
            # worker takes it, the answer reflects the acknowledged correction
            text, label = f"zorblax quux number {i}", f"novel_{i}"
            with http(process, admin) as client:
                made = client.post(f"{NS}/corrections", json={"text": text, "label": label})
                assert made.status_code == 201
            with http(process, admin) as client:
                assert client.post(f"{NS}/predict", json={"text": text}).json()["label"] == label
            with http(process, admin) as client:
                assert client.get(f"{NS}/tree-head").json()["size"] == made.json()["seq"] + 1
        predicted = 6 + 10  # the loop's six, then ten more, on new connections
        for i in range(10):
            with http(process, admin) as client:
                assert client.post(f"{NS}/predict", json={"text": f"card {i}"}).status_code \
                    == 200
        # /metrics speaks for both workers: whichever answers, the count is the server's
        wanted = f'ocrr_predictions_total{{namespace="demo"}} {predicted}'
        started = time.monotonic()
        while True:
            with http(process, admin) as client:
                text = client.get("/v1/metrics").text
            if wanted in text:
                break
            assert time.monotonic() - started < 5.0, [
                line for line in text.splitlines() if "predictions_total{" in line]
            time.sleep(0.2)
        workers = _workers(process.pid)
        os.kill(workers[0], signal.SIGKILL)
        assert process.process is not None
        assert process.process.wait(timeout=20) != 0
    finally:
        process.kill()
