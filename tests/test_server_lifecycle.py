"""The namespace lifecycle over HTTP (TestClient, the tiny hashing encoder): fit examples in
idempotent chunks (CSV, JSON lines, JSON), upload progress, predictions as of a past ledger
size or tree head, the changes between two sizes, relabel, retire and the vote rule."""

from __future__ import annotations

import numpy as np

from ocrr.ledger.signing import generate_key
from ocrr.server.app import create_app
from ocrr.server.config import ServerSettings
from ocrr.substrate import Substrate
from server_fakes import HashingEncoder
from server_support import SEED, Service

pytest_plugins = ["server_fixtures"]

OTHER = "/v1/namespaces/other"
CSV = "text,label\n" + "".join(f'"{t}",{y}\n' for t, y in SEED)


def _post_csv(service: Service, body: str, **params: object):
    return service.client.post(f"{OTHER}/examples", content=body.encode(), params=params,
                               headers={**service.auth("other"), "Content-Type": "text/csv"})


def test_examples_are_fit_examples_and_a_retried_chunk_adds_nothing(service: Service) -> None:
    first = _post_csv(service, CSV, upload="u1", chunk=0, actor="loader")
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["rows"] == len(SEED) and body["duplicate"] is False
    assert (body["first_seq"], body["last_seq"], body["upload_rows"]) == (0, 8, 9)
    again = _post_csv(service, CSV, upload="u1", chunk=0)
    assert again.status_code == 201 and again.json()["duplicate"] is True
    assert again.json()["ledger_size"] == len(SEED)
    lines = '{"text": "lost my card again", "label": "card"}\n'
    other = service.client.post(f"{OTHER}/examples?upload=u1&chunk=1", content=lines,
                                headers={**service.auth("other"),
                                         "Content-Type": "application/x-ndjson"})
    assert other.status_code == 201 and other.json()["upload_rows"] == 10
    status = service.client.get(f"{OTHER}/uploads/u1", headers=service.auth("other")).json()
    assert status["chunks"] == [0, 1] and status["rows"] == 10 and status["last_seq"] == 9
    entries = service.client.get(f"{OTHER}/entries", headers=service.auth("other")).json()
    prov = entries["entries"][0]["provenance"]
    key_id = service.registry.find_key(service.keys["other"]).key_id
    assert prov == {"source": "fit", "upload": "u1", "chunk": "0", "actor": "loader",
                    "api_key_id": key_id}  # the key that wrote it, beside the actor
    # the served classifier is Substrate.fit on the same rows: same labels and confidences
    texts = [t for t, _ in SEED] + ["lost my card again"]
    labels = [y for _, y in SEED] + ["card"]
    local = Substrate.from_encoder(HashingEncoder()).fit(texts, labels)
    probes = ["where is the card", "euro rate", "password reset", "I cannot log in"]
    served = service.client.post(f"{OTHER}/predict/batch", json={"texts": probes},
                                 headers=service.auth("other")).json()["predictions"]
    for probe, answer in zip(probes, served, strict=True):
        mine = local.predict(probe)
        assert answer["label"] == mine.label
        assert abs(answer["confidence"] - mine.confidence) < 1e-6


def test_bad_chunks_are_refused_naming_the_row_and_write_nothing(service: Service) -> None:
    bad = _post_csv(service, "text,label\nfine text,a\n,b\n")
    assert bad.status_code == 422 and "row 3: empty 'text'" in bad.json()["message"]
    missing = _post_csv(service, "words,label\nfine,a\n")
    assert missing.status_code == 422 and "missing column 'text'" in missing.json()["message"]
    assert service.size("other") == 0
    alone = _post_csv(service, CSV, upload="u2")  # an upload of one chunk: chunk 0
    assert alone.status_code == 201 and alone.json()["chunk"] == 0
    assert _post_csv(service, CSV, upload="u2").json()["duplicate"] is True
    odd = service.client.post(f"{OTHER}/examples", content=b"x",
                              headers={**service.auth("other"), "Content-Type": "text/plain"})
    assert odd.status_code == 415 and odd.json()["error"] == "unsupported_media_type"
    read_only = service.client.post("/v1/namespaces/demo/examples", content=CSV.encode(),
                                    headers={**service.auth("read"), "Content-Type": "text/csv"})
    assert read_only.status_code == 403
    assert service.size("other") == len(SEED)


