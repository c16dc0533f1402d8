"""The review console without a browser (the app in-process, the tiny hashing encoder):
sessions and CSRF, what a read key may not do, escaping, the review queue, the ledger's
filters and summary, proofs, verification, erasure's confirmation, and the charts.
tests/test_console_browser.py drives the same pages in Chromium."""

from __future__ import annotations

import re
import time
from importlib import resources

import numpy as np
import pytest

from ocrr.ledger import Ledger, MemoryStore
from ocrr.server.console import plots
from ocrr.server.console.ledger_index import LedgerIndex
from ocrr.server.console.sessions import Sessions
from ocrr.server.namespace import Namespace
from ocrr.server.review import ReviewQueue, queues_of
from ocrr.server.schemas import Neighbour, Prediction
from ocrr.substrate import Substrate
from server_fakes import HashingEncoder
from server_support import Service, login

pytest_plugins = ["server_fixtures"]

PAYLOAD = '<script>window.__xss = 1</script><img src=x onerror="alert(1)">'
ESCAPED = "&lt;script&gt;window.__xss = 1&lt;/script&gt;&lt;img src=x onerror="


def predict(service: Service, text: str, namespace: str = "demo") -> dict:
    answer = service.client.post(f"/v1/namespaces/{namespace}/predict", json={"text": text},
                                 headers=service.auth("write"))
    assert answer.status_code == 200, answer.text
    return answer.json()


def queued(service: Service, namespace: str = "demo") -> list:
    return queues_of(service.client.app)[namespace].pending()


def review(service: Service, csrf: str, item_id: int, **body: str):  # noqa: ANN201
    return service.client.post(f"/ns/demo/queue/{item_id}", json=body,
                               headers={"X-CSRF-Token": csrf})


