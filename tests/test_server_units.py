"""The service's small parts alone: the batching encoder, the memo, rate limits, recent
accuracy, metrics text, keys and scopes, the registry, and the abstention threshold."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from ocrr.bench.abstention import SplitScores, choose_threshold
from ocrr.server.batching import BatchingEncoder, MemoEncoder
from ocrr.server.errors import Conflict, InvalidRequest, NotFound, error_for
from ocrr.server.keys import ApiKey, check_scope, token_hash
from ocrr.server.metrics import Metrics
from ocrr.server.ratelimit import RateLimiter
from ocrr.server.registry import Registry
from ocrr.server.tracking import RecentOutcomes
from server_fakes import HashingEncoder


class _Slow(HashingEncoder):
    def encode(self, texts, *, progress=False):  # noqa: ANN001, ANN202
        if any("poison" in t for t in texts):
            raise RuntimeError("cannot encode that")
        time.sleep(0.02)
        return super().encode(texts)


def test_concurrent_requests_share_batches_and_a_bad_text_fails_alone() -> None:
    inner = _Slow()
    seen: list[int] = []

    async def scenario() -> list[object]:
        batcher = BatchingEncoder(MemoEncoder(inner), max_batch=8,
                                  on_batch=lambda size, _: seen.append(size))
        await batcher.start()
        try:
            jobs = [batcher.encode([f"text {i}"]) for i in range(20)]
            jobs.append(batcher.encode(["poison pill"]))
            return await asyncio.gather(*jobs, return_exceptions=True)
        finally:
            await batcher.stop()

    results = asyncio.run(scenario())
    assert all(isinstance(r, np.ndarray) and r.shape == (1, 64) for r in results[:20])
    assert isinstance(results[20], InvalidRequest)
    assert max(seen) == 8 and sum(seen) == 21 and len(seen) < 21  # batched, capped at 8
    expected = HashingEncoder().encode(["text 3"])
    assert np.allclose(results[3], expected)


def test_inline_encoding_answers_single_short_texts_at_once_or_defers() -> None:
    inner = HashingEncoder()
    batches: list[int] = []

    async def scenario() -> None:
        queued = BatchingEncoder(MemoEncoder(inner), on_batch=lambda n, _: batches.append(n))
        assert queued.encode_now(["where is my card"]) is None  # inline is off by default
        batcher = BatchingEncoder(MemoEncoder(inner), inline=True,
                                  on_batch=lambda n, _: batches.append(n))
        assert batcher.encode_now(["before start"]) is None  # not running: encode() says so
        await batcher.start()
        try:
            calls = inner.calls
            now = batcher.encode_now(["where is my card"])
            assert now is not None and np.array_equal(now, inner.encode(["where is my card"]))
            assert batches == [] and inner.calls == calls + 2  # no batch: encoded here
            again = batcher.encode_now(["where is my card"])  # encoded again, as a batch
            assert again is not None and np.array_equal(again, now)  # would be (no lookup)
            assert inner.calls == calls + 3
            assert np.array_equal(batcher.memo.encode(["where is my card"]), now)  # kept
            assert batcher.encode_now(["two", "texts"]) is None  # several texts: queued
            assert batcher.encode_now(["x" * 1001]) is None  # a long text: queued
            with batcher.memo.encoder._lock:  # the instance is busy (a worker's batch)
                assert batcher.encode_now(["a new text"]) is None
            queued_rows = await batcher.encode(["a new text"])  # the queue still answers
            assert batches == [1] and np.array_equal(queued_rows,
                                                     inner.encode(["a new text"]))
        finally:
            await batcher.stop()

    asyncio.run(scenario())


def test_a_static_encoder_is_encoded_inline_by_default(tmp_path: Path) -> None:
    from ocrr.server.app import create_app
    from ocrr.server.config import ServerSettings

    static = type("Static", (HashingEncoder,), {"static": True})()
    for encoder, settings, inline in [
        (HashingEncoder(), None, False), (static, None, True),
        (static, ServerSettings(encode_inline=False), False),
        (HashingEncoder(), ServerSettings(encode_inline=True), True),
    ]:
        app = create_app(tmp_path / "data", encoder=encoder, settings=settings)
        assert app.state.ocrr.batcher.inline is inline
        app.state.ocrr.registry.close()


def test_inline_and_queued_encoding_give_the_same_answers(tmp_path: Path) -> None:
    from ocrr.server.config import ServerSettings
    from server_support import make_service

    answers = []
    for inline in (False, True):
        made, app = make_service(tmp_path / str(inline), ServerSettings(
            rate_limit=0, auth_failure_rate=0, encode_inline=inline))
        with made.client:
            made.seed()
            batches = app.state.ocrr.metrics.batch_texts  # type: ignore[attr-defined]
            before = list(batches.render())
            answers.append([made.client.post("/v1/namespaces/demo/predict", json={
                "text": text}, headers=made.auth("read")).json()
                for text in ("where is my card", "exchange rate please", "zorblax")])
            assert (list(batches.render()) == before) is inline  # inline: no batch encoded
    for answer in answers[0] + answers[1]:  # two ledgers, seeded at two moments
        for neighbour in answer["neighbours"]:
            del neighbour["created_at_ns"]
    assert answers[0] == answers[1]


def test_the_memo_returns_exactly_what_encoding_would() -> None:
    inner = HashingEncoder()
    memo = MemoEncoder(inner, capacity=2)
    vectors = inner.encode(["a", "b", "c"])
    memo.remember(["a", "b", "c"], vectors)  # "a" falls out (capacity 2)
    calls = inner.calls
    out = memo.encode(["b", "c"])
    assert inner.calls == calls and np.array_equal(out, vectors[1:])
    assert np.allclose(memo.encode(["a"]), vectors[:1]) and inner.calls == calls + 1


def test_token_buckets(monkeypatch: pytest.MonkeyPatch) -> None:
    # the limiter's clock, stopped: a busy machine (another pytest-xdist worker) pausing
    # this process for 0.1 s between two checks would otherwise refill a token
    now = [1000.0]
    monkeypatch.setattr("ocrr.server.ratelimit.time", SimpleNamespace(monotonic=lambda: now[0]))
    limiter = RateLimiter(rate=10, burst=3)
    assert [limiter.check("k") for _ in range(3)] == [None] * 3
    wait = limiter.check("k")
    assert wait == pytest.approx(0.1)
    assert limiter.check("other") is None
    now[0] += 0.05
    assert limiter.check("k") == pytest.approx(0.05)
    now[0] += 0.06
    assert limiter.check("k") is None
    assert RateLimiter(rate=0).check("anyone") is None


def test_recent_accuracy_counts_only_corrected_predictions() -> None:
    outcomes = RecentOutcomes(pending=2, window=3)
    assert outcomes.accuracy is None
    outcomes.predicted("a", "x")
    outcomes.predicted("b", "y")
    outcomes.predicted("c", "z")  # "a" is forgotten (2 pending at most)
    assert outcomes.corrected("a", "x") is None
    assert outcomes.corrected("b", "y") is True and outcomes.corrected("c", "q") is False
    assert outcomes.corrected("b", "y") is None  # settled once
    assert outcomes.judged == 2 and outcomes.accuracy == 0.5


def test_metrics_text_format() -> None:
    metrics = Metrics()
    metrics.requests.inc("GET", "/v1/x", "200")
    metrics.latency.observe(0.003, "/v1/x")
    metrics.latency.observe(0.2, "/v1/x")
    text = metrics.render([("ocrr_ledger_entries", "entries", [('we"ird', 5.0)])])
    assert 'ocrr_http_requests_total{method="GET",route="/v1/x",status="200"} 1' in text
    assert 'ocrr_http_request_seconds_bucket{route="/v1/x",le="0.005"} 1' in text
    assert 'ocrr_http_request_seconds_bucket{route="/v1/x",le="+Inf"} 2' in text
    assert 'ocrr_http_request_seconds_count{route="/v1/x"} 2' in text
    assert 'ocrr_ledger_entries{namespace="we\\"ird"} 5' in text


def test_scopes() -> None:
    read = ApiKey("k1", "read", "demo", None, 0)
    write = ApiKey("k2", "write", "demo", None, 0)
    admin = ApiKey("k3", "admin", None, None, 0)
    metrics = ApiKey("k4", "metrics", None, None, 0)
    assert read.allows("read", "demo") and not read.allows("write", "demo")
    assert not read.allows("read", "other") and not read.allows("read", None)
    assert write.allows("read", "demo") and write.allows("write", "demo")
    assert not write.allows("admin") and not write.allows("metrics")
    assert admin.allows("write", "anything") and admin.allows("metrics")
    assert metrics.allows("metrics") and not metrics.allows("read", "demo")
    revoked = ApiKey("k5", "admin", None, None, 0, revoked=True)
    assert not revoked.allows("read", "demo")
    with pytest.raises(ValueError):
        check_scope("read", None)
    with pytest.raises(ValueError):
        check_scope("admin", "demo")
    with pytest.raises(ValueError):
        check_scope("root", None)


def test_the_registry_keeps_only_hashes(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "data")
    registry.create_namespace("demo", threshold=0.3)
    with pytest.raises(Conflict):
        registry.create_namespace("demo")
    token, key = registry.create_key("write", "demo", name="bot")
    with pytest.raises(NotFound):
        registry.create_key("write", "ghost")
    assert registry.find_key(token) == key and registry.find_key(token + "x") is None
    raw = b"".join(f.read_bytes() for f in (tmp_path / "data").glob("registry.db*"))
    assert token.encode() not in raw and token_hash(token).encode() in raw
    registry.revoke_key(key.key_id)
    assert registry.find_key(token) is None
    assert registry.list_keys()[0].revoked
    assert registry.claim_encoder("demo", "enc-a") == "enc-a"
    assert registry.claim_encoder("demo", "enc-b") == "enc-a"  # the first one sticks
    registry.close()
    assert registry.get_namespace("demo").threshold == 0.3  # reconnects after close
    assert registry.set_threshold("demo", None).threshold is None


def test_errors_round_trip_by_status() -> None:
    made = error_for(404, "not_found", "no entry 9")
    assert isinstance(made, NotFound) and made.status == 404 and str(made) == "no entry 9"
    assert error_for(418, "teapot", "short and stout").status == 418


def test_the_threshold_balances_accuracy_and_recall() -> None:
    rng = np.random.default_rng(0)
    in_conf = rng.uniform(0.5, 1.0, 400)
    in_right = rng.uniform(size=400) < 0.9
    out_conf = rng.uniform(0.0, 0.6, 100)
    threshold = choose_threshold(SplitScores(in_conf, in_right), SplitScores(out_conf))
    assert 0.5 <= threshold <= 0.6
    chosen = (SplitScores(in_conf, in_right).accuracy(threshold)
              + SplitScores(out_conf).recall(threshold))
    for other in np.linspace(0, 1, 101):
        assert chosen >= (SplitScores(in_conf, in_right).accuracy(other)
                          + SplitScores(out_conf).recall(other)) - 1e-12
    # nothing to separate: never abstain
    same = SplitScores(np.array([0.9, 0.8]), np.array([True, True]))
    assert choose_threshold(same, SplitScores(np.array([0.95]))) <= 0.8


def test_two_workers_encode_batches_side_by_side() -> None:
    first, second = _Slow(), _Slow()

    async def scenario() -> list[np.ndarray]:
        batcher = BatchingEncoder(MemoEncoder(first), [second], max_batch=4)
        await batcher.start()
        try:
            await batcher.warm()
            return await asyncio.gather(*[batcher.encode([f"t{i}"]) for i in range(24)])
        finally:
            await batcher.stop()

    results = asyncio.run(scenario())
    assert len(results) == 24
    assert sum(first.batches[1:]) + sum(second.batches[1:]) == 24  # after the warm-ups
    assert len(first.batches) > 1 and len(second.batches) > 1  # both took batches
    # fewer calls than texts, counted (not timed: a busy machine, a second pytest-xdist
    # worker say, slows the clock, not the batching)
    assert len(first.batches) - 1 + len(second.batches) - 1 < 24
    with pytest.raises(ValueError):
        BatchingEncoder(MemoEncoder(first), [type("Other", (HashingEncoder,),
                                                  {"identity": "another"})()])


def test_predict_now_answers_as_predict_vectors_or_defers_to_a_held_lock() -> None:
    from ocrr.ledger import Ledger, MemoryStore
    from ocrr.server.namespace import PREDICT_CHUNK, Namespace
    from ocrr.server.schemas import Prediction
    from ocrr.substrate import Substrate

    encoder = HashingEncoder()
    substrate = Substrate(ledger=Ledger(MemoryStore()), encoder=encoder)
    substrate.correct_many(["card lost", "card stolen", "pay bill", "bill due"],
                           ["card", "card", "bill", "bill"], actor="seed")
    namespace = Namespace("t", substrate, threshold=0.2)
    texts = ["card lost today", "bill due today"]
    vectors = encoder.encode(texts)
    now = namespace.predict_now(texts, vectors)
    assert now == namespace.predict_vectors(texts, vectors)
    assert [p.best_label for p in now] == ["card", "bill"]
    for answer in now:  # validated once from plain values: a model like any other
        assert answer.neighbours
        assert Prediction.model_validate(answer.model_dump()) == answer
        assert answer.model_dump_json() == Prediction.model_validate_json(
            answer.model_dump_json()).model_dump_json()
    assert namespace.predictions == 4
    with namespace._lock:  # a correction in progress: the loop must not wait for it
        assert namespace.predict_now(texts, vectors) is None
    many = encoder.encode(["card"] * (PREDICT_CHUNK + 1))
    assert namespace.predict_now(["card"] * (PREDICT_CHUNK + 1), many) is None
    assert namespace.predictions == 4


def test_json_body_sends_the_bytes_fastapi_would() -> None:
    from pydantic import TypeAdapter

    from ocrr.server.routes.common import json_body
    from ocrr.server.schemas import Neighbour, Prediction

    answer = Prediction(label="unknown", confidence=0.25, abstained=True, best_label="é\"x",
                        threshold=0.5, neighbours=[Neighbour(
                            seq=3, label="é\"x", similarity=0.1 + 0.2, voted=True)])
    sent = json_body(answer)
    assert sent.body == TypeAdapter(Prediction).dump_json(answer, by_alias=True)
    assert sent.media_type == "application/json"


def test_the_predict_figure_times_the_servers_work_for_one_prediction(capsys) -> None:
    from ocrr.server import loadbench

    out = loadbench.predict(seed=40, encoder=HashingEncoder(), predictions=30)
    assert (out["entries"], out["dim"], out["predictions"]) == (40, HashingEncoder.dim, 30)
    for name in ("substrate", "namespace"):
        assert 0 < out[f"{name}_50_us"] <= out[f"{name}_99_us"]
    printed = capsys.readouterr().out
    assert "Namespace.predict_now" in printed and "Substrate.predict" in printed
