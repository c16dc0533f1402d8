"""Per-subject encryption keys: what crypto-shredding destroys.

Why keys per subject: a ledger is append-only and its hashes cover every stored byte, so a
person's data cannot be deleted from it without breaking every proof after it. Instead, an
entry about a person (its *subject*) is stored encrypted under that person's own key; erasing
the person destroys the key. The ciphertext stays, the hashes over it still verify, and
nothing can read it again.

The ledger itself stores only ``key_id``, a random 128-bit name, never the subject: after
erasure nothing in the ledger links the remaining ciphertext to the person. The subject ↔ key
mapping lives in the key store (for SQLite and PostgreSQL, a table beside the entries, so a
key's creation and destruction commit atomically with the entries that use it).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field

KEY_BYTES = 32  # AES-256
MAX_SUBJECT_CHARS = 256


@dataclass(frozen=True)
class SubjectKey:
    key_id: str
    """32 hex digits, random: the only thing entries record about their subject."""
    subject: str
    key: bytes = field(repr=False)

    @classmethod
    def new(cls, subject: str) -> SubjectKey:
        return cls(secrets.token_hex(16), subject, secrets.token_bytes(KEY_BYTES))


class MemoryKeys:
    """Subject keys in two dicts (the in-memory store's key store)."""

    def __init__(self) -> None:
        self._by_subject: dict[str, SubjectKey] = {}
        self._by_id: dict[str, SubjectKey] = {}

    def find(self, subject: str) -> SubjectKey | None:
        return self._by_subject.get(subject)

    def get(self, key_id: str) -> bytes | None:
        found = self._by_id.get(key_id)
        return None if found is None else found.key

    def put(self, key: SubjectKey) -> None:
        self._by_subject[key.subject] = key
        self._by_id[key.key_id] = key

    def destroy(self, key_id: str) -> None:
        found = self._by_id.pop(key_id, None)
        if found is not None:
            del self._by_subject[found.subject]

    def __iter__(self) -> Iterator[SubjectKey]:
        return iter(list(self._by_id.values()))

    def __len__(self) -> int:
        return len(self._by_id)
