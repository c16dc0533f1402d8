"""Subject keys in a separate key store (issue 17, "Erasure you can audit"): the same
erasure and tamper checks as keys kept beside the entries, every crash point between the
two stores left safe and auditable, and a missing or swapped key store refused at open. On
memory, SQLite and PostgreSQL key stores."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import numpy as np
import pytest

from ocrr.errors import LedgerIntegrityError, LedgerMissingError
from ocrr.ledger import Ledger, MemoryStore
from ocrr.ledger.keys import KeyStore, KeyStoreError, MemoryKeys
from ocrr.ledger.keystores import PostgresKeys, SQLiteKeys
from ocrr.ledger.split import SplitStore

pytest_plugins = ["stores_fixtures"]  # the pg_server fixture


@pytest.fixture(params=["sqlite", "postgresql"])
def places(request, tmp_path: Path) -> tuple[str, str]:  # noqa: ANN001
    """(ledger, key store) locations: two SQLite files, or two PostgreSQL databases."""
    if request.param == "sqlite":
        return str(tmp_path / "entries.db"), str(tmp_path / "entries.keys.db")
    import psycopg

    dsn = request.getfixturevalue("pg_server").dsn
    names = [f"k{uuid.uuid4().hex[:10]}" for _ in range(2)]
    with psycopg.connect(dsn, autocommit=True) as conn:
        for name in names:
            conn.execute(f"CREATE DATABASE {name}")
    entries, keys = (dsn.replace("/postgres?", f"/{n}?") for n in names)
    return entries, keys


def raw_keys(where: str):  # noqa: ANN201
    """The attacker's connection to a key store, with its key table's name."""
    if where.startswith("postgresql://"):
        import psycopg

        return psycopg.connect(where, autocommit=True), "ocrr_subject_keys", "%s"
    return sqlite3.connect(where, isolation_level=None), "subject_keys", "?"


def build(entries: str, keys: str) -> str:
    """A split ledger with two subjects; returns alice's key id."""
    with Ledger.open(entries, keys=keys) as ledger:
        sealed = ledger.append("greeting", np.ones(3), text="hello", subject="alice")
        ledger.append("greeting", np.ones(3), text="hi", subject="bob")
        ledger.append("farewell", -np.ones(3), text="plain")
    return sealed.key_id


def test_the_three_key_stores_implement_one_protocol(tmp_path: Path):
    for keys in (MemoryKeys(), SQLiteKeys(tmp_path / "k.db")):
        assert isinstance(keys, KeyStore)
        keys.close()
    assert {"find", "put_many", "destroy_many", "bind"} <= set(dir(PostgresKeys))


def test_keys_live_only_in_the_key_store_and_erase_destroys_them_there(places):
    entries, keys = places
    alice = build(entries, keys)
    with Ledger.open(entries, keys=keys, create=False) as ledger:
        assert ledger.store.entries.live_keys() == {}  # nothing beside the entries
        assert alice in ledger.store.keys.live()
        assert ledger[0].text == "hello" and ledger.verify().ok
        ledger.erase("alice")
        assert alice not in ledger.store.keys.live()
    with Ledger.open(entries, keys=keys, create=False) as ledger:
        assert not ledger[0].readable and ledger[1].text == "hi" and ledger.verify().ok


def test_without_the_option_files_are_as_before(tmp_path: Path):
    path = tmp_path / "joint.db"
    with Ledger.open(path) as ledger:
        ledger.append("greeting", np.ones(3), subject="alice")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["joint.db"]  # no key file
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT name FROM meta ORDER BY name").fetchall() == [
            ("dim",), ("format",)]
        assert db.execute("SELECT COUNT(*) FROM subject_keys").fetchone() == (1,)


def test_the_memory_store_takes_a_separate_key_store_too():
    keys = MemoryKeys()
    ledger = Ledger(SplitStore(MemoryStore(), keys))
    sealed = ledger.append("greeting", np.ones(3), text="hi", subject="alice")
    assert list(keys.live()) == [sealed.key_id]
    ledger.erase("alice")
    assert keys.live() == {} and ledger.verify().ok