def test_as_of_answers_as_the_namespace_did_then(service: Service) -> None:
    read = service.auth("read")
    text = "I want to close my account"
    before = service.client.post("/v1/namespaces/demo/predict", json={"text": text},
                                 headers=read).json()
    size = service.size()
    head = service.client.get("/v1/namespaces/demo/tree-head", headers=read).json()
    fixed = service.client.post("/v1/namespaces/demo/corrections",
                                json={"text": text, "label": "close_account"},
                                headers=service.auth("write"))
    assert fixed.status_code == 201
    now = service.client.post("/v1/namespaces/demo/predict", json={"text": text},
                              headers=read).json()
    assert now["label"] == "close_account" != before["label"]
    then = service.client.post("/v1/namespaces/demo/predict",
                               json={"text": text, "as_of": size}, headers=read).json()
    assert then == before
    by_head = service.client.post("/v1/namespaces/demo/predict/batch",
                                  json={"texts": [text], "as_of": head}, headers=read).json()
    assert by_head["predictions"][0] == before
    forged = {**head, "root_hash": "00" * 32}
    refused = service.client.post("/v1/namespaces/demo/predict",
                                  json={"text": text, "as_of": forged}, headers=read)
    assert refused.status_code == 409
    future = service.client.post("/v1/namespaces/demo/predict",
                                 json={"text": text, "as_of": 10**6}, headers=read)
    assert future.status_code == 404


def test_as_of_a_signed_head_checks_the_signature(tmp_path) -> None:
    from fastapi.testclient import TestClient

    from ocrr.server.registry import Registry

    key, stranger = generate_key(), generate_key()
    registry = Registry(tmp_path / "data")
    registry.create_namespace("demo")
    token = registry.create_key("write", "demo")[0]
    app = create_app(registry, encoder=HashingEncoder(), signing_key=key,
                     settings=ServerSettings(rate_limit=0, auth_failure_rate=0))
    auth = {"Authorization": f"Bearer {token}"}
    with TestClient(app) as client:
        client.post("/v1/namespaces/demo/corrections", json={"text": "hi", "label": "a"},
                    headers=auth)
        head = client.get("/v1/namespaces/demo/tree-head", headers=auth).json()
        assert head["signature"]
        ok = client.post("/v1/namespaces/demo/predict", json={"text": "hi", "as_of": head},
                         headers=auth)
        assert ok.status_code == 200 and ok.json()["label"] == "a"
        from ocrr.ledger.signing import TreeHead, sign_head

        other = sign_head(TreeHead(head["size"], bytes.fromhex(head["root_hash"]),
                                   head["timestamp_ns"]), stranger).to_dict()
        bad = client.post("/v1/namespaces/demo/predict", json={"text": "hi", "as_of": other},
                          headers=auth)
        assert bad.status_code == 409 and "signature" in bad.json()["message"]


def test_changes_relabel_retire_and_the_vote_rule(service: Service) -> None:
    write, admin = service.auth("write"), service.auth("admin")
    start = service.size()
    service.client.post("/v1/namespaces/demo/corrections",
                        json={"text": "close my account", "label": "close_account"},
                        headers=write)
    renamed = service.client.post("/v1/namespaces/demo/relabels",
                                  json={"old": "fx", "new": "exchange_rate", "actor": "ops"},
                                  headers=write)
    assert renamed.status_code == 201 and renamed.json()["kind"] == "relabel"
    gone = service.client.post("/v1/namespaces/demo/retirements",
                               json={"label": "nope"}, headers=write)
    assert gone.status_code == 404
    retired = service.client.post("/v1/namespaces/demo/retirements",
                                  json={"label": "password", "reason": "split"}, headers=write)
    assert retired.status_code == 201
    vote = service.client.put("/v1/namespaces/demo/vote",
                              json={"rule": "band", "k": 3}, headers=admin)
    assert vote.status_code == 200, vote.text
    assert service.client.put("/v1/namespaces/demo/vote", json={"rule": "band"},
                              headers=write).status_code == 403
    bad = service.client.put("/v1/namespaces/demo/vote",
                             json={"rule": "band", "mix": 0.5}, headers=admin)
    assert bad.status_code == 422
    got = service.client.get("/v1/namespaces/demo/vote", headers=write).json()
    assert got["rule"] == "band" and got["params"]["k"] == 3 and got["seq"] == start + 3
    settings = service.client.get("/v1/namespaces/demo", headers=write).json()
    assert settings["vote"] == "band"
    changes = service.client.get(f"/v1/namespaces/demo/changes?from={start}",
                                 headers=write).json()
    assert changes["new_classes"] == ["close_account"]
    assert changes["corrections"] == {"close_account": 1}
    assert [r["from"] for r in changes["relabels"]] == ["fx"]
    assert [r["label"] for r in changes["retirements"]] == ["password"]
    assert [r["seq"] for r in changes["settings"]] == [start + 3]
    assert service.client.get("/v1/namespaces/demo/changes?from=5&to=2",
                              headers=write).status_code == 404
    # a server started again on the folder votes with the recorded rule
    labels = service.client.post("/v1/namespaces/demo/predict/batch",
                                 json={"texts": ["euro rate", "card please"]},
                                 headers=write).json()["predictions"]
    rebuilt = Substrate.open(str(service.folder / "namespaces" / "demo.db"),
                             encoder=HashingEncoder())
    assert rebuilt.rule.name == "band" and rebuilt.rule.k == 3
    assert rebuilt.predict_many(["euro rate", "card please"]) == [p["label"] for p in labels]
    assert np.isfinite(labels[0]["confidence"])


