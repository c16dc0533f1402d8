"""The append-only, hash-chained ledger of (embedding, label, provenance) entries."""

from ocrr.ledger.entry import GENESIS_HASH, Entry
from ocrr.ledger.ledger import (
    ENTRY_KINDS,
    EXAMPLE,
    MAX_LABEL_CHARS,
    MAX_TEXT_CHARS,
    REVOCATION,
    ChainHead,
    EntryStore,
    Ledger,
    LedgerError,
    MemoryStore,
    Verification,
)

__all__ = [
    "ENTRY_KINDS",
    "EXAMPLE",
    "GENESIS_HASH",
    "MAX_LABEL_CHARS",
    "MAX_TEXT_CHARS",
    "ChainHead",
    "Entry",
    "EntryStore",
    "Ledger",
    "LedgerError",
    "MemoryStore",
    "REVOCATION",
    "Verification",
]