# -- refused at open ------------------------------------------------------------------------


def test_a_split_ledger_opened_without_its_keys_is_refused_but_reads_for_forensics(places):
    entries, keys = places
    build(entries, keys)
    with pytest.raises(KeyStoreError, match="separate key store"):
        Ledger.open(entries, create=False)
    with Ledger.open(entries, create=False, read_only=True) as forensic:
        assert len(forensic) == 3 and not forensic[0].readable


def test_a_missing_key_store_is_refused_naming_it_never_made_anew(tmp_path: Path):
    entries, keys = str(tmp_path / "e.db"), str(tmp_path / "e.keys.db")
    build(entries, keys)
    for suffix in ("", "-wal", "-shm"):
        Path(keys + suffix).unlink(missing_ok=True)
    with pytest.raises(LedgerMissingError) as refused:
        Ledger.open(entries, keys=keys, create=False)
    assert keys in str(refused.value) and "backup" in str(refused.value)
    assert not Path(keys).exists()


def test_a_key_store_of_another_ledger_is_refused(places, tmp_path: Path):
    entries, keys = places
    build(entries, keys)
    other = str(tmp_path / "other.keys.db")
    build(str(tmp_path / "other.db"), other)
    with pytest.raises(LedgerIntegrityError, match="belongs to another ledger"):
        Ledger.open(entries, keys=other, create=False)


def test_a_ledger_keeping_its_keys_beside_its_entries_refuses_a_key_store(tmp_path: Path):
    path = tmp_path / "joint.db"
    with Ledger.open(path) as ledger:
        ledger.append("greeting", np.ones(3), subject="alice")
    with pytest.raises(KeyStoreError, match="in its own file"):
        Ledger.open(path, keys=tmp_path / "k.db")


def test_a_deleted_key_row_is_refused_at_open_and_reported_by_verify(places):
    entries, keys = places
    alice = build(entries, keys)
    conn, table, mark = raw_keys(keys)
    conn.execute(f"DELETE FROM {table} WHERE key_id = {mark}", (alice,))
    conn.close()
    with pytest.raises(LedgerIntegrityError) as refused:
        Ledger.open(entries, keys=keys, create=False)
    assert refused.value.first_bad_seq == 0 and "outside erase" in refused.value.reason
    with Ledger.open(entries, keys=keys, create=False, read_only=True) as forensic:
        result = forensic.verify()
    assert not result.ok and result.first_bad_seq == 0


def test_an_overwritten_key_is_refused_at_open(places):
    entries, keys = places
    alice = build(entries, keys)
    conn, table, mark = raw_keys(keys)
    conn.execute(f"UPDATE {table} SET key = {mark} WHERE key_id = {mark}",
                 (os.urandom(32), alice))
    conn.close()
    with pytest.raises(LedgerIntegrityError, match="overwritten"):
        Ledger.open(entries, keys=keys, create=False)


# -- crash points between the two stores -----------------------------------------------------


def test_a_crash_after_the_tombstone_is_finished_at_the_next_open(places, monkeypatch,
                                                                  caplog):
    entries, keys = places
    alice = build(entries, keys)
    ledger = Ledger.open(entries, keys=keys, create=False)

    def crash(key_ids):  # noqa: ANN001, ANN202 - the process dies before destroying
        raise RuntimeError("crash between the tombstone and the key's destruction")

    monkeypatch.setattr(ledger.store.keys, "destroy_many", crash)
    with pytest.raises(RuntimeError):
        ledger.erase("alice")
    ledger.close()
    with Ledger.open(entries, keys=keys, create=False, read_only=True) as forensic:
        result = forensic.verify()  # a key its tombstone destroyed is still there
        assert not result.ok and "interrupted erase" in result.reason
    with Ledger.open(entries, keys=keys, create=False) as reopened:
        assert reopened.store.finished == [alice]
        assert alice not in reopened.store.keys.live() and reopened.verify().ok
        assert not reopened[0].readable and reopened[len(reopened) - 1].kind == "erasure"
    assert "interrupted erase" in caplog.text


