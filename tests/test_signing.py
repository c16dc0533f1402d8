"""Signed tree heads: an auditor holding a head and the operator's public key can check it
later, and a rewritten ledger cannot produce a consistency proof to it."""

from __future__ import annotations

import dataclasses
import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest

from ocrr.ledger import Ledger, MemoryStore
from ocrr.ledger.signing import (
    TREE_HEAD_TAG,
    SignatureError,
    SignedTreeHead,
    TreeHead,
    generate_key,
    head_from_dict,
    load_head,
    load_private_key,
    load_public_key,
    save_key_pair,
    sign_head,
)


def _ledger(n: int = 9) -> Ledger:
    ledger = Ledger()
    rng = np.random.default_rng(0)
    for i in range(n):
        ledger.append(f"l{i % 2}", rng.standard_normal(4))
    return ledger


def test_signed_bytes_are_the_documented_layout():
    head = TreeHead(9, bytes(range(32)), 1_700_000_000_123_456_789)
    assert head.signed_bytes() == (
        b"OCRR-TREE-HEAD\x01" + struct.pack("<Qq", 9, 1_700_000_000_123_456_789)
        + bytes(range(32))
    )
    assert TREE_HEAD_TAG == b"OCRR-TREE-HEAD\x01"


def test_a_signed_head_verifies_under_its_key_only():
    key, other = generate_key(), generate_key()
    signed = _ledger().signed_tree_head(key)
    assert signed.verify(key.public_key()) and signed.verify(signed.public_key)
    assert not signed.verify(other.public_key())
    for change in ({"size": 8}, {"timestamp_ns": signed.head.timestamp_ns + 1},
                   {"root_hash": bytes(32)}):
        forged = SignedTreeHead(dataclasses.replace(signed.head, **change), signed.signature,
                                signed.public_key)
        assert not forged.verify(key.public_key())
    bad_signature = bytes([signed.signature[0] ^ 1]) + signed.signature[1:]
    assert not SignedTreeHead(signed.head, bad_signature, signed.public_key).verify(
        key.public_key())
    assert not SignedTreeHead(signed.head, b"short", signed.public_key).verify(
        key.public_key())


def test_heads_round_trip_through_json():
    key = generate_key()
    ledger = _ledger()
    signed = ledger.signed_tree_head(key)
    back = head_from_dict(json.loads(json.dumps(signed.to_dict())))
    assert back == signed and back.verify(key.public_key())
    plain = ledger.tree_head()
    assert head_from_dict(json.loads(json.dumps(plain.to_dict()))) == plain
    with pytest.raises(ValueError):
        TreeHead.from_dict({"size": 1, "root_hash": "00", "timestamp_ns": 0})


def test_key_files(tmp_path: Path):
    key = generate_key()
    key_path, pub_path = save_key_pair(key, tmp_path / "operator")
    assert os.stat(key_path).st_mode & 0o777 == 0o600
    signed = sign_head(_ledger().tree_head(), load_private_key(key_path))
    assert signed.verify(load_public_key(pub_path))
    raw = tmp_path / "raw.hex"
    raw.write_text(signed.public_key.hex())
    assert signed.verify(load_public_key(raw))
    (tmp_path / "junk.pub").write_text("not a key")
    with pytest.raises(SignatureError):
        load_public_key(tmp_path / "junk.pub")
    with pytest.raises(FileExistsError):  # never overwrite a private key
        save_key_pair(key, tmp_path / "operator")
    head_file = tmp_path / "head.json"
    head_file.write_text(json.dumps(signed.to_dict()))
    assert load_head(head_file) == signed


def test_a_kept_signed_head_exposes_a_rewritten_history():
    key = generate_key()
    store = MemoryStore()
    ledger = Ledger(store)
    rng = np.random.default_rng(1)
    for i in range(10):
        ledger.append(f"l{i}", rng.standard_normal(4))
    kept = ledger.signed_tree_head(key)
    ledger.append("later", rng.standard_normal(4))
    assert ledger.verify(kept).ok and ledger.prove_consistency(kept.head.size).verify()

    # the operator rewrites entry 6 onwards (a perfectly valid chain of its own)
    del store.entries[6:]
    rewriter = Ledger(store)
    for i in range(6):
        rewriter.append(f"rewritten-{i}", rng.standard_normal(4))
    assert rewriter.verify().ok  # internally consistent...
    result = rewriter.verify(kept)  # ...but not with the head the auditor kept
    assert not result.ok and "rewritten" in result.reason
    proof = rewriter.prove_consistency(kept.head.size)
    assert proof.old_root != kept.head.root_hash
    assert not dataclasses.replace(proof, old_root=kept.head.root_hash).verify()
