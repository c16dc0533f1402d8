"""A durable ledger is checked when it opens (issue 17, items 1, 3, 4, 5): tampered at
rest, it is refused with the first bad sequence number before anything is served; a missing
or empty file is an error, never a new ledger; a subject key gone without a tombstone is
reported; an export cut short imports nothing. On SQLite and PostgreSQL alike."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ocrr import Substrate
from ocrr.bench.tamper import SIZE, Target, forge_suffix, run_suite, sqlite_places
from ocrr.cli.main import main
from ocrr.errors import LedgerIntegrityError, LedgerMissingError
from ocrr.ledger import Ledger, LedgerError
from ocrr.ledger.head import StoredHead
from ocrr.ledger.merkle import MerkleTree, leaf_hash
from ocrr.ledger.signing import generate_key

pytest_plugins = ["stores_fixtures"]  # the pg_server and ledger_factory fixtures
DURABLE = ["sqlite", "postgresql"]


@pytest.fixture
def target(ledger_factory):  # noqa: ANN001, ANN201
    """A genuine ledger of every entry shape, already opened once by a substrate."""
    built = Target.build(ledger_factory.where, ledger_factory.schema)
    yield built
    built.close()


def first_example(target: Target, after: int = 0) -> int:
    return next(r["seq"] for r in target.rows()
                if r["kind"] == "example" and r["key_id"] is None and r["seq"] >= after)


# -- item 1: a tampered ledger is never served ----------------------------------------------


@pytest.mark.parametrize("backend", DURABLE)
def test_a_label_edited_at_rest_is_refused_before_serving(backend, target):
    seq = first_example(target, after=5)
    target.sql("UPDATE {entries} SET label = 'fx' WHERE seq = ?", (seq,))
    with pytest.raises(LedgerIntegrityError) as refused:
        Substrate(ledger=Ledger(target.store()))
    assert refused.value.first_bad_seq == seq
    assert "read-only" in str(refused.value)  # the message says how to investigate


@pytest.mark.parametrize("backend", DURABLE)
def test_a_nan_vector_is_refused_even_with_every_hash_recomputed(backend, target):
    seq = first_example(target, after=10)
    forge_suffix(target, seq, lambda e: replace(e, vector=np.full(e.vector.shape, np.nan,
                                                                  "<f4")), head=True)
    with pytest.raises(LedgerIntegrityError) as refused:
        Ledger(target.store())
    assert refused.value.first_bad_seq == seq and "NaN" in refused.value.reason


@pytest.mark.parametrize("backend", DURABLE)
def test_no_correction_is_appended_on_top_of_a_tampered_ledger(backend, target):
    ledger = Ledger(target.store())  # opened while still genuine
    target.sql("DELETE FROM {entries} WHERE seq = ?", (SIZE - 1,))
    with pytest.raises(LedgerIntegrityError):
        ledger.append("label-0", np.ones(6))
    ledger.close()
    assert len(target.rows()) == SIZE - 1


@pytest.mark.parametrize("backend", DURABLE)
def test_a_refused_ledger_opens_read_only_for_forensics(backend, target):
    target.sql("DELETE FROM {entries} WHERE seq = 7")
    with pytest.raises(LedgerIntegrityError) as refused:
        Ledger(target.store())
    assert refused.value.first_bad_seq == 7
    with Ledger(target.store(), read_only=True) as forensic:
        assert forensic.verify().first_bad_seq == 7
        with pytest.raises(LedgerError, match="read-only"):
            forensic.append("label-0", np.ones(6))


def test_cli_verify_opens_a_refused_ledger_and_names_the_entry(tmp_path: Path, capsys):
    target = Target.build(str(tmp_path / "l.db"))
    target.sql("UPDATE {entries} SET label = 'fx' WHERE seq = 4")
    target.close()
    assert main(["ledger", "verify", "--forensic", target.where]) == 1
    out = capsys.readouterr().out
    assert "first bad sequence number: 4" in out and "check at open" in out


# -- the head record ------------------------------------------------------------------------


def test_the_head_record_advances_like_the_merkle_tree():
    head, hashes = StoredHead.genesis(), []
    for n in range(70):
        assert head.root == MerkleTree(leaf_hash(h) for h in hashes).root()
        assert head.problem() is None
        digest = bytes([n % 256]) * 32
        hashes.append(digest)
        head = head.advance([digest])


@pytest.mark.parametrize("backend", DURABLE)
def test_a_signed_head_refuses_a_rewritten_suffix_and_head(backend, ledger_factory):
    key = generate_key()
    signed = Target.build(ledger_factory.where, ledger_factory.schema, signer=key)
    kept = Ledger(signed.store(), read_only=True).tree_head()
    assert signed.store().head_record().signed_tree_head().verify(key.public_key())
    forge_suffix(signed, first_example(signed, after=3), lambda e: replace(e, label="forged"),
                 head=True)
    with pytest.raises(LedgerIntegrityError, match="not signed by the pinned public key"):
        Ledger(signed.store())
    # without the signing key configured the forgery opens: a head kept outside still
    # catches it (the documented limit of an unsigned head record)
    signed.signer = None
    with Ledger(signed.store()) as unsigned:
        assert unsigned.verify(kept).first_bad_seq == kept.size - 1
    signed.close()


def test_a_ledger_without_head_record_is_refused_until_adopted(tmp_path: Path, capsys):
    target = Target.build(str(tmp_path / "l.db"))
    target.sql("DELETE FROM {head}")
    target.close()
    with pytest.raises(LedgerIntegrityError, match="no head record"):
        Ledger.open(target.where, create=False)
    assert main(["ledger", "adopt", target.where]) == 0
    assert f"head record of {SIZE} entries" in capsys.readouterr().out
    with Ledger.open(target.where, create=False) as ledger:
        assert ledger.verify().ok and len(ledger) == SIZE


# -- item 3: a deleted or empty ledger is an error, never a new one --------------------------


def test_a_deleted_ledger_file_is_an_error_not_an_empty_ledger(tmp_path: Path):
    path = tmp_path / "ns.db"
    Substrate.open(str(path)).partial_fit(np.eye(3), ["a", "b", "c"]).ledger.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    with pytest.raises(LedgerMissingError):
        Substrate.open(str(path), create=False)
    assert not path.exists()


def test_a_zero_length_file_is_never_adopted(tmp_path: Path):
    path = tmp_path / "ns.db"
    Substrate.open(str(path)).partial_fit(np.eye(3), ["a", "b", "c"]).ledger.close()
    os.truncate(path, 0)
    with pytest.raises(LedgerIntegrityError, match="empty"):
        Substrate.open(str(path))  # even where it may create a new ledger
    assert path.stat().st_size == 0


def test_a_dropped_postgres_schema_is_an_error(pg_server):
    target = Target.build(pg_server.dsn, "dropped_schema")
    target.sql('DROP SCHEMA "dropped_schema" CASCADE')
    with pytest.raises(LedgerMissingError):
        target.store()
    target.close()


# -- item 4: erasure you can audit ----------------------------------------------------------


@pytest.mark.parametrize("backend", DURABLE)
def test_a_key_deleted_without_a_tombstone_is_reported(backend, target):
    with Ledger(target.store()) as genuine:
        kept = genuine.tree_head()
        assert genuine.verify(kept).ok  # an erasure made by erase() is in order
    key_id, first = target.query("SELECT key_id, MIN(seq) FROM {entries} WHERE key_id IS "
                                 "NOT NULL AND key_id IN (SELECT key_id FROM "
                                 "{subject_keys}) GROUP BY key_id ORDER BY 2 LIMIT 1")[0]
    target.sql("DELETE FROM {subject_keys} WHERE key_id = ?", (key_id,))
    with Ledger(target.store(), read_only=True) as forensic:
        result = forensic.verify(kept)  # even against a kept head
    assert not result.ok and result.first_bad_seq == first
    assert "no erasure entry" in result.reason
    with pytest.raises(LedgerIntegrityError) as refused:
        Ledger(target.store())
    assert refused.value.first_bad_seq == first


@pytest.mark.parametrize("backend", DURABLE)
def test_an_overwritten_key_is_reported(backend, target):
    key_id, first = target.query("SELECT key_id, MIN(seq) FROM {entries} WHERE key_id IN "
                                 "(SELECT key_id FROM {subject_keys}) GROUP BY key_id "
                                 "ORDER BY 2 LIMIT 1")[0]
    target.sql("UPDATE {subject_keys} SET key = ? WHERE key_id = ?", (bytes(32), key_id))
    with pytest.raises(LedgerIntegrityError, match="does not open") as refused:
        Ledger(target.store())
    assert refused.value.first_bad_seq == first


# -- item 5: an export cut short imports nothing ---------------------------------------------


def test_a_truncated_export_imports_nothing(tmp_path: Path, capsys):
    target = Target.build(str(tmp_path / "l.db"))
    target.close()
    export = tmp_path / "export.jsonl"
    assert main(["ledger", "export", "-l", target.where, "-o", str(export)]) == 0
    lines = export.read_text().splitlines()
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(lines[:6]) + "\n")  # the header (19+ entries) and 5 entries
    copy = tmp_path / "copy.db"
    assert main(["ledger", "import", "-l", str(copy), "-i", str(cut)]) == 2
    assert "cut short" in capsys.readouterr().err
    with Ledger.open(copy) as ledger:
        assert len(ledger) == 0
    headless = tmp_path / "headless.jsonl"
    headless.write_text("\n".join(lines[1:]) + "\n")
    assert main(["ledger", "import", "-l", str(copy), "-i", str(headless)]) == 2
    assert main(["ledger", "import", "-l", str(copy), "-i", str(export)]) == 0
    with Ledger.open(copy) as ledger:
        assert len(ledger) == SIZE and ledger.verify().ok


# -- the whole suite, both stores ------------------------------------------------------------


@pytest.mark.parametrize("backend", DURABLE)
def test_the_tamper_suite_catches_everything_without_false_alarms(backend, request,
                                                                   tmp_path):
    from ocrr.bench.tamper import postgres_places

    if backend == "sqlite":
        places = {backend: sqlite_places(str(tmp_path))}
    else:
        places = {backend: postgres_places(request.getfixturevalue("pg_server").dsn)}
    lines: list[str] = []
    assert run_suite(places, trials=2, opens=20, say=lines.append), "\n".join(lines)
    assert sum(line.startswith("| ") for line in lines) == 1 + 18 + 4  # 4 key-store rows


@pytest.mark.parametrize("backend", DURABLE)
def test_the_head_record_is_the_ledgers_tree_head(backend, target):
    with Ledger(target.store()) as ledger:
        ledger.append_many(["label-0"] * 3, np.ones((3, 6)))
        record = ledger.store.head_record()
        assert (record.size, record.root) == (len(ledger), ledger.tree_head().root_hash)
        assert record.last_hash == ledger.head().entry_hash


@pytest.mark.parametrize("backend", DURABLE)
def test_the_fast_check_rehashes_after_the_checked_mark_and_the_substrate_all(backend,
                                                                              target):
    with Ledger(target.store()) as ledger:
        assert ledger.store.head_record().checked == SIZE  # a substrate opened it
        ledger.append("label-0", np.ones(6))
    target.sql("UPDATE {entries} SET label = 'fx' WHERE seq = ?", (SIZE,))  # after the mark
    with pytest.raises(LedgerIntegrityError) as refused:
        Ledger(target.store())
    assert refused.value.first_bad_seq == SIZE
    target.sql("UPDATE {entries} SET label = 'label-0' WHERE seq = ?", (SIZE,))
    seq = first_example(target, after=2)
    target.sql("UPDATE {entries} SET label = 'fx' WHERE seq = ?", (seq,))  # before it
    Ledger(target.store()).close()  # the fast check does not re-read it ...
    with pytest.raises(LedgerIntegrityError) as refused:  # ... the substrate does
        Substrate(ledger=Ledger(target.store()))
    assert refused.value.first_bad_seq == seq


def test_ledger_bench_prints_the_checks_at_open(tmp_path: Path, capsys):
    path = str(tmp_path / "bench.db")
    assert main(["ledger", "bench", "--path", path, "--dim", "8", "--single", "2",
                 "--batches", "1", "--batch", "10", "--open-size", "500"]) == 0
    out = capsys.readouterr().out
    assert "full check (every entry re-hashed, 500)" in out and "fast check" in out
    assert main(["ledger", "bench", "--open-only", "--path", path]) == 0
    assert "500 links and numbers" in capsys.readouterr().out


def test_an_unsigned_ledger_is_signed_from_now_on_by_adopt(tmp_path: Path):
    target = Target.build(str(tmp_path / "l.db"))
    target.close()
    key = generate_key()
    with pytest.raises(LedgerIntegrityError, match="not signed"):
        Ledger.open(target.where, create=False, signer=key)
    with Ledger.open(target.where, create=False, read_only=True, signer=key) as ledger:
        assert ledger.adopt().signed_tree_head().verify(key.public_key())
    with Ledger.open(target.where, create=False, signer=key) as signed:
        signed.append("label-0", np.ones(6))
        assert signed.store.head_record().signed_tree_head().verify(key.public_key())