def test_an_older_key_backup_restored_is_shredded_again(tmp_path: Path):
    entries, keys = str(tmp_path / "e.db"), str(tmp_path / "e.keys.db")
    alice = build(entries, keys)
    backup = tmp_path / "keys-backup.db"
    with sqlite3.connect(keys) as src, sqlite3.connect(backup) as dst:
        src.backup(dst)
    with Ledger.open(entries, keys=keys, create=False) as ledger:
        ledger.erase("alice")
    for suffix in ("-wal", "-shm"):
        Path(keys + suffix).unlink(missing_ok=True)
    Path(keys).write_bytes(backup.read_bytes())  # the operator restores last week's keys
    with Ledger.open(entries, keys=keys, create=False) as ledger:
        assert ledger.store.finished == [alice] and not ledger[0].readable
        assert ledger[1].text == "hi" and ledger.verify().ok


def test_a_crash_after_the_key_before_the_entry_leaves_a_harmless_orphan(places,
                                                                          monkeypatch):
    entries, keys = places
    build(entries, keys)
    ledger = Ledger.open(entries, keys=keys, create=False)
    store = ledger.store.keys
    put = store.put_many

    def put_then_crash(new):  # noqa: ANN001, ANN202
        put(new)
        raise RuntimeError("crash between the key and the entry")

    monkeypatch.setattr(store, "put_many", put_then_crash)
    with pytest.raises(RuntimeError):
        ledger.append("greeting", np.ones(3), text="carol's", subject="carol")
    ledger.close()
    with Ledger.open(entries, keys=keys, create=False) as reopened:
        assert len(reopened) == 3 and reopened.verify().ok  # no entry, an orphan key
        orphan = reopened.store.keys.find("carol")
        assert orphan is not None
        entry = reopened.append("greeting", np.ones(3), text="carol's", subject="carol")
        assert entry.key_id == orphan.key_id and reopened[3].text == "carol's"
        reopened.erase("carol")
        assert reopened.store.keys.find("carol") is None and reopened.verify().ok


def test_kill_9_between_tombstone_and_key_destruction(tmp_path: Path):
    """A real kill -9 at the crash point: the erasing process is killed the moment its
    tombstone is committed; the next open finishes the erasure."""
    entries, keys = str(tmp_path / "e.db"), str(tmp_path / "e.keys.db")
    alice = build(entries, keys)
    script = textwrap.dedent(f"""
        import os, signal
        from ocrr.ledger import Ledger
        ledger = Ledger.open({entries!r}, keys={keys!r}, create=False)
        ledger.store.keys.destroy_many = lambda ids: os.kill(os.getpid(), signal.SIGKILL)
        ledger.erase("alice")
    """)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    done = subprocess.run([sys.executable, "-c", script], env=env, timeout=120)
    assert done.returncode == -signal.SIGKILL
    with Ledger.open(entries, keys=keys, create=False) as ledger:
        assert ledger.store.finished == [alice] and ledger[len(ledger) - 1].kind == "erasure"
        assert not ledger[0].readable and ledger.verify().ok


# -- the CLI, the server and backups ----------------------------------------------------------


def test_cli_verify_and_erase_take_the_key_store(tmp_path: Path, capsys):
    from ocrr.cli.main import main

    entries, keys = str(tmp_path / "e.db"), str(tmp_path / "e.keys.db")
    alice = build(entries, keys)
    assert main(["ledger", "verify", entries, "--keys", keys]) == 0
    assert main(["ledger", "erase", "alice", "--ledger", entries, "--keys", keys,
                 "--reason", "request"]) == 0
    assert f"key {alice} destroyed" in capsys.readouterr().out
    conn, table, _ = raw_keys(keys)
    conn.execute(f"DELETE FROM {table}")  # bob's key, gone without a tombstone
    conn.close()
    assert main(["ledger", "verify", entries, "--keys", keys]) == 1
    assert "first bad sequence number: 1" in capsys.readouterr().out


