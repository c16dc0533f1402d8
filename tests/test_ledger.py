"""The ledger: the documented hash layout, tamper detection, refused appends."""

from __future__ import annotations

import dataclasses
import hashlib
import struct
from types import MappingProxyType

import numpy as np
import pytest

from ocrr.ledger import (
    GENESIS_HASH,
    MAX_LABEL_CHARS,
    MAX_TEXT_CHARS,
    ChainHead,
    Ledger,
    LedgerError,
    MemoryStore,
)

DIM = 6


def _field(value: str | None) -> bytes:
    """docs/architecture.md: 0x00 if absent, else 0x01, 32-bit LE byte length, UTF-8."""
    if value is None:
        return b"\x00"
    data = value.encode("utf-8")
    return b"\x01" + struct.pack("<I", len(data)) + data


def documented_hash(entry) -> bytes:
    """The entry hash recomputed from docs/architecture.md alone (not from ocrr's encoder)."""
    vector = np.asarray(entry.vector, dtype=np.float32)
    parts = [
        b"OCRR-ENTRY\x01",
        struct.pack("<Q", entry.seq),
        struct.pack("<q", entry.created_at_ns),
        _field(entry.kind),
        _field(entry.label),
        struct.pack("<I", vector.shape[0]),
        b"".join(struct.pack("<f", float(v)) for v in vector),
        _field(entry.text),
        struct.pack("<I", len(entry.provenance)),
    ]
    for key in sorted(entry.provenance):
        parts += [_field(key), _field(entry.provenance[key])]
    parts.append(entry.prev_hash)
    return hashlib.sha256(b"".join(parts)).digest()


