"""Per-subject encryption keys: what crypto-shredding destroys.

Why keys per subject: a ledger is append-only and its hashes cover every stored byte, so a
person's data cannot be deleted from it without breaking every proof after it. Instead, an
entry about a person (its *subject*) is stored encrypted under that person's own key; erasing
the person destroys the key. The ciphertext stays, the hashes over it still verify, and
nothing can read it again.

The ledger itself stores only ``key_id``, a random 128-bit name, never the subject: after
erasure nothing in the ledger links the remaining ciphertext to the person. The subject ↔ key
mapping lives in the key store: by default a table beside the entries (for SQLite and
PostgreSQL, so a key's creation and destruction commit atomically with the entries that use
it), or, optionally, a separate :class:`KeyStore` (another file or database: one protocol,
implemented here in memory and in :mod:`ocrr.ledger.keystores` on SQLite and PostgreSQL;
:mod:`ocrr.ledger.split` orders writes across the two).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

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


class KeyStoreError(ValueError):
    """A key store that cannot serve this ledger: the place named holds no OCRR key store,
    or the ledger keeps its keys in its own file. The message says which and what to do."""


@runtime_checkable
class KeyStore(Protocol):
    """Subject keys kept apart from a ledger's entries: the one protocol of the in-memory,
    SQLite and PostgreSQL key stores.

    Each call that changes keys commits before it returns (the split store orders these
    commits around the entries' own, see :mod:`ocrr.ledger.split`). ``ledger_id`` binds a
    key store to one ledger, so a key file swapped for another ledger's is refused at open.

    Examples
    --------
    >>> keys = MemoryKeys()
    >>> isinstance(keys, KeyStore)
    True
    >>> alice = SubjectKey.new("alice")
    >>> keys.put_many([alice])
    >>> keys.find("alice") == alice and keys.live() == {alice.key_id: alice.key}
    True
    >>> keys.destroy_many([alice.key_id])
    >>> len(keys.live())
    0
    """

    where: str
    """The key store's name in messages: a file path, or a database and schema."""

    def find(self, subject: str) -> SubjectKey | None: ...
    def get(self, key_id: str) -> bytes | None: ...
    def put_many(self, keys: Sequence[SubjectKey]) -> None:
        """Store new keys, committed when it returns."""
        ...

    def destroy_many(self, key_ids: Iterable[str]) -> None:
        """Destroy keys (overwritten, then deleted), committed when it returns."""
        ...

    def live(self) -> dict[str, bytes]: ...
    def export(self) -> list[SubjectKey]: ...
    def ledger_id(self) -> str | None:
        """The id of the ledger this key store belongs to (None: not bound yet)."""
        ...

    def bind(self, ledger_id: str) -> None:
        """Record the ledger this key store belongs to (once)."""
        ...

    def close(self) -> None: ...


class MemoryKeys:
    """Subject keys in two dicts: the memory store's own keys, or a :class:`KeyStore` apart
    from the entries (one process: nothing to commit).

    Examples
    --------
    >>> keys = MemoryKeys()
    >>> keys.put(SubjectKey.new("alice"))
    >>> keys.find("alice").subject, len(keys)
    ('alice', 1)
    """

    where = "memory"

    def __init__(self) -> None:
        self._by_subject: dict[str, SubjectKey] = {}
        self._by_id: dict[str, SubjectKey] = {}
        self._ledger_id: str | None = None

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

    def put_many(self, keys: Sequence[SubjectKey]) -> None:
        for key in keys:
            self.put(key)

    def destroy_many(self, key_ids: Iterable[str]) -> None:
        for key_id in key_ids:
            self.destroy(key_id)

    def live(self) -> dict[str, bytes]:
        return {key.key_id: key.key for key in self._by_id.values()}

    def export(self) -> list[SubjectKey]:
        return sorted(self._by_id.values(), key=lambda k: k.key_id)

    def ledger_id(self) -> str | None:
        return self._ledger_id

    def bind(self, ledger_id: str) -> None:
        self._ledger_id = ledger_id

    def close(self) -> None:
        """Nothing to release."""

    def __iter__(self) -> Iterator[SubjectKey]:
        return iter(list(self._by_id.values()))

    def __len__(self) -> int:
        return len(self._by_id)