def _served(data: Path, keys_dir: Path):  # noqa: ANN202
    from fastapi.testclient import TestClient

    from ocrr.server.app import create_app
    from ocrr.server.config import ServerSettings
    from ocrr.server.registry import Registry
    from server_fakes import HashingEncoder

    registry = Registry(data, keys_dir=keys_dir)
    return registry, TestClient(create_app(registry, encoder=HashingEncoder(), settings=
                                           ServerSettings(rate_limit=0, auth_failure_rate=0)))


def test_the_server_keeps_each_namespaces_keys_in_the_keys_dir(tmp_path: Path):
    from ocrr.server.backup import backup, export_namespace, import_namespace, restore

    data, keys_dir = tmp_path / "data", tmp_path / "keys"
    registry, client = _served(data, keys_dir)
    registry.create_namespace("support")
    admin, _ = registry.create_key("admin")
    auth = {"Authorization": f"Bearer {admin}"}
    with client:
        for text, label, subject in [("my card 42", "card", "c42"), ("euro rate", "fx", None),
                                     ("card lost", "card", "c43")]:
            body = {"text": text, "label": label, **({"subject": subject} if subject else {})}
            assert client.post("/v1/namespaces/support/corrections", json=body,
                               headers=auth).status_code == 201
        assert client.post("/v1/namespaces/support/erasures", json={"subject": "c42"},
                           headers=auth).status_code == 201
    key_file = keys_dir / "support.keys.db"
    assert oct(keys_dir.stat().st_mode & 0o777) == "0o700"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert [s for s in SQLiteKeys(key_file).export()][0].subject == "c43"
    with sqlite3.connect(data / "namespaces" / "support.db") as db:
        assert db.execute("SELECT COUNT(*) FROM subject_keys").fetchone() == (0,)
    copies = backup(data, tmp_path / "bk", keys_dir=keys_dir)
    assert (tmp_path / "bk" / "keys" / "support.keys.db").is_file()
    with pytest.raises(Exception, match="--keys-dir"):
        restore(tmp_path / "bk", tmp_path / "again")
    assert restore(tmp_path / "bk", tmp_path / "again", keys_dir=tmp_path / "k2") == copies
    with Ledger.open(tmp_path / "again" / "namespaces" / "support.db", create=False,
                     keys=tmp_path / "k2" / "support.keys.db") as ledger:
        assert ledger[2].text == "card lost" and not ledger[0].readable
    export = tmp_path / "support.jsonl"
    with open(export, "w", encoding="utf-8") as out:
        export_namespace(registry, "support", out, with_keys=True)
    with open(export, encoding="utf-8") as lines:
        import_namespace(registry, lines, "copy")
    with Ledger(registry.open_store("copy")) as copy:
        assert copy[2].text == "card lost" and isinstance(copy.store, SplitStore)
    assert SQLiteKeys(keys_dir / "copy.keys.db").find("c43") is not None


def test_a_namespace_whose_key_file_is_gone_is_quarantined(tmp_path: Path):
    data, keys_dir = tmp_path / "data", tmp_path / "keys"
    registry, client = _served(data, keys_dir)
    registry.create_namespace("a")
    registry.create_namespace("b")
    admin, _ = registry.create_key("admin")
    auth = {"Authorization": f"Bearer {admin}"}
    with client:
        for name in ("a", "b"):
            assert client.post(f"/v1/namespaces/{name}/corrections", headers=auth, json={
                "text": "my card", "label": "card", "subject": "s"}).status_code == 201
    for path in keys_dir.glob("a.keys.db*"):
        path.unlink()
    _, again = _served(data, keys_dir)
    with again:
        answer = again.post("/v1/namespaces/a/predict", json={"text": "card"}, headers=auth)
        assert answer.status_code == 503 and "a.keys.db" in answer.json()["message"]
        assert again.post("/v1/namespaces/b/predict", json={"text": "card"},
                          headers=auth).status_code == 200
    assert not (keys_dir / "a.keys.db").exists()