def build_ledger(n: int = 8, seed: int = 0) -> tuple[Ledger, MemoryStore]:
    rng = np.random.default_rng(seed)
    store = MemoryStore()
    ledger = Ledger(store)
    for i in range(n):
        ledger.append(
            f"label-{i % 3}",
            rng.standard_normal(DIM),
            text=f"text number {i} — ünïcode" if i % 2 == 0 else None,
            provenance={"source": "fit" if i < n // 2 else "correction", "actor": f"agent-{i}"},
        )
    return ledger, store


# -- the happy path ---------------------------------------------------------------------------


def test_entries_chain_and_hash_as_documented():
    ledger, _ = build_ledger()
    assert len(ledger) == 8
    assert ledger[0].prev_hash == GENESIS_HASH == bytes(32)
    for i, entry in enumerate(ledger):
        assert entry.seq == i
        assert entry.entry_hash == documented_hash(entry)
        assert entry.entry_hash == entry.compute_hash()
        if i:
            assert entry.prev_hash == ledger[i - 1].entry_hash
    assert ledger.head() == ChainHead(8, ledger[7].entry_hash)
    assert ledger.dim == DIM
    result = ledger.verify(ledger.head())
    assert result.ok and bool(result) and result.size == 8 and result.first_bad_seq is None


def test_append_stores_float32_readonly_copy_and_provenance():
    ledger = Ledger()
    source = np.arange(1, DIM + 1, dtype=np.float64)
    prov = {"source": "correction", "actor": "agent-7"}
    entry = ledger.append("close_account", source, text="close it", provenance=prov)
    source[0] = 99.0  # the caller's array is not the stored one
    prov["actor"] = "mallory"
    assert entry.vector.dtype == np.float32
    assert entry.vector[0] == 1.0
    assert not entry.vector.flags.writeable
    assert entry.actor == "agent-7" and entry.source == "correction"
    with pytest.raises(TypeError):
        entry.provenance["actor"] = "mallory"  # type: ignore[index]
    assert ledger.verify().ok


def test_nbytes_counts_canonical_bytes_and_hashes():
    ledger, store = build_ledger(5)
    expected = sum(len(e.canonical()) + 32 for e in ledger)
    assert ledger.nbytes == expected == sum(e.nbytes for e in ledger)
    assert ledger.nbytes > 5 * DIM * 4  # the vectors alone


def test_reopening_a_store_recovers_head_dim_and_size():
    ledger, store = build_ledger(6)
    reopened = Ledger(store)
    assert reopened.head() == ledger.head()
    assert reopened.dim == DIM
    assert reopened.nbytes == ledger.nbytes
    entry = reopened.append("next", np.ones(DIM))
    assert entry.seq == 6 and entry.prev_hash == ledger[5].entry_hash
    assert reopened.verify().ok


def test_getitem_out_of_range():
    ledger, _ = build_ledger(3)
    with pytest.raises(IndexError):
        ledger[3]
    with pytest.raises(IndexError):
        ledger[-1]


def test_provenance_order_does_not_change_the_hash():
    a = Ledger().append("x", np.ones(3), provenance={"a": "1", "b": "2"})
    b_ledger = Ledger()
    b = b_ledger.append("x", np.ones(3), provenance={"b": "2", "a": "1"})
    b = dataclasses.replace(b, created_at_ns=a.created_at_ns)
    assert b.compute_hash() == a.entry_hash


# -- tampering --------------------------------------------------------------------------------


def _mutated(entry, field: str):
    if field == "label":
        return dataclasses.replace(entry, label=entry.label + "x")
    if field == "vector":
        vector = entry.vector.copy()
        vector[-1] = np.nextafter(vector[-1], np.float32(np.inf))  # the smallest change
        return dataclasses.replace(entry, vector=vector)
    if field == "text":
        return dataclasses.replace(entry, text=(entry.text or "") + "!")
    if field == "text_removed":
        return dataclasses.replace(entry, text=None)
    if field == "provenance":
        return dataclasses.replace(
            entry, provenance=MappingProxyType({**entry.provenance, "actor": "mallory"})
        )
    if field == "provenance_added":
        return dataclasses.replace(
            entry, provenance=MappingProxyType({**entry.provenance, "note": ""})
        )
    if field == "kind":
        return dataclasses.replace(entry, kind="revocation")
    if field == "created_at":
        return dataclasses.replace(entry, created_at_ns=entry.created_at_ns + 1)
    if field == "prev_hash":
        flipped = bytes([entry.prev_hash[0] ^ 1]) + entry.prev_hash[1:]
        return dataclasses.replace(entry, prev_hash=flipped)
    if field == "entry_hash":
        flipped = entry.entry_hash[:-1] + bytes([entry.entry_hash[-1] ^ 1])
        return dataclasses.replace(entry, entry_hash=flipped)
    if field == "seq":
        return dataclasses.replace(entry, seq=entry.seq + 1)
    raise AssertionError(field)


FIELDS = [
    "label",
    "vector",
    "text",
    "text_removed",
    "provenance",
    "provenance_added",
    "kind",
    "created_at",
    "prev_hash",
    "entry_hash",
    "seq",
]


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("position", [0, 4, 7])
def test_verify_catches_a_mutated_field(field: str, position: int):
    ledger, store = build_ledger(8)
    head = ledger.head()
    assert ledger.verify(head).ok
    if field == "text_removed" and store.entries[position].text is None:
        position += 1 if position < 7 else -1
    store.entries[position] = _mutated(store.entries[position], field)
    for result in (ledger.verify(), ledger.verify(head)):
        assert not result.ok
        assert result.first_bad_seq == position, result.reason
        assert result.reason
        assert result.size == 8


@pytest.mark.parametrize("position", [0, 3, 6])
def test_verify_catches_a_deleted_entry(position: int):
    ledger, store = build_ledger(8)
    del store.entries[position]
    result = ledger.verify()
    assert not result.ok and result.first_bad_seq == position
    assert result.size == 7


def test_verify_catches_two_swapped_entries():
    ledger, store = build_ledger(8)
    store.entries[2], store.entries[5] = store.entries[5], store.entries[2]
    result = ledger.verify()
    assert not result.ok and result.first_bad_seq == 2


def test_verify_catches_adjacent_swapped_entries():
    ledger, store = build_ledger(8)
    store.entries[6], store.entries[7] = store.entries[7], store.entries[6]
    assert ledger.verify().first_bad_seq == 6


def test_verify_catches_an_inserted_copy():
    ledger, store = build_ledger(8)
    store.entries.insert(3, store.entries[1])
    result = ledger.verify()
    assert not result.ok and result.first_bad_seq == 3


def test_verify_catches_a_well_forged_insertion_at_the_next_entry():
    """A forger can append a self-consistent entry at position 3 (right seq, prev_hash and
    hash); the chain breaks at the displaced entry, which now sits at position 4."""
    ledger, store = build_ledger(8)
    prefix = MemoryStore()
    prefix.entries = list(store.entries[:3])  # the genuine prefix
    forger = Ledger(prefix)
    forged = forger.append("label-0", np.ones(DIM), provenance={"source": "forged"})
    store.entries.insert(3, forged)
    result = ledger.verify()
    assert not result.ok and result.first_bad_seq == 4


def test_truncated_tail_is_a_valid_chain_but_fails_against_the_kept_head():
    ledger, store = build_ledger(8)
    head = ledger.head()
    del store.entries[5:]
    assert ledger.verify().ok  # a shorter chain is internally consistent
    result = ledger.verify(head)
    assert not result.ok
    assert result.first_bad_seq == 5  # the first missing entry
    assert "truncated" in result.reason


def test_rewritten_tail_fails_against_the_kept_head():
    ledger, store = build_ledger(8)
    head = ledger.head()
    del store.entries[6:]
    rewriter = Ledger(store)
    rewriter.append("label-9", np.ones(DIM))
    rewriter.append("label-9", np.ones(DIM))
    assert len(ledger) == head.size and ledger.verify().ok
    result = ledger.verify(head)
    assert not result.ok and result.first_bad_seq == 7


def test_old_head_still_verifies_after_growth():
    ledger, _ = build_ledger(4)
    empty_head = ChainHead(0, GENESIS_HASH)
    head = ledger.head()
    ledger.append("later", np.ones(DIM))
    assert ledger.verify(head).ok
    assert ledger.verify(empty_head).ok
    assert Ledger().verify(empty_head).ok
    assert ledger.verify(ChainHead(4, bytes(32))).first_bad_seq == 3


# -- refused appends --------------------------------------------------------------------------

GOOD = np.ones(DIM)


@pytest.mark.parametrize(
    "label, vector, kwargs",
    [
        pytest.param("a", np.array([1, np.nan, 0, 0, 0, 0]), {}, id="nan"),
        pytest.param("a", np.array([1, np.inf, 0, 0, 0, 0]), {}, id="inf"),
        pytest.param("a", np.array([1, -np.inf, 0, 0, 0, 0]), {}, id="-inf"),
        pytest.param("a", np.full(DIM, 1e30), {}, id="norm-overflow"),
        pytest.param("a", np.ones(DIM + 1), {}, id="wrong-dim"),
        pytest.param("a", np.ones(DIM - 1), {}, id="short-dim"),
        pytest.param("a", np.ones((2, DIM)), {}, id="2-d"),
        pytest.param("a", np.ones(0), {}, id="empty-vector"),
        pytest.param("a", ["x"] * DIM, {}, id="non-numeric"),
        pytest.param("", GOOD, {}, id="empty-label"),
        pytest.param("   ", GOOD, {}, id="blank-label"),
        pytest.param("x" * (MAX_LABEL_CHARS + 1), GOOD, {}, id="long-label"),
        pytest.param(7, GOOD, {}, id="int-label"),
        pytest.param(None, GOOD, {}, id="none-label"),
        pytest.param("a", GOOD, {"text": ""}, id="empty-text"),
        pytest.param("a", GOOD, {"text": "t" * (MAX_TEXT_CHARS + 1)}, id="long-text"),
        pytest.param("a", GOOD, {"text": b"bytes"}, id="bytes-text"),
        pytest.param("a", GOOD, {"provenance": {"actor": 7}}, id="int-provenance-value"),
        pytest.param("a", GOOD, {"provenance": {"actor": None}}, id="none-provenance-value"),
        pytest.param("a", GOOD, {"provenance": {3: "x"}}, id="int-provenance-key"),
        pytest.param("a", GOOD, {"kind": ""}, id="empty-kind"),
        pytest.param("a", GOOD, {"kind": "bogus"}, id="unknown-kind"),
    ],
)
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_bad_append_raises_and_writes_nothing(label, vector, kwargs):
    ledger, store = build_ledger(3)
    head, nbytes, snapshot = ledger.head(), ledger.nbytes, list(store.entries)
    with pytest.raises(LedgerError):
        ledger.append(label, vector, **kwargs)
    assert store.entries == snapshot
    assert ledger.head() == head and ledger.nbytes == nbytes and ledger.dim == DIM
    assert ledger.verify(head).ok
    entry = ledger.append("fine", GOOD)  # the ledger carries on as if nothing happened
    assert entry.seq == 3 and entry.prev_hash == head.entry_hash
    assert ledger.verify().ok


def test_refused_first_append_does_not_fix_the_dimension():
    ledger = Ledger()
    with pytest.raises(LedgerError):
        ledger.append("a", [1.0, float("nan"), 0.0])
    with pytest.raises(LedgerError):
        ledger.append("", [1.0, 0.0, 0.0])
    assert len(ledger) == 0 and ledger.dim is None and ledger.head().entry_hash == GENESIS_HASH
    ledger.append("a", np.ones(5))
    assert ledger.dim == 5


def test_limits_are_inclusive():
    ledger = Ledger()
    entry = ledger.append(
        "l" * MAX_LABEL_CHARS, GOOD, text="t" * MAX_TEXT_CHARS, provenance={"k": ""}
    )
    assert entry.label == "l" * MAX_LABEL_CHARS and len(entry.text) == MAX_TEXT_CHARS
    assert ledger.verify().ok


def test_ledger_error_is_a_value_error():
    assert issubclass(LedgerError, ValueError)
