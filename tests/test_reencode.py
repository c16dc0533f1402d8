"""Moving a ledger to another encoder (issue 19): ``ocrr.ledger.reencode`` replays the old
ledger into a new one with new vectors, each moved entry citing the old one; erased,
vector-only entries and the revocations of either are counted, not moved; the old ledger is
untouched; ``verify_move`` catches a forged citation; an interrupted move resumes."""

from __future__ import annotations

import json

import pytest

from ocrr.ledger import Ledger, LedgerError, reencode, verify_move
from ocrr.substrate import Substrate
from server_fakes import HashingEncoder, SmallHashingEncoder

TEXTS = [("where is my card", "card"), ("my card has not arrived", "card"),
         ("what is the exchange rate", "rate"), ("rate for euros", "rate"),
         ("i want a refund", "refund"), ("refund my purchase", "refund")]


def _old(path) -> Ledger:  # noqa: ANN001
    """A SQLite ledger with fit examples, a correction by a subject later erased, a sealed
    one kept, a vector-only example, a revoked correction, a relabel and a vote setting."""
    encoder = HashingEncoder()
    substrate = Substrate.open(str(path), encoder=encoder)
    substrate.fit([t for t, _ in TEXTS], [y for _, y in TEXTS])
    substrate.correct("card stuck in the machine", "card", subject="alice")
    substrate.correct("euro rate please", "rate", subject="bob")
    wrong = substrate.correct("refund now", "card")
    substrate.ledger.append("card", encoder.encode(["no text here"])[0],
                            provenance={"source": "correction"})
    substrate.revoke(wrong.seq, "wrong label")
    substrate.relabel("refund", "refunds")
    substrate.set_vote("band", k=3)
    substrate.erase("alice")
    substrate.ledger.close()
    return Ledger.open(str(path), create=False)


SMALL = SmallHashingEncoder()


def test_round_trip_counts_citations_and_old_ledger_unchanged(tmp_path) -> None:  # noqa: ANN001
    old = _old(tmp_path / "old.db")
    root, size = old.root(), len(old)
    new = Ledger.open(str(tmp_path / "new.db"))
    report = reencode(old, new, SMALL.encode, identity="test-small-32", batch=4)
    assert report.not_moved == {"erased": 1, "no_text": 1, "tombstone": 1}
    assert report.moved == {"example": 8, "revocation": 1, "relabel": 1, "setting": 1}
    assert len(new) == 1 + 11 and new.dim == 32
    assert (old.root(), len(old)) == (root, size) and old.verify().ok and new.verify().ok
    check = verify_move(old, new)
    assert check.ok, check.problems
    assert check.moved == 11 and check.not_moved == report.not_moved
    # the moved classifier: band rule (the setting moved), refunds renamed, revocation kept
    moved = Substrate(ledger=new, encoder=SMALL)
    assert moved.rule.name == "band"
    assert moved.predict_one(SMALL.encode(["refund my purchase"])[0]) == "refunds"
    revoked = [e for e in new if e.kind == "revocation"][0]
    assert not moved.is_active(int(revoked.provenance["revokes"]))
    # running again moves nothing more
    again = reencode(old, new, SMALL.encode, identity="test-small-32")
    assert again.moved == report.moved and len(new) == 12
    # the sealed entry moved sealed: erasing its subject in the new ledger works, and the
    # move still checks (the erased entry's citation is matched by count)
    moved.erase("bob")
    check = verify_move(old, new)
    assert check.ok and check.unreadable == 1 and check.appended_after == 1
    with pytest.raises(LedgerError, match="written after the move"):
        reencode(old, new, SMALL.encode, identity="test-small-32")


def test_a_forged_citation_is_caught(tmp_path) -> None:  # noqa: ANN001
    old = _old(tmp_path / "old.db")
    new = Ledger()
    reencode(old, new, SMALL.encode, identity="test-small-32")
    first = next(e for e in new if e.kind == "example")
    new.append("rate", SMALL.encode(["forged"])[0], text="forged",
               provenance={"moved_seq": "0", "moved_from": first.provenance["moved_from"]})
    check = verify_move(old, new)
    assert not check.ok and any("already moved" in p for p in check.problems)
    other = Ledger()
    reencode(old, other, SMALL.encode, identity="test-small-32")
    other.append("card", SMALL.encode(["x"])[0], text="x",
                 provenance={"moved_seq": "1", "moved_from": "00" * 32})
    assert any("another hash" in p for p in verify_move(old, other).problems)


