"""The append-only, hash-chained ledger of (embedding, label, provenance) entries."""

from ocrr.ledger.entry import GENESIS_HASH, Entry
from ocrr.ledger.ledger import (
    EXAMPLE,
    MAX_LABEL_CHARS,
    MAX_TEXT_CHARS,
    ChainHead,
    EntryStore,
    Ledger,
    LedgerError,
    MemoryStore,
    Verification,
)

__all__ = [
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
    "Verification",
]