def test_the_console_history_page_shows_changes_and_answers_as_of(service: Service) -> None:
    import re

    client = service.client
    page = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)[1]
    client.post("/login", data={"key": service.keys["write"], "actor": "", "csrf": token},
                follow_redirects=False)
    size = service.size()
    text = "I want to close my account"
    client.post("/v1/namespaces/demo/corrections", json={"text": text, "label": "closing"},
                headers=service.auth("write"))
    client.post("/v1/namespaces/demo/relabels", json={"old": "fx", "new": "rates"},
                headers=service.auth("write"))
    now = client.get("/ns/demo/history", params={"text": text, "from": size})
    assert now.status_code == 200 and "<strong>closing</strong>" in now.text
    assert "new classes closing" in now.text and "class fx renamed rates" in now.text
    then = client.get("/ns/demo/history", params={"text": text, "as_of": size})
    assert f"As of size {size}" in then.text and "<strong>closing</strong>" not in then.text
    bad = client.get("/ns/demo/history", params={"from": "x"})
    assert bad.status_code == 200 and "a ledger size is a whole number" in bad.text


def test_the_client_loads_a_csv_and_reads_the_past_on_both_backends(service: Service,
                                                                      tmp_path) -> None:
    from ocrr.client import Client

    path = tmp_path / "train.csv"
    path.write_text(CSV, encoding="utf-8")
    remote = Client.remote("http://testserver", key=service.keys["other"], namespace="other",
                           http=service.client)
    seen = []
    status = remote.load_csv(path, chunk_rows=4, progress=lambda r, row: seen.append(row))
    assert status.rows == len(SEED) and status.chunks == [0, 1, 2] and seen == [5, 9, 10]
    assert remote.load_csv(path, chunk_rows=4).rows == len(SEED)  # nothing sent twice
    text = "I want to close my account"
    before = remote.predict(text)
    head = remote.tree_head()
    remote.correct(text, "closing")
    assert remote.predict(text).label == "closing"
    assert remote.predict(text, as_of=head) == before
    assert remote.predict_many([text], as_of=head.size)[0] == before
    assert remote.changes(head.size).new_classes == ["closing"]
    assert remote.relabel("closing", "close_account").kind == "relabel"
    assert remote.retire("close_account").kind == "retire"
    assert remote.vote().rule == "hybrid"
    with Client.local(str(service.folder / "namespaces" / "other.db"),
                      encoder=HashingEncoder()) as local:
        assert local.predict(text, as_of=head.size) == before
        assert local.upload_status(status.upload).rows == len(SEED)
        local.set_vote("band", k=1)
        assert local.vote().params["k"] == 1


def test_an_actor_is_held_to_the_name_rule_in_the_spec_and_at_the_door(service: Service) -> None:
    """The ledger refuses an actor with a control, zero-width or bidi character; the spec says
    so (the name pattern, for the query and the bodies), and the server answers 422 before
    anything is written. schemathesis found the query's looser pattern once: a C1 control
    (U+008F) was valid by the spec and refused by the ledger."""
    import re

    spec = service.client.get("/openapi.json").json()
    examples = spec["paths"]["/v1/namespaces/{ns}/examples"]["post"]["parameters"]
    actor = next(p for p in examples if p["name"] == "actor")
    pattern = next(s["pattern"] for s in actor["schema"]["anyOf"] if "pattern" in s)
    for bad in ("\x8fkim", "kim\u200b", " kim"):
        assert not re.search(pattern, bad)
        refused = _post_csv(service, CSV, actor=bad)
        assert refused.status_code == 422, refused.text
        relabel = service.client.post(f"{OTHER}/relabels", headers=service.auth("other"),
                                      json={"old": "card", "new": "cards", "actor": bad})
        assert relabel.status_code == 422, relabel.text
    assert re.search(pattern, "kim") and service.size("other") == 0
