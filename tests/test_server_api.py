"""The HTTP API in-process (TestClient, the tiny hashing encoder): predictions with their
explanations, corrections, abstention, revocation, erasure, audit routes, limits, and the
4xx answer (with nothing written) for each kind of bad request."""

from __future__ import annotations

import concurrent.futures
import time

import pytest

from ocrr.ledger.merkle import ConsistencyProof, InclusionProof
from ocrr.ledger.signing import generate_key, head_from_dict
from ocrr.server.app import create_app
from ocrr.server.config import ServerSettings
from server_fakes import HashingEncoder
from server_support import Service, make_service

pytest_plugins = ["server_fixtures"]

DEMO = "/v1/namespaces/demo"


def test_a_prediction_explains_itself(service: Service) -> None:
    answer = service.client.post(f"{DEMO}/predict", json={"text": "my card has not come"},
                                 headers=service.auth("read"))
    assert answer.status_code == 200
    body = answer.json()
    assert body["label"] == "card" and body["best_label"] == "card"
    assert 0 < body["confidence"] <= 1 and body["abstained"] is False
    top = body["neighbours"][0]
    assert top["label"] == "card" and top["voted"] is True
    assert top["actor"] == "seed" and top["source"] == "correction"
    assert top["created_at_ns"] > 0 and isinstance(top["seq"], int)
    sims = [n["similarity"] for n in body["neighbours"]]
    assert sims == sorted(sims, reverse=True)


def test_a_correction_counts_at_once_and_a_new_label_is_a_new_class(service: Service) -> None:
    text = "I want to close my account"
    before = service.client.post(f"{DEMO}/predict", json={"text": text},
                                 headers=service.auth("read")).json()
    assert before["label"] != "close_account"
    receipt = service.client.post(f"{DEMO}/corrections", headers=service.auth("write"),
                                  json={"text": text, "label": "close_account",
                                        "actor": "agent-7"})
    assert receipt.status_code == 201
    assert receipt.json()["new_label"] is True and receipt.json()["kind"] == "example"
    after = service.client.post(f"{DEMO}/predict", json={"text": "please close my account"},
                                headers=service.auth("read")).json()
    assert after["label"] == "close_account"
    assert after["neighbours"][0]["actor"] == "agent-7"
    again = service.client.post(f"{DEMO}/corrections", headers=service.auth("write"),
                                json={"text": "shut my account", "label": "close_account"})
    assert again.json()["new_label"] is False


def test_batches_of_predictions_and_corrections(service: Service) -> None:
    texts = ["where is my card now", "rate for euros", "reset my password"]
    answer = service.client.post(f"{DEMO}/predict/batch", json={"texts": texts},
                                 headers=service.auth("read"))
    assert [p["label"] for p in answer.json()["predictions"]] == ["card", "fx", "password"]
    size = service.size()
    made = service.client.post(f"{DEMO}/corrections/batch", headers=service.auth("write"),
                               json={"items": [{"text": "t one", "label": "a"},
                                               {"text": "t two", "label": "b",
                                                "subject": "person-1"}],
                                     "actor": "bulk"})
    assert made.status_code == 201
    assert [r["seq"] for r in made.json()["receipts"]] == [size, size + 1]
    assert service.size() == size + 2


def test_abstention_below_the_threshold(service: Service) -> None:
    admin = service.auth("admin")
    text = {"text": "the weather on mars"}
    plain = service.client.post(f"{DEMO}/predict", json=text, headers=admin).json()
    assert plain["abstained"] is False and plain["threshold"] is None
    set_ = service.client.patch(DEMO, json={"threshold": 0.999}, headers=admin)
    assert set_.status_code == 200 and set_.json()["threshold"] == 0.999
    held = service.client.post(f"{DEMO}/predict", json=text, headers=admin).json()
    assert held["label"] == "unknown" and held["abstained"] is True
    assert held["best_label"] == plain["label"] and held["threshold"] == 0.999
    assert held["neighbours"]  # the evidence is still shown
    service.client.patch(DEMO, json={"threshold": None}, headers=admin)
    assert service.client.post(f"{DEMO}/predict", json=text,
                               headers=admin).json()["abstained"] is False
    stats = service.client.get(f"{DEMO}/stats", headers=admin).json()
    assert stats["abstentions"] == 1 and stats["predictions"] == 3