def test_an_interrupted_move_resumes_and_a_grown_ledger_catches_up(tmp_path) -> None:  # noqa: ANN001
    old = _old(tmp_path / "old.db")
    new = Ledger()
    calls = []

    def failing(texts):  # noqa: ANN001, ANN202
        calls.append(len(texts))
        if len(calls) == 2:
            raise RuntimeError("killed")
        return SMALL.encode(texts)

    with pytest.raises(RuntimeError):
        reencode(old, new, failing, identity="test-small-32", batch=3)
    partial = len(new)
    report = reencode(old, new, SMALL.encode, identity="test-small-32", batch=3)
    assert report.started_at > 0 and len(new) > partial and verify_move(old, new).ok
    old.close()
    substrate = Substrate.open(str(tmp_path / "old.db"), encoder=HashingEncoder())
    substrate.correct("card please", "card")
    grown = substrate.ledger
    report = reencode(grown, new, SMALL.encode, identity="test-small-32")
    check = verify_move(grown, new)
    assert check.ok and check.records == 2 and report.moved["example"] == 9
    with pytest.raises(LedgerError, match="encoder"):
        reencode(grown, new, SMALL.encode, identity="another")


def test_a_served_namespace_moved_with_the_cli_predicts_with_the_new_encoder(
        tmp_path, capsys) -> None:  # noqa: ANN001
    from ocrr.cli.main import main
    from ocrr.client import Client
    from ocrr.server.errors import Conflict
    from ocrr.server.namespaces import Namespaces
    from ocrr.server.registry import Registry

    data = tmp_path / "data"
    fake = ["--data", str(data), "--encoder-factory", "server_fakes:hashing_encoder"]
    assert main(["namespace", "create", "support", *fake]) == 0
    path = data / "namespaces" / "support.db"
    with Client.local(str(path), encoder=HashingEncoder()) as client:
        client.add_examples([t for t, _ in TEXTS], [y for _, y in TEXTS])
    held = Namespaces(Registry(data), HashingEncoder())
    held.get("support")  # a server serving it: the move is refused, nothing changed
    root = Ledger.open(str(path), create=False, read_only=True).root()
    move = ["namespace", "reencode", "support", "--data", str(data),
            "--encoder-factory", "server_fakes:small_encoder"]
    capsys.readouterr()
    assert main(move) == 1
    assert "open in another process" in capsys.readouterr().err
    held.close()
    assert main(move) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["encoder"] == "test-small-32" and out["report"]["moved"] == 6
    assert out["check"]["ok"] and out["report"]["not_moved"] == 0
    kept = Ledger.open(out["kept"], create=False)
    assert kept.root() == root and kept.verify().ok and len(kept) == 6
    registry = Registry(data)
    assert registry.require_namespace("support").encoder == "test-small-32"
    assert main(["ledger", "verify-move", out["kept"], str(path)]) == 0
    # the old encoder's server refuses it; the new one's predicts with its vectors
    with pytest.raises(Conflict):
        Namespaces(registry, HashingEncoder()).get("support")
    served = Namespaces(registry, SMALL).get("support")
    assert served.substrate.ledger.dim == 32
    assert served.substrate.predict_one(SMALL.encode(["rate for euros"])[0]) == "rate"
    # the moved classifier is the one fitted on the same rows with the new encoder
    fresh = Substrate.from_encoder(SMALL).fit([t for t, _ in TEXTS], [y for _, y in TEXTS])
    queries = SMALL.encode(["card please", "euro rate", "refund it", "hello"])
    assert list(served.substrate.predict_many(queries)) == list(fresh.predict_many(queries))
    assert main(move) == 1  # moved already
    # killed after the swap, before the registry's update: running again finishes it
    registry.set_encoder("support", "test-hashing-64")
    capsys.readouterr()
    assert main(move) == 1 and "already moved" in capsys.readouterr().err
    assert registry.require_namespace("support").encoder == "test-small-32"


def test_ocrr_ledger_reencode_and_verify_move(tmp_path, capsys) -> None:  # noqa: ANN001
    pytest.importorskip("wordllama")
    from ocrr.cli.main import main

    _old(tmp_path / "old.db").close()
    old, new = str(tmp_path / "old.db"), str(tmp_path / "new.db")
    capsys.readouterr()
    assert main(["ledger", "reencode", old, new, "--encoder", "wordllama"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["moved"] == 11 and report["not_moved"] == 3
    assert main(["ledger", "verify-move", old, new]) == 0
    assert json.loads(capsys.readouterr().out)["ok"]
    assert Ledger.open(new, create=False).dim == 256
    assert main(["ledger", "verify-move", new, old]) == 1  # not a move of it
