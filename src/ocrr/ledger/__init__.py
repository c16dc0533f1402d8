"""The append-only, hash-chained ledger of (embedding, label, provenance) entries, its
stores (memory, SQLite, PostgreSQL), its Merkle tree and signed tree heads, and erasure by
crypto-shredding."""

from ocrr.ledger.entry import GENESIS_HASH, Entry
from ocrr.ledger.ledger import (
    ENTRY_KINDS,
    ERASURE,
    EXAMPLE,
    MAX_LABEL_CHARS,
    MAX_TEXT_CHARS,
    RELABEL,
    RETIRE,
    REVOCATION,
    ChainHead,
    EntryStore,
    Ledger,
    LedgerError,
    MemoryStore,
    Verification,
)
from ocrr.ledger.merkle import ConsistencyProof, InclusionProof
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
    "RELABEL",
    "RETIRE",
    "REVOCATION",
    "SignedTreeHead",
    "TreeHead",
    "Verification",
]