def test_a_namespace_created_with_a_threshold(service: Service) -> None:
    made = service.client.post("/v1/namespaces", json={"name": "strict", "threshold": 0.5},
                               headers=service.auth("admin"))
    assert made.status_code == 201 and made.json()["encoder"] == HashingEncoder.identity
    empty = service.client.post("/v1/namespaces/strict/predict", json={"text": "hello"},
                                headers=service.auth("admin")).json()
    assert empty["label"] == "unknown" and empty["best_label"] is None
    names = [n["name"] for n in service.client.get(
        "/v1/namespaces", headers=service.auth("admin")).json()["namespaces"]]
    assert names == ["demo", "other", "strict"]


def test_revocation(service: Service) -> None:
    write = service.auth("write")
    size = service.size()
    missing = service.client.post(f"{DEMO}/revocations", json={"seq": 999, "reason": "typo"},
                                  headers=write)
    assert missing.status_code == 404 and "999" in missing.json()["message"]
    assert service.size() == size
    done = service.client.post(f"{DEMO}/revocations",
                               json={"seq": 0, "reason": "wrong", "actor": "auditor"},
                               headers=write)
    assert done.status_code == 201 and done.json()["kind"] == "revocation"
    twice = service.client.post(f"{DEMO}/revocations", json={"seq": 0, "reason": "again"},
                                headers=write)
    assert twice.status_code == 409 and twice.json()["error"] == "conflict"
    not_example = service.client.post(f"{DEMO}/revocations",
                                      json={"seq": size, "reason": "x"}, headers=write)
    assert not_example.status_code == 409
    entries = service.client.get(f"{DEMO}/entries", headers=write).json()["entries"]
    assert entries[0]["active"] is False and entries[1]["active"] is True


def test_erasure_of_a_subject(service: Service) -> None:
    write = service.auth("write")
    made = service.client.post(f"{DEMO}/corrections", headers=write, json={
        "text": "my name is Ada and I lost my card", "label": "lost_card", "subject": "ada"})
    seq = made.json()["seq"]
    erased = service.client.post(f"{DEMO}/erasures", json={"subject": "ada", "reason": "gdpr"},
                                 headers=write)
    assert erased.status_code == 201 and erased.json()["kind"] == "erasure"
    entry = service.client.get(f"{DEMO}/entries?start={seq}&limit=1",
                               headers=write).json()["entries"][0]
    assert entry["sealed"] and not entry["readable"] and entry["text"] is None
    assert entry["provenance"] == {} and entry["active"] is False
    answer = service.client.post(f"{DEMO}/predict", json={"text": "Ada lost card"},
                                 headers=write).json()
    assert seq not in [n["seq"] for n in answer["neighbours"]]
    again = service.client.post(f"{DEMO}/erasures", json={"subject": "ada"}, headers=write)
    assert again.status_code == 404
    assert service.client.get(f"{DEMO}/verify", headers=write).json()["ok"] is True


def test_entries_are_paged(service: Service) -> None:
    read = service.auth("read")
    first = service.client.get(f"{DEMO}/entries?start=0&limit=4", headers=read).json()
    assert [e["seq"] for e in first["entries"]] == [0, 1, 2, 3] and first["next"] == 4
    rest = service.client.get(f"{DEMO}/entries?start=4&limit=100", headers=read).json()
    assert rest["next"] is None and len(rest["entries"]) == first["size"] - 4
    assert rest["entries"][0]["prev_hash"] == first["entries"][-1]["entry_hash"]
    beyond = service.client.get(f"{DEMO}/entries?start=1000", headers=read).json()
    assert beyond["entries"] == [] and beyond["next"] is None


def test_verification_heads_and_proofs_check_offline(service: Service) -> None:
    read = service.auth("read")
    head = service.client.get(f"{DEMO}/tree-head", headers=read).json()
    assert head["size"] == service.size() and head["signature"] is None
    kept = service.client.post(f"{DEMO}/verify", json=head, headers=read).json()
    assert kept["ok"] is True
    forged = service.client.post(f"{DEMO}/verify",
                                 json={"size": head["size"], "root_hash": "ab" * 32},
                                 headers=read).json()
    assert forged["ok"] is False
    service.client.post(f"{DEMO}/corrections", json={"text": "more", "label": "card"},
                        headers=service.auth("write"))
    proof = service.client.get(f"{DEMO}/proofs/inclusion/3", headers=read).json()
    assert InclusionProof.from_dict(proof).verify()
    consistency = service.client.get(f"{DEMO}/proofs/consistency",
                                     params={"old_size": head["size"]}, headers=read).json()
    checked = ConsistencyProof.from_dict(consistency)
    assert checked.verify() and checked.old_root.hex() == head["root_hash"]
    assert service.client.get(f"{DEMO}/proofs/inclusion/500",
                              headers=read).status_code == 404
    assert service.client.get(f"{DEMO}/proofs/consistency", params={"old_size": 500},
                              headers=read).status_code == 404


