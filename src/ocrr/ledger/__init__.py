"""The append-only, hash-chained ledger of (embedding, label, provenance) entries, its
stores (memory, SQLite, PostgreSQL), its Merkle tree and signed tree heads, and erasure by
crypto-shredding.

In layers, each importing only those below it: entries (``entry``, ``keys``, ``sealing``);
the store protocol and stores (``store``, ``memory``, ``sqlite``, ``postgres``, ``rows``,
``location``; separate key stores in ``keystores`` and ``split``); the log
(``validation``, ``keyring``, ``log``: validate, chain, seal, append, sync); the tree
(``merkle``, ``signing``, ``tree``: heads and proofs); the audit (``audit``: verification,
proof checks); and ``ledger``, which joins them in :class:`Ledger`. ``transfer`` (export
and import) and ``move`` (a ledger moved to another encoder: :func:`reencode`,
:func:`verify_move`) sit on top."""

from ocrr.ledger.entry import GENESIS_HASH, Entry, Provenance
from ocrr.ledger.ledger import (
    ENTRY_KINDS,
    ERASURE,
    EXAMPLE,
    MAX_LABEL_CHARS,
    MAX_TEXT_CHARS,
    RELABEL,
    RETIRE,
    REVOCATION,
    SETTING,
    ChainHead,
    EntryStore,
    Ledger,
    LedgerError,
    MemoryStore,
    Verification,
)
from ocrr.ledger.merkle import ConsistencyProof, InclusionProof
from ocrr.ledger.move import MoveCheck, MoveReport, reencode, verify_move
from ocrr.ledger.signing import SignedTreeHead, TreeHead
from ocrr.ledger.store import CorruptLedgerError, DurableStore

__all__ = [
    "ENTRY_KINDS",
    "ERASURE",
    "EXAMPLE",
    "GENESIS_HASH",
    "MAX_LABEL_CHARS",
    "MAX_TEXT_CHARS",
    "ChainHead",
    "ConsistencyProof",
    "CorruptLedgerError",
    "DurableStore",
    "Entry",
    "EntryStore",
    "InclusionProof",
    "Ledger",
    "LedgerError",
    "MemoryStore",
    "MoveCheck",
    "MoveReport",
    "Provenance",
    "RELABEL",
    "RETIRE",
    "SETTING",
    "REVOCATION",
    "SignedTreeHead",
    "TreeHead",
    "Verification",
    "reencode",
    "verify_move",
]
