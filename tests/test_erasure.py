"""Erasure by crypto-shredding: after ``erase(subject)`` the plaintext is unrecoverable from
what is stored, and everything else (chain, proofs, other subjects) is intact."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ocrr import Substrate
from ocrr.ledger import Ledger
from ocrr.ledger.entry import SEALED_BLOB
from ocrr.ledger.sqlite import SQLiteStore

pytest_plugins = ["stores_fixtures"]  # the pg_server and ledger_factory fixtures

DIM = 16
SECRET_TEXT = "Alice Example's card 4929-1234-5678 never arrived"
SECRET_EMAIL = "alice.example@mail.test"
SUBJECT = "customer-alice-0042"


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v)).astype(np.float32)


def _teach(ledger: Ledger) -> tuple[Substrate, np.ndarray]:
    rng = np.random.default_rng(7)
    clf = Substrate(ledger=ledger)
    clf.fit(rng.standard_normal((20, DIM)), [f"c{i % 4}" for i in range(20)])
    secret_vector = _unit(rng.standard_normal(DIM))
    entry = clf.correct(secret_vector, "card_arrival", subject=SUBJECT,
                        provenance={"email": SECRET_EMAIL, "text": SECRET_TEXT})
    assert entry.readable and clf.predict_one(secret_vector) == "card_arrival"
    clf.correct(rng.standard_normal(DIM), "c1", subject="someone-else")
    return clf, secret_vector


def _file_bytes(db: Path) -> bytes:
    """The database file and its companions (-wal, -shm), as a forensic reader sees them."""
    return b"".join(p.read_bytes() for p in sorted(db.parent.glob(db.name + "*")))


def _windows_as_keys_fail(data: bytes, ciphertext: str) -> int:
    """Try every 32-byte window of ``data`` as the AES key of ``ciphertext`` (the AAD does
    not even matter: a wrong key fails on the tag first). Returns how many were tried."""
    blob = base64.b64decode(ciphertext)
    nonce, sealed = blob[:12], blob[12:]
    tried = 0
    for at in range(len(data) - 31):
        try:
            AESGCM(data[at : at + 32]).decrypt(nonce, sealed, None)
        except InvalidTag:
            tried += 1
            continue
        raise AssertionError(f"the file holds a key that opens the ciphertext (offset {at})")
    return tried


def test_sqlite_file_holds_no_plaintext_and_after_erasure_no_key(tmp_path: Path):
    db = tmp_path / "ledger.db"
    clf, secret_vector = _teach(Ledger.open(db))
    store = clf.ledger.store
    assert isinstance(store, SQLiteStore)
    key_id = clf.ledger[20].key_id
    key = store.key(key_id)
    seq = 20
    ciphertext = store[seq].provenance[SEALED_BLOB]
    store.scrub()
    before = _file_bytes(db)
    # the plaintext never reached the file; the key and the subject's name did, in the key
    # table (that is what erasure destroys)
    for secret in (SECRET_TEXT.encode(), SECRET_EMAIL.encode(), secret_vector.tobytes()):
        assert secret not in before
    assert key in before and SUBJECT.encode() in before

    tomb = clf.erase(SUBJECT)
    assert tomb.provenance["erases"] == key_id
    clf.ledger.close()
    after = _file_bytes(db)
    assert key not in after, "the destroyed key is still in the file"
    for secret in (SECRET_TEXT.encode(), SECRET_EMAIL.encode(), SUBJECT.encode(),
                   secret_vector.tobytes()):
        assert secret not in after
    assert ciphertext.encode() in after  # the ciphertext stays: the hashes cover it
    assert _windows_as_keys_fail(after, ciphertext) > len(after) // 2

    reopened = Substrate.open(str(db))
    gone = reopened.ledger[seq]
    assert not gone.readable and gone.text is None and dict(gone.provenance) == {}
    assert reopened.predict_one(secret_vector) != "card_arrival"
    assert reopened.ledger.verify().ok and reopened.ledger.prove(seq).verify()
    assert reopened.ledger[21].readable  # the other subject is intact


def test_memory_store_keeps_only_ciphertext_and_forgets_the_key():
    clf, secret_vector = _teach(Ledger())
    store = clf.ledger.store
    stored = store.entries[20]
    assert stored.text is None and stored.vector.size == 0
    assert SECRET_EMAIL not in repr(dict(stored.provenance))
    assert store.subject_keys.find(SUBJECT) is not None
    clf.erase(SUBJECT)
    assert store.subject_keys.find(SUBJECT) is None and len(store.subject_keys) == 1
    assert not clf.ledger[20].readable and clf.ledger.verify().ok
    assert clf.predict_one(secret_vector) != "card_arrival"


def test_postgresql_key_table_file_no_longer_holds_the_key(pg_server):
    import psycopg

    from ocrr.ledger.postgres import PostgresStore

    store = PostgresStore(pg_server.dsn, schema="erasure_file")
    clf, _ = _teach(Ledger(store))
    key = store.key(clf.ledger[20].key_id)
    with psycopg.connect(pg_server.dsn, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
        path = conn.execute(
            "SELECT current_setting('data_directory') || '/' || "
            "pg_relation_filepath('erasure_file.subject_keys')"
        ).fetchone()[0]
        assert key in Path(path).read_bytes()
        clf.erase(SUBJECT)
        conn.execute("CHECKPOINT")
        path = conn.execute(
            "SELECT current_setting('data_directory') || '/' || "
            "pg_relation_filepath('erasure_file.subject_keys')"
        ).fetchone()[0]
    assert key not in Path(path).read_bytes()
    assert not Ledger(PostgresStore(pg_server.dsn, schema="erasure_file"))[20].readable
    clf.ledger.close()


def test_erasing_an_unknown_subject_is_an_error_and_writes_nothing():
    ledger = Ledger()
    ledger.append("a", np.ones(3), subject="bob")
    head = ledger.head()
    with pytest.raises(ValueError, match="no live key"):
        ledger.erase("nobody")
    assert ledger.head() == head