def test_signed_tree_heads(tmp_path) -> None:  # noqa: ANN001
    key = generate_key()
    made, _ = make_service(tmp_path / "data")
    app = create_app(made.registry, encoder=HashingEncoder(), signing_key=key,
                     settings=ServerSettings(rate_limit=0))
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        head = client.get(f"{DEMO}/tree-head", headers=made.auth("read")).json()
    signed = head_from_dict(head)
    assert signed.verify(key.public_key())


def test_stats_measure_recent_accuracy_by_corrections(service: Service) -> None:
    read, write = service.auth("read"), service.auth("write")
    right = service.client.post(f"{DEMO}/predict", json={"text": "card still not here"},
                                headers=read).json()
    service.client.post(f"{DEMO}/corrections", json={"text": "card still not here",
                                                     "label": right["label"]}, headers=write)
    stats = service.client.get(f"{DEMO}/stats", headers=read).json()
    assert stats["recent_judged"] == 1 and stats["recent_accuracy"] == 1.0
    service.client.post(f"{DEMO}/predict", json={"text": "lost phone"}, headers=read)
    service.client.post(f"{DEMO}/corrections", json={"text": "lost phone", "label": "phone"},
                        headers=write)
    stats = service.client.get(f"{DEMO}/stats", headers=read).json()
    assert stats["recent_judged"] == 2 and stats["recent_accuracy"] == 0.5
    assert stats["entries"] == service.size() and stats["classes"] == 4
    assert stats["storage_bytes"] > 0 and stats["dim"] == 64 and stats["corrections"] == 11


BAD_REQUESTS = [
    # (name, method, path, body or raw bytes, key, status)
    ("malformed json", "POST", f"{DEMO}/corrections", b'{"text": "x", "label":', "write", 400),
    ("not an object", "POST", f"{DEMO}/corrections", [1, 2], "write", 422),
    ("unknown namespace", "POST", "/v1/namespaces/nowhere/corrections",
     {"text": "x", "label": "y"}, "admin", 404),
    ("invalid namespace name", "POST", "/v1/namespaces/Bad-Name/corrections",
     {"text": "x", "label": "y"}, "admin", 422),
    ("revoke a missing seq", "POST", f"{DEMO}/revocations", {"seq": 10_000, "reason": "r"},
     "write", 404),
    ("negative seq", "POST", f"{DEMO}/revocations", {"seq": -1, "reason": "r"}, "write", 422),
    ("empty text", "POST", f"{DEMO}/corrections", {"text": "", "label": "y"}, "write", 422),
    ("blank text", "POST", f"{DEMO}/corrections", {"text": " \n\t", "label": "y"}, "write", 422),
    ("text with NUL", "POST", f"{DEMO}/corrections", {"text": "a\u0000b", "label": "y"},
     "write", 422),
    ("lone surrogate", "POST", f"{DEMO}/corrections", b'{"text": "a\\ud800", "label": "y"}',
     "write", 422),
    ("over-long text", "POST", f"{DEMO}/corrections", {"text": "x" * 20_001, "label": "y"},
     "write", 422),
    ("empty label", "POST", f"{DEMO}/corrections", {"text": "x", "label": ""}, "write", 422),
    ("over-long label", "POST", f"{DEMO}/corrections", {"text": "x", "label": "y" * 257},
     "write", 422),
    ("unknown field", "POST", f"{DEMO}/corrections", {"text": "x", "label": "y", "lbl": "z"},
     "write", 422),
    ("wrong type", "POST", f"{DEMO}/corrections", {"text": 5, "label": "y"}, "write", 422),
    ("missing label", "POST", f"{DEMO}/corrections", {"text": "x"}, "write", 422),
    ("empty batch", "POST", f"{DEMO}/corrections/batch", {"items": []}, "write", 422),
    ("batch over the limit", "POST", f"{DEMO}/corrections/batch",
     {"items": [{"text": f"t{i}", "label": "y"} for i in range(1001)]}, "write", 413),
    ("body over the limit", "POST", f"{DEMO}/corrections",
     {"text": "x" * 1_100_000, "label": "y"}, "write", 413),
    ("wrong key", "POST", f"{DEMO}/corrections", {"text": "x", "label": "y"}, "bogus", 401),
    ("read key writing", "POST", f"{DEMO}/corrections", {"text": "x", "label": "y"}, "read",
     403),
    ("other namespace's key", "POST", f"{DEMO}/corrections", {"text": "x", "label": "y"},
     "other", 403),
    ("erase an unknown subject", "POST", f"{DEMO}/erasures", {"subject": "nobody"}, "write",
     404),
    ("bad root hash", "POST", f"{DEMO}/verify", {"size": 3, "root_hash": "xyz"}, "read", 422),
    ("head without root", "POST", f"{DEMO}/verify", {"size": 3}, "read", 422),
    ("limit too large", "GET", f"{DEMO}/entries?limit=100000", None, "read", 422),
    ("unknown route", "GET", "/v1/nothing", None, "read", 404),
    ("wrong method", "DELETE", f"{DEMO}/corrections", None, "write", 405),
]


