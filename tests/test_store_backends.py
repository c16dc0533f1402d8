"""One suite, three stores: memory, SQLite and a real PostgreSQL server behave the same."""

from __future__ import annotations

import numpy as np
import pytest

from ocrr import Substrate
from ocrr.ledger import (
    ERASURE,
    GENESIS_HASH,
    MAX_LABEL_CHARS,
    MAX_TEXT_CHARS,
    ChainHead,
    Ledger,
    LedgerError,
)
from ocrr.ledger.merkle import verify_consistency, verify_inclusion

pytest_plugins = ["stores_fixtures"]  # the pg_server and ledger_factory fixtures
BACKENDS = ["memory", "sqlite", "postgresql"]
DURABLE = ["sqlite", "postgresql"]

DIM = 8

pytestmark = pytest.mark.parametrize("backend", BACKENDS)


def unit(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    return matrix / np.linalg.norm(matrix, axis=-1, keepdims=True)


def fill(ledger: Ledger, n: int, seed: int = 0, subject_every: int = 0) -> list:
    rng = np.random.default_rng(seed)
    entries = []
    for i in range(n):
        subject = f"person-{i % 3}" if subject_every and i % subject_every == 0 else None
        entries.append(
            ledger.append(
                f"label-{i % 3}",
                rng.standard_normal(DIM),
                text=f"text {i} — ünïcode" if i % 2 == 0 else None,
                provenance={"source": "correction", "actor": f"agent-{i}"},
                subject=subject,
            )
        )
    return entries


def stored_hashes(ledger: Ledger) -> list[bytes]:
    return [e.entry_hash for e in ledger]


# -- appending, reading, reopening ------------------------------------------------------------


def test_appends_read_back_identically_and_verify(backend, ledger_factory):
    ledger = ledger_factory.open()
    written = fill(ledger, 12)
    assert len(ledger) == 12 and ledger.dim == DIM
    assert ledger[0].prev_hash == GENESIS_HASH
    for entry, back in zip(written, ledger, strict=True):
        assert back.seq == entry.seq and back.entry_hash == entry.entry_hash
        assert back.label == entry.label and back.text == entry.text
        assert dict(back.provenance) == dict(entry.provenance)
        np.testing.assert_array_equal(back.vector, entry.vector)
        assert back.compute_hash() == back.entry_hash
    assert ledger[5].entry_hash == written[5].entry_hash
    assert ledger.verify(ledger.head()).ok


def test_reopening_recovers_head_dim_size_and_chains_on(backend, ledger_factory):
    ledger = ledger_factory.open()
    fill(ledger, 7)
    head, root = ledger.head(), ledger.root()
    reopened = ledger_factory.open()
    assert reopened.head() == head and reopened.dim == DIM and len(reopened) == 7
    assert reopened.root() == root
    assert reopened.nbytes == ledger.nbytes
    entry = reopened.append("next", np.ones(DIM))
    assert entry.seq == 7 and entry.prev_hash == head.entry_hash
    assert ledger_factory.open().verify(head).ok


def test_append_many_is_all_or_nothing(backend, ledger_factory):
    ledger = ledger_factory.open()
    fill(ledger, 3)
    head = ledger.head()
    vectors = np.ones((4, DIM))
    vectors[2, 1] = np.nan
    with pytest.raises(LedgerError):
        ledger.append_many(["a", "b", "c", "d"], vectors)
    with pytest.raises(LedgerError):
        ledger.append_many(["a", "b"], np.ones((2, DIM)), subjects=["x", "\udcff"])
    assert ledger.head() == head and ledger_factory.open().head() == head
    entries = ledger.append_many(["a", "b", "c"], np.ones((3, DIM)), subjects=[None, "x", "x"])
    assert [e.seq for e in entries] == [3, 4, 5]
    assert entries[1].key_id == entries[2].key_id is not None
    assert ledger_factory.open().verify().ok and len(ledger_factory.open()) == 6


GOOD = np.ones(DIM)
BAD_INPUTS = [
    pytest.param("a", np.array([1, np.nan, 0, 0, 0, 0, 0, 0]), {}, id="nan"),
    pytest.param("a", np.array([np.inf, 0, 0, 0, 0, 0, 0, 0]), {}, id="inf"),
    pytest.param("a", np.ones(DIM + 1), {}, id="wrong-dim"),
    pytest.param("", GOOD, {}, id="empty-label"),
    pytest.param("x" * (MAX_LABEL_CHARS + 1), GOOD, {}, id="long-label"),
    pytest.param("a", GOOD, {"text": "t" * (MAX_TEXT_CHARS + 1)}, id="long-text"),
    pytest.param("bad\udcff", GOOD, {}, id="non-utf8-label"),
    pytest.param("a", GOOD, {"text": "caf\udce9"}, id="non-utf8-text"),
    pytest.param("a", GOOD, {"provenance": {"actor": "\ud800"}}, id="non-utf8-provenance"),
    pytest.param("a\x00b", GOOD, {}, id="nul-label"),
    pytest.param("a", GOOD, {"text": b"bytes"}, id="bytes-text"),
    pytest.param("a", GOOD, {"subject": ""}, id="empty-subject"),
    pytest.param("a", GOOD, {"subject": "s" * 257}, id="long-subject"),
    pytest.param("a", GOOD, {"provenance": {"ocrr.key": "x"}}, id="reserved-provenance"),
    pytest.param("a", GOOD, {"kind": "erasure"}, id="hand-made-tombstone"),
]


@pytest.mark.parametrize(("label", "vector", "kwargs"), BAD_INPUTS)
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_bad_input_is_refused_clearly_and_writes_nothing(backend, ledger_factory, label,
                                                         vector, kwargs):
    ledger = ledger_factory.open()
    fill(ledger, 2)
    head = ledger.head()
    with pytest.raises(LedgerError) as err:
        ledger.append(label, vector, **kwargs)
    assert str(err.value)
    assert ledger.head() == head
    reopened = ledger_factory.open()
    assert reopened.head() == head and reopened.verify().ok
    assert ledger.append("fine", GOOD).seq == 2


# -- the substrate on a store ----------------------------------------------------------------


def test_opening_rebuilds_the_substrate_with_identical_predictions(backend, ledger_factory):
    rng = np.random.default_rng(3)
    centres = unit(rng.standard_normal((4, DIM)))
    X = unit(centres[rng.integers(0, 4, 60)] + 0.3 * rng.standard_normal((60, DIM)))
    y = [f"c{i}" for i in rng.integers(0, 4, 60)]
    live = Substrate(ledger=ledger_factory.open())
    live.fit(X[:40], y[:40])
    live.correct(X[40], "new", subject="alice")
    live.correct_many(X[41:50], y[41:50], subjects=["bob"] * 9)
    live.revoke(3, "wrong")
    queries = unit(rng.standard_normal((50, DIM)))
    reopened = Substrate(ledger=ledger_factory.open())
    assert reopened.predict_many(queries) == live.predict_many(queries)
    assert reopened.labels == live.labels
    assert not reopened.is_active(3) and reopened.is_active(40)


# -- erasure ---------------------------------------------------------------------------------


def test_erasure_shreds_the_subject_and_keeps_every_proof(backend, ledger_factory):
    ledger = ledger_factory.open()
    clf = Substrate(ledger=ledger)
    rng = np.random.default_rng(1)
    X = unit(rng.standard_normal((10, DIM)))
    clf.fit(X[:6], ["a", "b", "a", "b", "a", "b"])
    alice = clf.correct(X[6], "alice-label", subject="alice", actor="agent-1",
                        provenance={"ticket": "T-77"})
    clf.correct(X[7], "b", subject="bob")
    assert alice.readable and alice.key_id and dict(alice.provenance)["subject"] == "alice"
    stored = ledger.store[alice.seq]  # the stored form: no plaintext at all
    assert stored.text is None and stored.vector.size == 0
    assert set(stored.provenance) == {"ocrr.key", "ocrr.sealed"}
    assert "alice" not in repr(dict(stored.provenance))
    assert clf.predict_one(X[6]) == "alice-label"
    old_head = ledger.tree_head()
    old_proof = ledger.prove(alice.seq)

    tomb = clf.erase("alice", reason="gdpr request")
    assert tomb.kind == ERASURE and tomb.provenance["seqs"] == str(alice.seq)
    assert tomb.provenance["erases"] == alice.key_id and "alice" not in repr(tomb)
    assert clf.predict_one(X[6]) != "alice-label" and not clf.is_active(alice.seq)
    gone = ledger[alice.seq]
    assert not gone.readable and gone.text is None and gone.vector.size == 0
    assert gone.entry_hash == alice.entry_hash  # the hash covered the ciphertext
    # every proof still holds: the chain, the old head, inclusion, consistency
    assert ledger.verify(old_head).ok
    assert verify_inclusion(old_proof.leaf_hash, alice.seq, old_head.size, old_proof.path,
                            old_head.root_hash)
    assert ledger.prove(alice.seq).verify()
    consistency = ledger.prove_consistency(old_head.size)
    assert verify_consistency(old_head.size, len(ledger), old_head.root_hash, ledger.root(),
                              consistency.path)
    with pytest.raises(LedgerError):
        clf.erase("alice")  # already erased
    with pytest.raises(LedgerError):
        clf.revoke(alice.seq, "too late")

    reopened = Substrate(ledger=ledger_factory.open())
    assert not reopened.ledger[alice.seq].readable and not reopened.is_active(alice.seq)
    assert reopened.predict_one(X[6]) == clf.predict_one(X[6])
    assert reopened.ledger[alice.seq + 1].readable  # bob is untouched
    # the same person corrects again later: a fresh key, unaffected by the erasure
    again = reopened.correct(X[8], "alice-label", subject="alice")
    assert again.key_id != alice.key_id and reopened.predict_one(X[8]) == "alice-label"
    assert ledger_factory.open()[again.seq].readable


def test_erasing_a_revoked_example_and_rebuilding(backend, ledger_factory):
    clf = Substrate(ledger=ledger_factory.open())
    X = unit(np.random.default_rng(2).standard_normal((6, DIM)))
    clf.fit(X[:4], ["a", "b", "a", "b"])
    entry = clf.correct(X[4], "c", subject="carol")
    clf.revoke(entry.seq, "wrong label")
    clf.correct(X[5], "c", subject="carol")
    clf.erase("carol")
    assert "c" not in {clf.predict_one(x) for x in X}
    reopened = Substrate(ledger=ledger_factory.open())
    assert [reopened.predict_one(x) for x in X] == [clf.predict_one(x) for x in X]
    assert reopened.ledger.verify().ok


# -- the Merkle tree over stored entries ------------------------------------------------------


def test_tree_heads_proofs_and_consistency_across_growth(backend, ledger_factory):
    ledger = ledger_factory.open()
    fill(ledger, 5, subject_every=2)
    heads = [ledger.tree_head()]
    for extra in (1, 7, 20):
        fill(ledger, extra, seed=extra)
        heads.append(ledger.tree_head())
    reopened = ledger_factory.open()
    for head in heads:
        assert reopened.root(head.size) == head.root_hash
        assert reopened.verify(head).ok
        proof = reopened.prove_consistency(head.size)
        assert proof.verify() and proof.old_root == head.root_hash
    for seq in range(len(reopened)):
        proof = reopened.prove(seq)
        assert proof.verify() and proof.root_hash == heads[-1].root_hash
        assert verify_inclusion(proof.leaf_hash, seq, proof.tree_size, proof.path,
                                heads[-1].root_hash)


# -- several writers on one ledger ------------------------------------------------------------


def test_two_writers_share_one_chain(backend, ledger_factory):
    if backend not in DURABLE:
        pytest.skip("a memory store has one writer")
    a = Substrate(ledger=ledger_factory.open())
    b = Substrate(ledger=ledger_factory.open())
    X = unit(np.random.default_rng(5).standard_normal((12, DIM)))
    for i in range(6):
        a.correct(X[2 * i], f"a{i}")
        b.correct(X[2 * i + 1], f"b{i}", subject="shared-subject")
    assert a.ledger.verify().ok
    assert a.refresh() == 1  # b's last entry
    assert [a.predict_one(x) for x in X] == [b.predict_one(x) for x in X]
    assert a.predict_one(X[11]) == "b5" and b.predict_one(X[0]) == "a0"
    b.erase("shared-subject")  # erased through b: a drops the entries on refresh
    a.refresh()
    assert a.predict_one(X[1]) != "b0" and not a.is_active(1)
    assert len(ledger_factory.open()) == 13 and ledger_factory.open().verify().ok


def test_empty_store_head(backend, ledger_factory):
    ledger = ledger_factory.open()
    assert len(ledger) == 0 and ledger.head() == ChainHead(0, GENESIS_HASH)
    assert ledger.verify().ok and ledger.tree_head().size == 0
