"""Issue 17 item 6: limits that count work, not requests. Per-key budgets in texts and
characters per second (429 with Retry-After, nothing encoded or written), and a fair share
of the encoder: one key's maximal batches do not make another key's single text wait for
them (the fair queue in server/batching.py; ``ocrr load``'s flood phase measures it on the
real model)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from ocrr.server.app import create_app
from ocrr.server.batching import BatchingEncoder, MemoEncoder
from ocrr.server.config import ServerSettings
from ocrr.server.registry import Registry
from server_fakes import HashingEncoder


class _PerText(HashingEncoder):
    """Costs 5 ms a text, as a real model costs by length."""

    def encode(self, texts, *, progress=False):  # noqa: ANN001, ANN202
        time.sleep(0.005 * len(texts))
        return super().encode(texts)


def test_a_flood_from_one_owner_does_not_hold_up_another_owners_text() -> None:
    flood_texts = [f"long text {i} " + "x" * 1000 for i in range(200)]  # 1 s of encoding

    async def scenario() -> tuple[float, float, np.ndarray]:
        batcher = BatchingEncoder(MemoEncoder(_PerText()), max_batch=64, max_cost=4096)
        await batcher.start()
        try:
            flood = asyncio.ensure_future(batcher.encode(flood_texts, owner="flood"))
            await asyncio.sleep(0.02)  # the flood holds the encoder
            started = time.perf_counter()
            mine = await batcher.encode(["where is my card"], owner="other")
            waited = time.perf_counter() - started
            assert np.allclose(mine, HashingEncoder().encode(["where is my card"]), atol=1e-6)
            flooded = await flood
            return waited, time.perf_counter() - started, flooded
        finally:
            await batcher.stop()

    waited, flood_left, flooded = asyncio.run(scenario())
    assert waited < 0.25, waited  # about one bounded batch (4 long texts), not the flood
    assert flood_left > 2 * waited
    assert np.allclose(flooded, HashingEncoder().encode(flood_texts), atol=1e-6)  # in order


def _service(tmp_path: Path, **settings: object) -> tuple[TestClient, dict[str, str]]:
    registry = Registry(tmp_path / "data")
    registry.create_namespace("demo")
    keys = {"a": registry.create_key("write", "demo")[0],
            "b": registry.create_key("write", "demo")[0]}
    app = create_app(registry, encoder=HashingEncoder(), settings=ServerSettings(
        rate_limit=0, auth_failure_rate=0, **settings))  # type: ignore[arg-type]
    return TestClient(app), keys


def test_character_budget_refuses_with_retry_after_and_writes_nothing(tmp_path: Path) -> None:
    client, keys = _service(tmp_path, char_rate=1_000, max_body_bytes=20_000)
    long = "y" * 4_000
    with client:
        a = {"Authorization": f"Bearer {keys['a']}"}
        first = client.post("/v1/namespaces/demo/predict/batch", json={"texts": [long] * 4},
                            headers=a)
        assert first.status_code == 200, first.text
        refused = client.post("/v1/namespaces/demo/corrections",
                              json={"text": long + "z" * 1_000, "label": "y"}, headers=a)
        assert refused.status_code == 429, refused.text
        assert "character budget" in refused.json()["message"]
        assert int(refused.headers["Retry-After"]) >= 1
        size = client.get("/v1/namespaces/demo/entries?limit=1", headers=a).json()["size"]
        assert size == 0  # refused before anything was encoded or written
        other = client.post("/v1/namespaces/demo/predict", json={"text": long},
                            headers={"Authorization": f"Bearer {keys['b']}"})
        assert other.status_code == 200  # another key's budget is its own


def test_text_budget_counts_texts_not_requests(tmp_path: Path) -> None:
    client, keys = _service(tmp_path, text_rate=2, max_batch_texts=5,
                            max_batch_corrections=5)
    with client:
        a = {"Authorization": f"Bearer {keys['a']}"}
        assert client.post("/v1/namespaces/demo/predict/batch", json={"texts": ["hi"] * 5},
                           headers=a).status_code == 200
        refused = client.post("/v1/namespaces/demo/predict", json={"text": "hi"}, headers=a)
        assert refused.status_code == 429
        assert "text budget of 2 texts per second" in refused.json()["message"]
        assert "Retry-After" in refused.headers


def test_a_batch_gives_each_waiting_owner_its_share_of_the_cost() -> None:
    from ocrr.server.batching import FairQueue, _Job

    loop = asyncio.new_event_loop()
    try:
        queue = FairQueue()
        queue.put(_Job(["x" * 4000] * 10, loop.create_future(), owner="flood"))
        queue.put(_Job(["short"], loop.create_future(), owner="other"))
        queue.put(_Job(["tiny"], loop.create_future(), owner="third"))
        batch = queue.take(max_texts=64, max_cost=8192)
        # a third of the cost each (one text at least): the flood 2 long texts, not 7; the
        # short texts are another length class (padded, each would cost a long one)
        assert {p.job.owner: p.stop - p.start for p in batch} == {"flood": 2}
        batch = queue.take(max_texts=64, max_cost=8192)  # those skipped come first
        assert {p.job.owner: p.stop - p.start for p in batch} == {"other": 1, "third": 1}
        queue.put(_Job(["short again"], loop.create_future(), owner="other"))
        assert [p.job.owner for p in queue.take(max_texts=64, max_cost=2048)] == ["flood"]
        assert [p.job.owner for p in queue.take(max_texts=64, max_cost=2048)] == ["other"]
        alone = queue.take(max_texts=64, max_cost=4096)  # the flood alone: all the budget
        assert [(p.job.owner, p.stop - p.start) for p in alone] == [("flood", 3)]
    finally:
        loop.close()


class _ByLength(HashingEncoder):
    """Costs 0.2 ms a character, as a real model costs by length."""

    def encode(self, texts, *, progress=False):  # noqa: ANN001, ANN202
        time.sleep(0.0002 * max(len(t) for t in texts) * len(texts))
        return super().encode(texts)


def test_with_two_workers_a_flood_of_long_texts_leaves_one_free_for_others() -> None:
    long = [f"long {i} " + "x" * 1000 for i in range(12)]  # 0.2 s each

    async def scenario() -> tuple[float, float]:
        batcher = BatchingEncoder(MemoEncoder(_ByLength()), [_ByLength()], max_batch=64,
                                  max_cost=2048)
        await batcher.start()
        try:
            flood = asyncio.ensure_future(batcher.encode(long, owner="flood"))
            await asyncio.sleep(0.05)  # the flood holds a worker
            started = time.perf_counter()
            await batcher.encode(["where is my card"], owner="other")
            waited = time.perf_counter() - started
            await flood
            return waited, time.perf_counter() - started
        finally:
            await batcher.stop()

    waited, flood_left = asyncio.run(scenario())
    assert waited < 0.1, waited  # the second worker was kept free: no long batch to wait for
    assert flood_left > 1.0  # one worker for the flood: 12 x 0.2 s, less what was done
