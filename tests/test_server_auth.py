"""Authentication and authorisation on every route of the OpenAPI spec: no key, an unknown
key and a revoked key get 401; a key without the scope or for another namespace gets 403;
the refusal carries only an error code and message, and nothing is written."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from ocrr.server.config import ServerSettings
from server_support import Service, make_service

# (method, path template) -> (the scope it needs, a valid body)
ROUTES: dict[tuple[str, str], tuple[str, object]] = {
    ("GET", "/v1/metrics"): ("metrics", None),
    ("GET", "/v1/namespaces"): ("admin", None),
    ("POST", "/v1/namespaces"): ("admin", {"name": "fresh"}),
    ("GET", "/v1/namespaces/{ns}"): ("read", None),
    ("PATCH", "/v1/namespaces/{ns}"): ("admin", {"threshold": 0.5}),
    ("GET", "/v1/keys"): ("admin", None),
    ("POST", "/v1/keys"): ("admin", {"scope": "read", "namespace": "demo"}),
    ("DELETE", "/v1/keys/{key_id}"): ("admin", None),
    ("POST", "/v1/namespaces/{ns}/predict"): ("read", {"text": "where is my card"}),
    ("POST", "/v1/namespaces/{ns}/predict/batch"): ("read", {"texts": ["a card", "a rate"]}),
    ("POST", "/v1/namespaces/{ns}/corrections"): ("write", {"text": "t", "label": "l"}),
    ("POST", "/v1/namespaces/{ns}/corrections/batch"): (
        "write", {"items": [{"text": "t", "label": "l"}]}),
    ("POST", "/v1/namespaces/{ns}/revocations"): ("write", {"seq": 1, "reason": "r"}),
    ("POST", "/v1/namespaces/{ns}/erasures"): ("write", {"subject": "someone"}),
    ("GET", "/v1/namespaces/{ns}/entries"): ("read", None),
    ("GET", "/v1/namespaces/{ns}/verify"): ("read", None),
    ("POST", "/v1/namespaces/{ns}/verify"): ("read", {"size": 1, "root_hash": "00" * 32}),
    ("GET", "/v1/namespaces/{ns}/tree-head"): ("read", None),
    ("GET", "/v1/namespaces/{ns}/proofs/inclusion/{seq}"): ("read", None),
    ("GET", "/v1/namespaces/{ns}/proofs/consistency?old_size=1"): ("read", None),
    ("GET", "/v1/namespaces/{ns}/stats"): ("read", None),
    # the lifecycle routes (issue 18)
    ("POST", "/v1/namespaces/{ns}/examples"): (
        "write", {"items": [{"text": "t", "label": "l"}]}),
    ("GET", "/v1/namespaces/{ns}/uploads/{upload}"): ("read", None),
    ("GET", "/v1/namespaces/{ns}/changes"): ("read", None),
    ("POST", "/v1/namespaces/{ns}/relabels"): ("write", {"old": "l", "new": "m"}),
    ("POST", "/v1/namespaces/{ns}/retirements"): ("write", {"label": "m"}),
    ("GET", "/v1/namespaces/{ns}/vote"): ("read", None),
    ("PUT", "/v1/namespaces/{ns}/vote"): ("admin", {"rule": "hybrid"}),
}
PUBLIC = {("GET", "/v1/health")}

# which keys may use a route needing each scope (on namespace demo)
ALLOWED = {
    "read": {"admin", "write", "read"},
    "write": {"admin", "write"},
    "admin": {"admin"},
    "metrics": {"admin", "metrics"},
}
KEYS = ["admin", "write", "read", "other", "metrics"]


def _concrete(template: str) -> str:
    return (template.replace("{ns}", "demo").replace("{seq}", "1")
            .replace("{key_id}", "0000000000000000").replace("{upload}", "u1"))


def test_the_table_covers_every_route_of_the_spec(shared: Service) -> None:
    spec = shared.client.get("/openapi.json").json()
    routes = {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops}
    listed = {(m, p.split("?")[0]) for m, p in ROUTES} | PUBLIC
    assert routes == listed
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if (method.upper(), path) in PUBLIC:
                assert "security" not in op
            else:
                assert op["security"], (method, path)
                assert {"401", "403"} <= set(op["responses"]), (method, path)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    made, _ = make_service(tmp_path_factory.mktemp("auth") / "data",
                           ServerSettings(rate_limit=0, auth_failure_rate=0,
                                          key_cache_seconds=0.0))
    with made.client:
        made.seed()
        token, revoked = made.registry.create_key("admin")
        made.registry.revoke_key(revoked.key_id)
        made.keys["revoked"] = token
        yield made


def _call(client: TestClient, method: str, path: str, body: object,
          headers: dict[str, str]):  # noqa: ANN202
    return client.request(method, _concrete(path), json=body, headers=headers)


ROUTE_IDS = [f"{m} {p}" for m, p in ROUTES]


@pytest.mark.parametrize(("method", "path"), list(ROUTES), ids=ROUTE_IDS)
def test_no_key_unknown_key_and_revoked_key_get_401(shared: Service, method: str,
                                                    path: str) -> None:
    _, body = ROUTES[(method, path)]
    size = shared.size()
    for headers in ({}, {"Authorization": "Bearer ocrr_not_a_key"},
                    {"X-API-Key": "ocrr_not_a_key"}, {"Authorization": "Basic abc"},
                    shared.auth("revoked")):
        answer = _call(shared.client, method, path, body, headers)
        assert answer.status_code == 401, (headers, answer.text)
        assert set(answer.json()) == {"error", "message"}
        assert answer.json()["error"] == "unauthenticated"
    assert shared.size() == size


@pytest.mark.parametrize(("method", "path"), list(ROUTES), ids=ROUTE_IDS)
def test_each_key_gets_exactly_its_scope(shared: Service, method: str, path: str) -> None:
    scope, body = ROUTES[(method, path)]
    for who in KEYS:
        size = shared.size()
        answer = _call(shared.client, method, path, body, shared.auth(who))
        if who in ALLOWED[scope]:
            assert answer.status_code not in (401, 403), (who, answer.text)
        else:
            assert answer.status_code == 403, (who, answer.text)
            assert set(answer.json()) == {"error", "message"}
            assert shared.size() == size, who  # nothing written on a refusal


def test_a_namespace_key_learns_nothing_about_other_namespaces(shared: Service) -> None:
    for name in ("other", "nonexistent", "Not-Valid"):
        answer = shared.client.get(f"/v1/namespaces/{name}/stats", headers=shared.auth("read"))
        assert answer.status_code == 403  # the same answer whether it exists or not
        assert answer.json()["message"] == "this key does not grant read access here"


def test_health_needs_no_key(shared: Service) -> None:
    answer = shared.client.get("/v1/health")
    assert answer.status_code == 200 and answer.json()["status"] == "ok"