@pytest.mark.parametrize(("name", "method", "path", "body", "who", "status"), BAD_REQUESTS,
                         ids=[b[0] for b in BAD_REQUESTS])
def test_each_bad_request_is_a_documented_4xx_and_writes_nothing(
    service: Service, name: str, method: str, path: str, body: object, who: str, status: int
) -> None:
    headers = {"Authorization": "Bearer ocrr_bogus"} if who == "bogus" else service.auth(who)
    size = service.size()
    if isinstance(body, bytes):
        answer = service.client.request(method, path, content=body,
                                        headers={**headers, "Content-Type": "application/json"})
    else:
        answer = service.client.request(method, path, json=body, headers=headers)
    assert answer.status_code == status, answer.text
    error = answer.json()
    assert set(error) == {"error", "message"} and error["message"]
    assert service.size() == size
    if status in (401, 403):
        assert "card" not in answer.text  # no data leaks into a refusal


def test_rate_limits_answer_429_with_retry_after(tmp_path) -> None:  # noqa: ANN001
    made, _ = make_service(tmp_path / "data", ServerSettings(rate_limit=2.0,
                                                             auth_failure_rate=1.0))
    with made.client as client:
        codes = [client.get(f"{DEMO}/stats", headers=made.auth("read")).status_code
                 for _ in range(10)]
        assert codes[:4] == [200] * 4 and codes[-1] == 429
        limited = client.get(f"{DEMO}/stats", headers=made.auth("read"))
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
        assert client.get(f"{DEMO}/stats", headers=made.auth("write")).status_code == 200
        guesses = [client.get(f"{DEMO}/stats", headers={"Authorization": f"Bearer x{i}"})
                   .status_code for i in range(8)]
        assert guesses[0] == 401 and guesses[-1] == 429
        assert client.get("/v1/health").status_code == 200  # never limited


def test_metrics_in_prometheus_format(service: Service) -> None:
    service.client.post(f"{DEMO}/predict", json={"text": "card"}, headers=service.auth("read"))
    text = service.client.get("/v1/metrics", headers=service.auth("metrics"))
    assert text.status_code == 200 and text.headers["content-type"].startswith("text/plain")
    body = text.text
    assert 'ocrr_predictions_total{namespace="demo"} 1' in body
    assert 'route="/v1/namespaces/{ns}/predict",status="200"' in body
    assert 'ocrr_ledger_entries{namespace="demo"} 9' in body
    assert "ocrr_encode_batch_texts_bucket" in body
    assert service.client.get("/v1/metrics", headers=service.auth("read")).status_code == 403
    assert service.client.get(f"{DEMO}/stats",
                              headers=service.auth("metrics")).status_code == 403


