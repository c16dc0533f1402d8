"""``ocrr ledger ...``: the audit commands, their output and their exit statuses."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from ocrr import Substrate
from ocrr.cli.main import main
from ocrr.ledger import Ledger
from ocrr.ledger.transfer import read_jsonl

pytest_plugins = ["stores_fixtures"]  # the pg_server and ledger_factory fixtures


@pytest.fixture
def ledger_path(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.db"
    clf = Substrate.open(str(path))
    rng = np.random.default_rng(0)
    clf.fit(rng.standard_normal((12, 8)), [f"c{i % 3}" for i in range(12)])
    clf.correct(rng.standard_normal(8), "new", subject="alice", actor="agent-1")
    clf.ledger.close()
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:  # noqa: ANN001
    code = main(["ledger", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def tamper(path: Path, sql: str) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute(sql)


def test_verify_passes_then_names_the_first_bad_entry(capsys, ledger_path: Path):
    code, out, _ = run(capsys, "verify", str(ledger_path))
    assert code == 0 and "ok: 13 entries" in out
    tamper(ledger_path, "UPDATE entries SET label = 'forged' WHERE seq = 7")
    code, out, _ = run(capsys, "verify", str(ledger_path))
    assert code == 1 and "first bad sequence number: 7" in out
    tamper(ledger_path, "DELETE FROM entries WHERE seq = 3")
    code, out, _ = run(capsys, "verify", "--ledger", str(ledger_path))
    assert code == 1 and "first bad sequence number: 3" in out


def test_verify_against_a_kept_signed_head_catches_truncation(capsys, tmp_path: Path,
                                                              ledger_path: Path):
    assert run(capsys, "keygen", str(tmp_path / "op"))[0] == 0
    code, out, _ = run(capsys, "head", "-l", str(ledger_path), "--sign", str(tmp_path / "op.key"),
                       "--out", str(tmp_path / "head.json"))
    head = json.loads(out)
    assert code == 0 and head["size"] == 13 and len(head["signature"]) == 128
    assert json.loads((tmp_path / "head.json").read_text()) == head
    args = ["verify", str(ledger_path), "--head", str(tmp_path / "head.json"), "--public-key",
            str(tmp_path / "op.pub")]
    assert run(capsys, *args)[0] == 0
    tamper(ledger_path, "DELETE FROM entries WHERE seq >= 10")
    code, out, _ = run(capsys, *args)
    assert code == 1 and "first bad sequence number: 10" in out and "truncated" in out
    # a head whose signature does not verify is refused
    forged = dict(head, size=12)
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    code, out, _ = run(capsys, "verify", str(ledger_path), "--head", str(tmp_path / "forged.json"),
                       "--public-key", str(tmp_path / "op.pub"))
    assert code == 1 and "signature" in out


def test_prove_and_check_the_proof_offline(capsys, tmp_path: Path, ledger_path: Path):
    run(capsys, "head", "-l", str(ledger_path), "--out", str(tmp_path / "head.json"))
    code, out, _ = run(capsys, "prove", "-l", str(ledger_path), "5", "--out",
                       str(tmp_path / "proof.json"))
    proof = json.loads(out)
    assert code == 0 and proof["seq"] == 5 and proof["tree_size"] == 13 and proof["path"]
    with Ledger.open(ledger_path) as ledger:
        assert proof["entry_hash"] == ledger[5].entry_hash.hex()
    code, out, _ = run(capsys, "check-proof", str(tmp_path / "proof.json"), "--head",
                       str(tmp_path / "head.json"))
    assert code == 0 and out.startswith("ok: entry 5")
    proof["path"][0] = "00" * 32
    (tmp_path / "bad.json").write_text(json.dumps(proof))
    code, out, _ = run(capsys, "check-proof", str(tmp_path / "bad.json"))
    assert code == 1 and out.startswith("FAILED")
    code, _, err = run(capsys, "prove", "-l", str(ledger_path), "99")
    assert code == 2 and "no entry 99" in err


def test_check_consistency_after_growth_and_after_a_rewrite(capsys, tmp_path: Path,
                                                            ledger_path: Path):
    run(capsys, "head", "-l", str(ledger_path), "--out", str(tmp_path / "old.json"))
    clf = Substrate.open(str(ledger_path))
    clf.correct(np.ones(8), "later")
    clf.erase("alice")  # erasure keeps history consistent
    clf.ledger.close()
    code, out, _ = run(capsys, "check-consistency", "-l", str(ledger_path),
                       str(tmp_path / "old.json"), "--out", str(tmp_path / "proof.json"))
    assert code == 0 and "extends the old head (13 entries)" in out
    assert json.loads((tmp_path / "proof.json").read_text())["new_size"] == 15
    # rewrite history: a different entry 4, hashes recomputed all the way (a valid chain)
    with Ledger.open(ledger_path) as ledger:
        entries = list(ledger)
    rewritten = tmp_path / "rewritten.db"
    forger = Ledger.open(rewritten)
    for entry in entries[:4]:
        forger.import_entries([entry.stored()])
    forger.append("forged", np.ones(8))
    forger.close()
    code, out, _ = run(capsys, "check-consistency", "-l", str(rewritten),
                       str(tmp_path / "old.json"))
    assert code == 1 and "FAILED" in out


def test_export_import_round_trip_keeps_hashes_and_root(capsys, tmp_path: Path,
                                                        ledger_path: Path):
    out_file = tmp_path / "export.jsonl"
    assert run(capsys, "export", "-l", str(ledger_path), "-o", str(out_file))[0] == 0
    header, entries = read_jsonl(out_file.read_text().splitlines())
    assert header["size"] == 13 and len(list(entries)) == 13
    assert "agent-1" not in out_file.read_text()  # alice's provenance stays sealed
    copy = tmp_path / "copy.db"
    code, out, _ = run(capsys, "import", "-l", str(copy), "-i", str(out_file))
    assert code == 0 and "imported 13" in out
    assert run(capsys, "import", "-l", str(copy), "-i", str(out_file))[1].startswith(
        "imported 0")  # resumable: nothing twice
    with Ledger.open(ledger_path) as a, Ledger.open(copy) as b:
        assert a.head() == b.head() and a.root() == b.root() and b.verify().ok
        assert not b[12].readable  # no keys travel with an export
    lines = out_file.read_text().splitlines()
    lines[5] = lines[5].replace('"label": "c', '"label": "x', 1)
    (tmp_path / "bad.jsonl").write_text("\n".join(lines))
    code, _, err = run(capsys, "import", "-l", str(tmp_path / "other.db"), "-i",
                       str(tmp_path / "bad.jsonl"))
    assert code == 2 and "entry 4: contents do not match its hash" in err


def test_usage_errors_exit_2(capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("OCRR_LEDGER", raising=False)
    code, _, err = run(capsys, "verify", str(tmp_path / "missing.db"))
    assert code == 2 and "no ledger" in err
    assert not (tmp_path / "missing.db").exists()  # verify never creates one
    code, _, err = run(capsys, "head")
    assert code == 2 and "--ledger" in err
    (tmp_path / "junk.db").write_text("not a database")
    code, _, err = run(capsys, "verify", str(tmp_path / "junk.db"))
    assert code == 2
    code, _, err = run(capsys, "check-consistency", "-l", str(tmp_path / "x.db"),
                       str(tmp_path / "no-head.json"))
    assert code == 2


def test_ledger_location_from_the_environment(capsys, ledger_path: Path,
                                              monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OCRR_LEDGER", str(ledger_path))
    code, out, _ = run(capsys, "head")
    assert code == 0 and json.loads(out)["size"] == 13


def test_a_postgresql_url_end_to_end(capsys, tmp_path: Path, pg_server):
    """The CLI and ``Substrate.open`` take a postgresql:// URL (default schema, own DB)."""
    import psycopg

    with psycopg.connect(pg_server.dsn, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS cli_url")
        conn.execute("CREATE DATABASE cli_url")
    url = pg_server.dsn.replace("/postgres?", "/cli_url?")
    clf = Substrate.open(url)
    rng = np.random.default_rng(0)
    clf.fit(rng.standard_normal((6, 4)), list("abcabc"))
    clf.correct(rng.standard_normal(4), "d", subject="dora")
    clf.ledger.close()
    code, out, _ = run(capsys, "verify", url)
    assert code == 0 and "ok: 7 entries" in out
    code, out, _ = run(capsys, "head", "-l", url, "--out", str(tmp_path / "head.json"))
    assert code == 0 and json.loads(out)["size"] == 7
    assert run(capsys, "export", "-l", url, "-o", str(tmp_path / "pg.jsonl"))[0] == 0
    code, out, _ = run(capsys, "import", "-l", str(tmp_path / "from-pg.db"), "-i",
                       str(tmp_path / "pg.jsonl"))
    assert code == 0 and "imported 7" in out
    with Ledger.open(url) as pg, Ledger.open(tmp_path / "from-pg.db") as lite:
        assert pg.root() == lite.root() and pg.head() == lite.head()
