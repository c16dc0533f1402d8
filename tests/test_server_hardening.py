"""Issue 17, service side: private files (item 8), no 500 on any console input (item 9),
and who made each change recorded beside the actor the client names (item 7)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from fastapi.testclient import TestClient

from ocrr.server.app import create_app
from ocrr.server.config import ServerSettings
from ocrr.server.registry import Registry
from server_fakes import HashingEncoder

pytest_plugins = ["server_fixtures"]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_registry_ledgers_and_folders_are_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        data = tmp_path / "data"
        registry = Registry(data)
        registry.create_namespace("demo")
        key, _ = registry.create_key("write", "demo")
        app = create_app(registry, encoder=HashingEncoder(),
                         settings=ServerSettings(rate_limit=0, auth_failure_rate=0))
        with TestClient(app) as client:
            answer = client.post("/v1/namespaces/demo/corrections",
                                 json={"text": "where is my card", "label": "card",
                                       "subject": "alice"},
                                 headers={"Authorization": f"Bearer {key}"})
            assert answer.status_code == 201, answer.text
            files = [p for p in data.rglob("*") if p.is_file()]
            assert {p.name for p in files} >= {"registry.db", "demo.db", "demo.db-wal"}
            for path in files:  # the ledger file holds the subject keys too
                assert _mode(path) == 0o600, (path, oct(_mode(path)))
            for folder in (data, data / "namespaces"):
                assert _mode(folder) == 0o700, (folder, oct(_mode(folder)))
    finally:
        os.umask(old)


def test_existing_loose_files_are_tightened_at_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    Registry(data).create_namespace("demo")
    for path in (data / "registry.db", data / "namespaces" / "demo.db"):
        path.chmod(0o644)
    (data / "namespaces").chmod(0o755)
    Registry(data).create_ledger("demo")
    assert _mode(data / "registry.db") == 0o600
    assert _mode(data / "namespaces" / "demo.db") == 0o600
    assert _mode(data / "namespaces") == 0o700


NASTY_JSON: list[bytes] = [
    b"[" * 100_000, b"{" * 100_000, b'{"a":' * 50_000, b"", b"null", b"[]", b"1e999999",
    b"\xff\xfe\x00", b'"\\ud800"', b'{"action": ["accept"]}', b'{"action": {"x": 1}}',
    b'{"action": "correct", "label": ["x"]}', b'{"action": "correct", "label": "a\\u0000"}',
    b'{"action": "correct", "label": "' + b"x" * 100_000 + b'"}', b'{"text": 12}',
    b'{"text": "\\ud800"}', b'{"text": "' + b"[" * 30_000 + b'"}', b'{"text": null}',
]
NASTY_FORM: list[bytes] = [
    b"reason=%ff%fe&subject=%00", b"reason=" + b"x" * 100_000, b"a=1&" * 5_000,
    b"subject=\xff\xfe&confirm=yes", b"subject=%ED%A0%80&confirm=yes", b"csrf=%C3%BF",
    b"reason=\x1b[31m&actor=%E2%80%AE", b"=&=&==", b"%",
]
NASTY_QUERIES = [
    "size=5&root=" + "z" * 64, "size=\u00b2&root=" + "a" * 64, "size=5&root=" + "\u0661" * 64,
    "size=99999999999999999999999&root=" + "0" * 64, "before=\u00b2", "before=-1",
    "since=0000-01-01&until=9999-99-99", "since=" + "9" * 1000, "limit=-5",
    "limit=99999999999999999999999", "label=%00&actor=%ff&kind=%E2%80%AE", "notice=%ED%A0%80",
]
HOSTILE_HEADERS = [{"X-CSRF-Token": b"\xff" * 10}, {"Origin": "http://["},
                   {"Origin": "http://localhost:notaport"}, {"X-CSRF-Token": ""}]


def _console_routes() -> list[tuple[str, str]]:
    from ocrr.server.console.pages import dashboard, ledger, login, queue

    out = []
    for route in [r for m in (login, queue, ledger, dashboard) for r in m.router.routes]:
        path = getattr(route, "path", "")
        for method in sorted(getattr(route, "methods", None) or ()):
            if method in ("GET", "POST"):
                concrete = (path.replace("{ns}", "demo").replace("{seq}", "1")
                            .replace("{item_id}", "1"))
                out.append((method, concrete))
    return out


def test_no_console_input_answers_500(service) -> None:  # noqa: ANN001
    from server_support import login

    csrf = login(service, "admin")
    client = service.client
    client.post("/v1/namespaces/demo/predict", json={"text": "card"},
                headers=service.auth("read"))  # something queued
    routes = _console_routes()
    assert len(routes) >= 10, routes
    seen = 0
    for method, path in routes:
        if path == "/logout":
            continue  # would end the session the rest needs
        if method == "GET":
            for query in NASTY_QUERIES:
                answer = client.get(f"{path}?{query}")
                assert answer.status_code < 500, (path, query, answer.text[:200])
                seen += 1
            continue
        for body in NASTY_JSON:
            for extra in ({}, *HOSTILE_HEADERS):
                headers = {"X-CSRF-Token": csrf, "Content-Type": "application/json", **extra}
                answer = client.post(path, content=body, headers=headers)
                assert answer.status_code < 500, (path, body[:40], extra, answer.text[:200])
                seen += 1
        for body in NASTY_FORM:
            for extra in ({}, *HOSTILE_HEADERS):
                headers = {"Content-Type": "application/x-www-form-urlencoded", **extra}
                answer = client.post(path, content=body + b"&csrf=" + csrf.encode(),
                                     headers=headers)
                assert answer.status_code < 500, (path, body[:40], extra, answer.text[:200])
                seen += 1
    assert seen > 300
    # the two reproductions of the issue, by name
    assert client.get("/ns/demo/verify?size=5&root=" + "z" * 64).status_code == 422
    deep = client.post("/ns/demo/try", content=b"[" * 100_000,
                       headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"})
    assert deep.status_code == 422


def test_every_entry_written_through_the_service_names_its_key(service) -> None:  # noqa: ANN001
    from server_support import login

    client, registry = service.client, service.registry
    writer = registry.find_key(service.keys["write"]).key_id
    admin = registry.find_key(service.keys["admin"]).key_id
    ns = "/v1/namespaces/demo"
    made = client.post(f"{ns}/corrections", headers=service.auth("write"),
                       json={"text": "close it", "label": "close", "actor": "admin"})
    assert made.status_code == 201, made.text
    client.post(f"{ns}/corrections", headers=service.auth("write"),
                json={"text": "bob's account", "label": "close", "subject": "bob"})
    batch = client.post(f"{ns}/corrections/batch", headers=service.auth("write"),
                        json={"items": [{"text": "shut it", "label": "close"}]})
    revoked = client.post(f"{ns}/revocations", headers=service.auth("write"),
                          json={"seq": made.json()["seq"], "reason": "test"})
    erased = client.post(f"{ns}/erasures", headers=service.auth("admin"),
                         json={"subject": "bob", "actor": "writer"})
    csrf = login(service, "admin", actor="Ann")
    client.post(f"{ns}/predict", json={"text": "reset my password"},
                headers=service.auth("read"))
    item = client.get("/ns/demo/queue/items")
    item_id = int(item.text.split('data-id="')[1].split('"')[0])
    reviewed = client.post(f"/ns/demo/queue/{item_id}", json={"action": "accept"},
                           headers={"X-CSRF-Token": csrf})
    assert reviewed.status_code == 201, reviewed.text
    entries = client.get(f"{ns}/entries?start=0&limit=500",
                         headers=service.auth("admin")).json()["entries"]
    by_seq = {e["seq"]: e["provenance"] for e in entries}
    # the client's actor is kept as said; the key beside it is the one that authenticated
    assert by_seq[made.json()["seq"]]["api_key_id"] == writer
    assert by_seq[batch.json()["receipts"][0]["seq"]]["api_key_id"] == writer
    assert by_seq[revoked.json()["seq"]]["api_key_id"] == writer
    assert by_seq[erased.json()["seq"]]["api_key_id"] == admin
    assert by_seq[erased.json()["seq"]]["actor"] == "writer"
    review = by_seq[reviewed.json()["seq"]]
    assert review["api_key_id"] == admin and review["actor"] == "Ann"


def test_lifecycle_entries_name_their_key_too(service) -> None:  # noqa: ANN001
    """Fit examples, relabels, retirements and the vote setting (the lifecycle routes)."""
    client, registry = service.client, service.registry
    writer = registry.find_key(service.keys["write"]).key_id
    admin = registry.find_key(service.keys["admin"]).key_id
    ns = "/v1/namespaces/demo"
    fitted = client.post(f"{ns}/examples", headers=service.auth("write"),
                         json={"items": [{"text": "lost my card", "label": "lost_card"}]})
    assert fitted.status_code == 201, fitted.text
    renamed = client.post(f"{ns}/relabels", headers=service.auth("write"),
                          json={"old": "lost_card", "new": "card_lost"})
    assert renamed.status_code == 201, renamed.text
    retired = client.post(f"{ns}/retirements", headers=service.auth("write"),
                          json={"label": "card_lost"})
    assert retired.status_code == 201, retired.text
    voted = client.put(f"{ns}/vote", headers=service.auth("admin"),
                       json={"rule": "band"})
    assert voted.status_code == 200, voted.text
    entries = client.get(f"{ns}/entries?start=0&limit=500",
                         headers=service.auth("admin")).json()["entries"]
    by_seq = {e["seq"]: e["provenance"] for e in entries}
    assert by_seq[fitted.json()["first_seq"]]["api_key_id"] == writer
    assert by_seq[renamed.json()["seq"]]["api_key_id"] == writer
    assert by_seq[retired.json()["seq"]]["api_key_id"] == writer
    assert by_seq[voted.json()["seq"]]["api_key_id"] == admin


def _app_client(tmp_path: Path, **settings: object) -> TestClient:
    registry = Registry(tmp_path / "data")
    registry.create_namespace("demo")
    return TestClient(create_app(registry, encoder=HashingEncoder(), settings=ServerSettings(
        rate_limit=0, **settings)))  # type: ignore[arg-type]


def test_forwarded_headers_are_believed_only_from_configured_proxies(tmp_path: Path) -> None:
    def refused_while_spoofing(client: TestClient) -> int:
        statuses = [client.get("/v1/namespaces", headers={
            "Authorization": "Bearer wrong", "X-Forwarded-For": f"10.0.0.{i}"}).status_code
            for i in range(12)]
        return statuses.count(429)

    with _app_client(tmp_path / "a", auth_failure_rate=1.0) as client:
        assert refused_while_spoofing(client) > 0  # one address: the limit holds
    with _app_client(tmp_path / "b", auth_failure_rate=1.0, forwarded_allow_ips="*") as client:
        assert refused_while_spoofing(client) == 0  # a trusted proxy names each client


def test_ocrr_serve_leaves_uvicorn_proxy_headers_off_and_secures_remote_cookies() -> None:
    import argparse

    from ocrr.cli.serve import is_loopback, uvicorn_options

    args = argparse.Namespace(host="0.0.0.0", port=8000, log_level="warning")
    assert uvicorn_options(args)["proxy_headers"] is False
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")


def test_docs_are_off_by_default(tmp_path: Path) -> None:
    with _app_client(tmp_path / "a") as client:
        assert client.get("/docs").status_code == 404
        assert client.get("/redoc").status_code == 404
        assert client.get("/openapi.json").status_code == 200
    with _app_client(tmp_path / "b", docs=True) as client:
        assert client.get("/docs").status_code == 200


def test_secure_cookies_when_told_even_over_http(tmp_path: Path) -> None:
    with _app_client(tmp_path / "a") as client:
        assert "secure" not in client.get("/login").headers["set-cookie"].lower()
    with _app_client(tmp_path / "b", secure_cookies=True) as client:
        assert "secure" in client.get("/login").headers["set-cookie"].lower()


def test_ocrr_serve_writes_each_response_once_over_httptools() -> None:
    import argparse

    from ocrr.cli.serve import uvicorn_options
    from ocrr.server.coalesce import CoalescingHttpToolsProtocol

    args = argparse.Namespace(host="127.0.0.1", port=8000, log_level="warning",
                              http="auto", loop="auto")
    assert uvicorn_options(args)["http"] is CoalescingHttpToolsProtocol
    args.http = "h11"
    assert uvicorn_options(args)["http"] == "h11"