# -- sessions, CSRF, scopes ----------------------------------------------------------------
def test_pages_need_a_session(service: Service) -> None:
    client = service.client
    for page in ("/", "/ns/demo/queue", "/ns/demo/ledger", "/ns/demo/dashboard",
                 "/ns/demo/ledger/0"):
        answer = client.get(page, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/login", page
    assert client.get("/ns/demo/queue/items").status_code == 401
    assert client.get("/ns/demo/verify").status_code == 401
    assert client.post("/ns/demo/queue/1", json={"action": "accept"}).status_code == 401
    # an API key in a header does not open the console: it takes a session
    answer = client.get("/ns/demo/queue", headers=service.auth("admin"),
                        follow_redirects=False)
    assert answer.status_code == 303


def test_login_refuses_bad_keys_and_sets_a_strict_cookie(service: Service) -> None:
    client = service.client
    page = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)[1]

    def attempt(key: str, csrf: str = token):  # noqa: ANN202
        return client.post("/login", data={"key": key, "csrf": csrf}, follow_redirects=False)

    assert attempt("ocrr_not_a_key").status_code == 401
    assert attempt(service.keys["metrics"]).status_code == 403
    assert attempt(service.keys["write"], csrf="forged").status_code == 403
    assert "ocrr_session" not in client.cookies
    page = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)[1]
    answer = attempt(service.keys["write"], token)
    assert answer.status_code == 303
    cookie = next(c for c in answer.headers.get_list("set-cookie")
                  if c.startswith("ocrr_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert service.keys["write"] not in cookie  # a random session id, never the key
    assert client.get("/", follow_redirects=False).headers["location"] == "/ns/demo/queue"


def test_admin_sees_every_namespace(service: Service) -> None:
    login(service, "admin")
    home = service.client.get("/")
    assert home.status_code == 200
    assert 'href="/ns/demo/queue"' in home.text and 'href="/ns/other/queue"' in home.text
    login(service, "write")
    assert service.client.get("/ns/other/queue").status_code == 403


def test_every_post_needs_the_csrf_token(service: Service) -> None:
    predict(service, "where is my card now")
    csrf = login(service, "write")
    item = queued(service)[0]
    client = service.client
    size = service.size()
    assert review(service, "", item.id, action="accept").status_code == 403
    assert review(service, "wrong", item.id, action="accept").status_code == 403
    answer = client.post(f"/ns/demo/queue/{item.id}", json={"action": "accept"},
                         headers={"X-CSRF-Token": csrf, "Origin": "http://evil.example"})
    assert answer.status_code == 403
    assert client.post("/ns/demo/ledger/0/revoke", data={"reason": "x"}).status_code == 403
    assert client.post("/ns/demo/erase", data={"subject": "x", "confirm": "yes"}
                       ).status_code == 403
    assert client.post("/ns/demo/try", json={"text": "hello"}).status_code == 403
    client.post("/logout", data={"csrf": "wrong"})  # refused: the session lives on...
    client.cookies.clear()
    assert service.size() == size
    csrf = login(service, "write")
    assert review(service, csrf, item.id, action="accept").status_code == 201


def test_logout_ends_the_session(service: Service) -> None:
    csrf = login(service, "write")
    client = service.client
    sid = client.cookies.get("ocrr_session")
    answer = client.post("/logout", data={"csrf": csrf}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    client.cookies.set("ocrr_session", sid)  # replaying the old cookie does not help
    assert client.get("/ns/demo/queue", follow_redirects=False).status_code == 303


def test_a_read_key_changes_nothing(service: Service) -> None:
    predict(service, "where is my card now")
    csrf = login(service, "read")
    client = service.client
    size = service.size()
    item = queued(service)[0]
    answer = review(service, csrf, item.id, action="correct", label="hacked")
    assert answer.status_code == 403 and "read-only" in answer.json()["message"]
    assert review(service, csrf, item.id, action="accept").status_code == 403
    assert client.post("/ns/demo/ledger/0/revoke", data={"reason": "x", "csrf": csrf}
                       ).status_code == 403
    assert client.post("/ns/demo/erase", data={"subject": "x", "csrf": csrf,
                                               "confirm": "yes"}).status_code == 403
    assert service.size() == size and len(queued(service)) == 1
    page = client.get("/ns/demo/queue").text
    assert 'id="read-only"' in page and 'class="accept" disabled' in page
    assert 'id="erase-form"' not in client.get("/ns/demo/ledger").text
    assert 'id="revoke-form"' not in client.get("/ns/demo/ledger/0").text
    # reading is allowed: the queue, verification, trying a text
    assert client.get("/ns/demo/verify").json()["ok"]
    assert client.post("/ns/demo/try", json={"text": "my card"},
                       headers={"X-CSRF-Token": csrf}).status_code == 200


def test_a_revoked_key_ends_its_session(service: Service) -> None:
    login(service, "write")
    key_id = next(k["key_id"] for k in service.client.get(
        "/v1/keys", headers=service.auth("admin")).json()["keys"]
        if k["scope"] == "write" and k["namespace"] == "demo")
    service.client.delete(f"/v1/keys/{key_id}", headers=service.auth("admin"))
    answer = service.client.get("/ns/demo/queue", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/login"


def test_pages_send_security_headers(service: Service) -> None:
    login(service, "write")
    for page in ("/login", "/ns/demo/queue", "/ns/demo/ledger", "/ns/demo/dashboard"):
        headers = service.client.get(page).headers
        assert "script-src 'self'" in headers["content-security-policy"], page
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["cache-control"] == "no-store"


def test_user_text_is_escaped_on_every_page(service: Service) -> None:
    client = service.client
    answer = client.post("/v1/namespaces/demo/corrections",
                         json={"text": PAYLOAD, "label": PAYLOAD, "actor": PAYLOAD,
                               "subject": PAYLOAD}, headers=service.auth("write"))
    seq = answer.json()["seq"]
    assert predict(service, PAYLOAD)["best_label"] == PAYLOAD
    csrf = login(service, "write", actor="Ann")
    pages = {page: client.get(page).text for page in (
        "/ns/demo/queue", "/ns/demo/queue/items", f"/ns/demo/ledger?label={PAYLOAD}",
        f"/ns/demo/ledger/{seq}", "/ns/demo/dashboard")}
    pages["erase"] = client.post("/ns/demo/erase", data={"subject": PAYLOAD, "csrf": csrf}).text
    for name, html in pages.items():
        assert ESCAPED in html, name
        assert "<script>window" not in html and "<img src=x" not in html, name
    assert f"data-label=\"{PAYLOAD}\"" not in pages["/ns/demo/queue"]


# -- the queue -----------------------------------------------------------------------------
def _answer(label: str, confidence: float) -> Prediction:
    return Prediction(label=label, confidence=confidence, abstained=False, best_label=label,
                      threshold=None, neighbours=[Neighbour(seq=0, label=label,
                                                            similarity=0.5, voted=True)])


def test_the_queue_is_least_confident_first_and_bounded() -> None:
    queue = ReviewQueue(capacity=3)
    vectors = np.eye(4, dtype=np.float32)
    queue.add(["a", "b", "c"], vectors[:3], [_answer("x", 0.9), _answer("y", 0.2),
                                             _answer("x", 0.5)], size=1)
    assert [i.text for i in queue.pending()] == ["b", "c", "a"]
    queue.add(["a"], vectors[:1], [_answer("x", 0.1)], size=1)  # the latest answer wins
    assert [i.text for i in queue.pending()] == ["a", "b", "c"] and len(queue) == 3
    queue.add(["d"], vectors[3:], [_answer("z", 0.95)], size=1)  # the oldest goes
    assert sorted(i.text for i in queue.pending()) == ["a", "c", "d"]
    item = queue.pending()[0]
    queue.reviewed(item, "x", seq=7, accepted=True)
    assert "a" not in [i.text for i in queue.pending()]
    queue.add(["a"], vectors[:1], [_answer("x", 0.3)], size=2)  # confirmed: not again
    assert "a" not in [i.text for i in queue.pending()]
    queue.add(["a"], vectors[:1], [_answer("w", 0.3)], size=2)  # a new answer: again
    assert "a" in [i.text for i in queue.pending()]
    assert [(r.predicted, r.label, r.right) for r in queue.reviews()] == [("x", "x", True)]


def test_a_correction_shows_its_effect_and_changes_the_next_prediction(service: Service
                                                                       ) -> None:
    text, near, far = "please block my stolen card", "block my stolen card", "euro rate"
    for t in (text, near, far):
        predict(service, t)
    csrf = login(service, "write", actor="Ann")
    item = next(i for i in queued(service) if i.text == text)
    answer = review(service, csrf, item.id, action="correct", label="lost_card")
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["label"] == "lost_card" and body["new_label"] and not body["accepted"]
    assert body["queued"] == 2
    assert [(c["text"], c["now"]) for c in body["changed"]] == [(near, "lost_card")]
    assert predict(service, text)["label"] == "lost_card"
    entry = service.client.get(f"/v1/namespaces/demo/entries?start={body['seq']}&limit=1",
                               headers=service.auth("read")).json()["entries"][0]
    assert entry["text"] == text and entry["provenance"]["actor"] == "Ann"
    # the queue page marks the changed item with its earlier answer
    fragment = service.client.get("/ns/demo/queue/items").text
    assert "was card" in fragment or "was password" in fragment
    assert review(service, csrf, item.id, action="accept").status_code == 404  # done


def test_accept_confirms_the_answer_and_counts_in_accuracy(service: Service) -> None:
    predict(service, "where is my card now")
    predict(service, "convert dollars at what rate")
    csrf = login(service, "write")
    first, second = queued(service)
    accepted = review(service, csrf, first.id, action="accept").json()
    assert accepted["accepted"] and accepted["label"] == first.label
    assert review(service, csrf, second.id, action="correct", label="brand_new"
                  ).status_code == 201
    assert review(service, csrf, second.id, action="correct", label=" ").status_code == 404
    predict(service, first.text)  # the same answer again: not queued again
    assert queued(service) == []
    page = service.client.get("/ns/demo/dashboard").text
    assert 'id="review-accuracy">50%' in page
    assert page.count('class="point"') == 1


def test_bad_review_requests_are_refused(service: Service) -> None:
    predict(service, "where is my card now")
    csrf = login(service, "write")
    item = queued(service)[0]
    assert review(service, csrf, item.id, action="maybe").status_code == 422
    assert review(service, csrf, item.id, action="correct", label="").status_code == 422
    assert review(service, csrf, item.id, action="correct", label="x" * 300).status_code == 422
    answer = service.client.post(f"/ns/demo/queue/{item.id}", content=b"{not json",
                                 headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 422
    assert review(service, csrf, 999_999, action="accept").status_code == 404


def test_trying_a_text_is_not_counted(service: Service) -> None:
    csrf = login(service, "write")
    before = service.client.get("/v1/namespaces/demo/stats", headers=service.auth("read"))
    answer = service.client.post("/ns/demo/try", json={"text": "where is my card"},
                                 headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 200 and answer.json()["label"] == "card"
    assert answer.json()["neighbours"]
    after = service.client.get("/v1/namespaces/demo/stats", headers=service.auth("read"))
    assert after.json()["predictions"] == before.json()["predictions"]
    assert queued(service) == []


# -- the ledger ----------------------------------------------------------------------------
def test_ledger_filters_and_pages(service: Service) -> None:
    client = service.client
    items = [{"text": f"bulk text {i}", "label": "bulk"} for i in range(60)]
    client.post("/v1/namespaces/demo/corrections/batch", json={"items": items, "actor": "bot"},
                headers=service.auth("write"))
    client.post("/v1/namespaces/demo/corrections",
                json={"text": "about Jo", "label": "card", "subject": "jo", "actor": "Ann"},
                headers=service.auth("write"))
    login(service, "read")

    def rows(query: str) -> list[str]:
        html = client.get(f"/ns/demo/ledger?{query}").text
        return re.findall(r'<td><a href="/ns/demo/ledger/(\d+)">', html)

    assert len(rows("")) == 50 and rows("")[0] == "69"
    page = client.get("/ns/demo/ledger").text
    older = re.search(r'href="\?before=(\d+)" id="older"', page)[1]
    assert rows(f"before={older}")[0] == str(int(older) - 1)
    assert len(rows("label=bulk")) == 50
    assert rows("label=card&actor=Ann") == ["69"]
    assert rows("subject=jo") == ["69"]
    assert rows("actor=seed&label=fx") == ["5", "4", "3"]
    assert rows("kind=revocation") == []
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert len(rows(f"since={today}&until={today}")) == 50
    assert rows("since=2999-01-01") == []
    assert rows("until=2000-01-01") == []
    assert "expected a date" in client.get("/ns/demo/ledger?since=yesterday").text


def test_the_ledger_summary_follows_revocations_erasures_and_renames() -> None:
    substrate = Substrate(ledger=Ledger(MemoryStore()), encoder=HashingEncoder())
    namespace = Namespace("t", substrate)
    substrate.correct_many(["a one", "a two", "b one", "c one"], ["a", "a", "b", "c"],
                           actor="seed")
    substrate.correct("about Jo", "b", subject="jo", actor="Ann")
    index = LedgerIndex()
    assert index.update(namespace) == 5
    assert index.class_counts() == [("a", 2), ("b", 2), ("c", 1)]
    assert [r.seq for r in index.subject_rows("jo")] == [4]
    substrate.revoke(0, "wrong")
    substrate.erase("jo")
    substrate.relabel("c", "a")  # merge c into a
    substrate.relabel("b", "bee")  # rename
    substrate.correct("b again", "b")  # the old name is free again
    assert index.update(namespace) == 10
    assert index.class_counts() == [("a", 2), ("b", 1), ("bee", 1)]
    assert index.subject_rows("jo") == [] and index.rows[4].actor is None
    assert index.actors() == ["seed"]
    match = index.find(kind="example", limit=2)
    assert [r.seq for r in match.rows] == [9, 4] and match.total == 6 and match.older == 4
    assert [r.seq for r in index.find(kind="example", before=4).rows] == [3, 2, 1, 0]


def test_an_entry_shows_its_checked_proof(service: Service) -> None:
    login(service, "read")
    page = service.client.get("/ns/demo/ledger/3").text
    assert 'id="proof-result" class="result ok"' in page and "✓ Checked here" in page
    assert service.client.get("/ns/demo/ledger/999").status_code == 404
    assert service.client.get("/ns/nosuch/ledger").status_code == 403


def test_verify_reports_the_result(service: Service) -> None:
    login(service, "read")
    ok = service.client.get("/ns/demo/verify").json()
    assert ok["ok"] and ok["size"] == 9
    head = service.client.get("/v1/namespaces/demo/tree-head",
                              headers=service.auth("read")).json()
    kept = service.client.get(f"/ns/demo/verify?size={head['size']}&root={head['root_hash']}")
    assert kept.json()["ok"]
    bad = service.client.get(f"/ns/demo/verify?size={head['size']}&root={'0' * 64}")
    assert bad.status_code == 200 and not bad.json()["ok"]


def test_revoke_from_the_entry_page(service: Service) -> None:
    csrf = login(service, "write", actor="Ann")
    client = service.client
    answer = client.post("/ns/demo/ledger/2/revoke", data={"reason": "", "csrf": csrf})
    assert answer.status_code == 422 and "Reason" in answer.text
    answer = client.post("/ns/demo/ledger/2/revoke", data={"reason": "duplicate",
                                                            "csrf": csrf})
    assert answer.status_code == 200 and "Entry 2 revoked: revocation entry 9" in answer.text
    again = client.post("/ns/demo/ledger/2/revoke", data={"reason": "x", "csrf": csrf})
    assert again.status_code == 422 and "already revoked" in again.text


def test_erasing_a_subject_asks_first(service: Service) -> None:
    client = service.client
    for text in ("Jo lost a card", "Jo asks about rates"):
        client.post("/v1/namespaces/demo/corrections",
                    json={"text": text, "label": "card", "subject": "jo"},
                    headers=service.auth("write"))
    csrf = login(service, "write")
    size = service.size()
    ask = client.post("/ns/demo/erase", data={"subject": "jo", "reason": "asked",
                                              "csrf": csrf})
    assert ask.status_code == 200 and "2 entries" in ask.text and "cannot be undone" in ask.text
    assert service.size() == size  # nothing yet
    done = client.post("/ns/demo/erase", data={"subject": "jo", "reason": "asked",
                                               "csrf": csrf, "confirm": "yes"})
    assert done.status_code == 200 and "Tombstone entry" in done.text
    assert service.size() == size + 1
    entry = client.get(f"/ns/demo/ledger/{size - 1}").text
    assert "erased: its subject's key was destroyed" in entry
    gone = client.post("/ns/demo/erase", data={"subject": "jo", "csrf": csrf})
    assert gone.status_code == 404 and "nothing to erase" in gone.text


# -- the dashboard, assets, the spec -------------------------------------------------------
def test_the_dashboard_counts_and_draws(service: Service) -> None:
    login(service, "read")
    page = service.client.get("/ns/demo/dashboard").text
    assert page.count('class="bar"') >= 12 + 3  # time buckets, then one bar per class
    assert "no reviewed predictions yet" in page
    assert re.search(r'<span class="big">9</span> corrections', page)


def test_charts() -> None:
    now = 1_700_000_000 * 10**9
    start, seconds, count, _ = plots.buckets([now - 10**9], now)
    assert seconds == 60 and count == plots.MIN_BUCKETS
    start, seconds, count, _ = plots.buckets([now - 5 * 86400 * 10**9], now)
    assert seconds == 6 * 3600 and count <= plots.MAX_BUCKETS
    chart = plots.counts_over_time([now, now, now - 120 * 10**9], "corrections", now)
    assert len(chart.boxes) == plots.MIN_BUCKETS
    assert max(b.h for b in chart.boxes) > 0 and chart.boxes[-1].title.endswith(
        "2 corrections")
    assert plots.counts_over_time([], "corrections").empty == "no corrections yet"
    share = plots.share_over_time([(now, True), (now, False)], "reviews", now)
    assert len(share.points) == 1 and "50% of 2" in share.points[0].title
    bars = plots.class_bars([("a", 10), ("b", 5)] + [(f"c{i}", 1) for i in range(40)])
    assert len(bars.bars) == 30 and bars.more == 12 and bars.bars[0].w == 2 * bars.bars[1].w


def test_sessions_expire_and_stay_bounded() -> None:
    sessions = Sessions(idle_seconds=60, limit=2)
    first = sessions.create("t1", None)
    sessions.create("t2", None)
    sessions.create("t3", None)
    assert sessions.get(first.sid) is None  # the oldest went
    late = Sessions(idle_seconds=0)
    made = late.create("t", None)
    assert late.get(made.sid) is None and late.get(None) is None


def test_assets_ship_inside_the_package(service: Service) -> None:
    folder = resources.files("ocrr.server.console")
    for name in ("static/console.js", "static/console.css", "templates/base.html",
                 "templates/queue.html"):
        assert folder.joinpath(name).is_file(), name
    script = service.client.get("/static/console.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert "http" not in re.sub(r"//.*", "", script.text).replace("https://", "")  # no CDN
    assert not any(p.startswith(("/login", "/ns", "/static", "/logout"))
                   for p in service.client.get("/openapi.json").json()["paths"])


def test_recheck_reports_changes_and_bounds_its_work(monkeypatch: pytest.MonkeyPatch) -> None:
    from ocrr.server import review as module

    monkeypatch.setattr(module, "BASE_CHUNK", 2)
    monkeypatch.setattr(module, "BASE_CHUNKS", 1)
    monkeypatch.setattr(module, "OUTSIDE_CHUNK", 1)
    monkeypatch.setattr(module, "OUTSIDE_BUDGET", 1)
    encoder = HashingEncoder()
    substrate = Substrate(ledger=Ledger(MemoryStore()), encoder=encoder)
    namespace = Namespace("t", substrate)
    substrate.correct_many(["where is my card", "card not arrived", "euro rate",
                            "dollar exchange rate"], ["card", "card", "fx", "fx"])
    texts = ["please block my stolen card", "block my stolen card", "stolen card block please",
             "my stolen card"]
    queue = ReviewQueue()
    vectors = encoder.encode(texts)
    queue.add(texts, vectors, namespace.predict_vectors(texts, vectors), len(substrate.ledger))
    assert module.recheck(queue, namespace) == []  # nothing appended since
    substrate.correct(texts[0], "lost_card")
    changed = module.recheck(queue, namespace)  # the two least confident, and one more
    assert len(queue.stale(len(substrate.ledger))) == 1
    changed += module.recheck(queue, namespace)
    assert queue.stale(len(substrate.ledger)) == []
    assert sorted(c.text for c in changed) == sorted(texts) and \
        {c.now for c in changed} == {"lost_card"}
    item = next(i for i in queue.pending() if i.text == texts[1])
    assert item.label == "lost_card" and item.was == "card" and item.first_label == "card"
    assert item.answer.neighbours[0].label == "lost_card"
    queue.checking.acquire()  # another recheck is running: do not wait for it
    substrate.correct(texts[1], "card")
    assert module.recheck(queue, namespace, wait=False) == []
    queue.checking.release()


def test_signed_heads_abstentions_and_empty_namespaces(tmp_path) -> None:  # noqa: ANN001
    from fastapi.testclient import TestClient

    from ocrr.ledger.signing import generate_key
    from ocrr.server.app import create_app
    from ocrr.server.config import ServerSettings
    from ocrr.server.registry import Registry

    registry = Registry(tmp_path / "data")
    registry.create_namespace("empty")
    registry.create_namespace("strict", threshold=0.9)
    token, _ = registry.create_key("admin")
    app = create_app(registry, encoder=HashingEncoder(), signing_key=generate_key(),
                     settings=ServerSettings(rate_limit=0, auth_failure_rate=0))
    with TestClient(app) as client:
        auth = {"Authorization": f"Bearer {token}"}
        client.post("/v1/namespaces/empty/predict", json={"text": "hello"}, headers=auth)
        client.post("/v1/namespaces/strict/corrections/batch", headers=auth, json={
            "items": [{"text": "a b", "label": "x"}, {"text": "c d", "label": "y"}]})
        answer = client.post("/v1/namespaces/strict/predict", json={"text": "a d"},
                             headers=auth).json()
        assert answer["label"] == "unknown"
        page = client.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)[1]
        client.post("/login", data={"key": token, "csrf": csrf})
        assert "empty" in client.get("/").text  # an admin picks a namespace
        empty = {p: client.get(f"/ns/empty/{p}") for p in ("queue", "ledger", "dashboard")}
        assert all(r.status_code == 200 for r in empty.values())
        assert 'id="queue-empty"' in empty["queue"].text and "no corrections yet" in \
            empty["dashboard"].text
        verified = client.get("/ns/empty/verify").json()
        assert verified["ok"] and verified["size"] == 0
        queue = client.get("/ns/strict/queue").text
        assert 'class="tag">abstained' in queue
        entry = client.get("/ns/strict/ledger/0").text
        assert "signed by" in entry and "Ed25519 key" in entry
        assert client.get("/ns/nope/queue").status_code == 404