def test_keys_made_and_revoked_through_the_api(tmp_path) -> None:  # noqa: ANN001
    made, _ = make_service(tmp_path / "data",
                           ServerSettings(rate_limit=0, key_cache_seconds=0.0))
    with made.client as client:
        admin = made.auth("admin")
        key = client.post("/v1/keys", json={"scope": "read", "namespace": "demo",
                                            "name": "dashboard"}, headers=admin)
        assert key.status_code == 201 and key.json()["token"].startswith("ocrr_")
        token, key_id = key.json()["token"], key.json()["key_id"]
        bearer = {"Authorization": f"Bearer {token}"}
        assert client.get(f"{DEMO}/stats", headers=bearer).status_code == 200
        assert client.get(f"{DEMO}/stats", headers={"X-API-Key": token}).status_code == 200
        listed = client.get("/v1/keys", headers=admin).json()["keys"]
        assert token not in str(listed) and key_id in [k["key_id"] for k in listed]
        assert client.post("/v1/keys", json={"scope": "read"},
                           headers=admin).status_code == 422  # a read key needs a namespace
        assert client.delete(f"/v1/keys/{key_id}", headers=admin).json()["revoked"] is True
        assert client.get(f"{DEMO}/stats", headers=bearer).status_code == 401
        assert client.delete("/v1/keys/nope", headers=admin).status_code == 404


def test_concurrent_predictions_are_encoded_together(tmp_path) -> None:  # noqa: ANN001
    class Slow(HashingEncoder):
        def encode(self, texts, *, progress=False):  # noqa: ANN001, ANN202
            time.sleep(0.05)  # an encoder call costs about the same for one text or many
            return super().encode(texts)

    made, _ = make_service(tmp_path / "data")
    slow = Slow()
    app = create_app(made.registry, encoder=slow, settings=ServerSettings(rate_limit=0))
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        def one(i: int) -> int:
            return client.post(f"{DEMO}/predict", json={"text": f"text number {i}"},
                               headers=made.auth("read")).status_code

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            codes = list(pool.map(one, range(48)))
    assert codes == [200] * 48
    predicted = [b for b in slow.batches[1:] if b]  # the first is the warm-up
    assert sum(predicted) == 48 and max(predicted) > 1 and len(predicted) < 48


def test_the_fast_path_answers_as_the_route_and_passes_refusals_on(
        service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    import ocrr.server.fastpath as fastpath

    taken: list[str] = []
    real = fastpath._predict

    async def spy(request, namespace, texts, as_of=None):  # noqa: ANN001, ANN202
        taken.extend(texts)
        return await real(request, namespace, texts, as_of)

    monkeypatch.setattr(fastpath, "_predict", spy)
    post = service.client.post
    body = {"text": "my card has not come"}
    first = post(f"{DEMO}/predict", json=body, headers=service.auth("read"))
    assert first.status_code == 200 and taken == []  # the key was not cached: the route
    fast = post(f"{DEMO}/predict", json=body, headers=service.auth("read"))
    assert taken == [body["text"]]
    routed = post(f"{DEMO}/predict", json=body, headers={"X-API-Key": service.keys["read"]})
    assert len(taken) == 1  # another key header: the route
    assert fast.status_code == routed.status_code == 200
    assert fast.content == routed.content == first.content
    assert fast.headers["content-type"] == routed.headers["content-type"]
    # refusals are the route's: scope, namespace, body, two keys; nothing taken here
    refused = [
        post("/v1/namespaces/other/predict", json=body, headers=service.auth("read")),
        post(f"{DEMO}/predict", json={**body, "extra": 1}, headers=service.auth("read")),
        post(f"{DEMO}/predict", content=b"{not json", headers={
            **service.auth("read"), "Content-Type": "application/json"}),
        post(f"{DEMO}/predict", json=body, headers={
            **service.auth("read"), "X-API-Key": service.keys["write"]}),
        post(f"{DEMO}/predict", json={"text": ""}, headers=service.auth("read")),
    ]
    assert [r.status_code for r in refused] == [403, 422, 400, 401, 422]
    assert len(taken) == 1
    metrics = service.client.get("/v1/metrics", headers=service.auth("metrics")).text
    assert ('ocrr_http_requests_total{method="POST",route="/v1/namespaces/{ns}/predict",'
            'status="200"} 3') in metrics


def test_the_fast_path_keeps_the_rate_limit_and_the_work_budget(tmp_path) -> None:  # noqa: ANN001
    service, _ = make_service(tmp_path, ServerSettings(rate_limit=1, auth_failure_rate=0,
                                                       text_rate=1))
    with service.client:
        service.seed()
        post = service.client.post
        body = {"text": "my card has not come"}
        answers = [post(f"{DEMO}/predict", json=body, headers=service.auth("read"))
                   for _ in range(4)]
        assert 429 in [a.status_code for a in answers]
        refused = next(a for a in answers if a.status_code == 429)
        assert refused.json()["error"] == "rate_limited" and "Retry-After" in refused.headers
