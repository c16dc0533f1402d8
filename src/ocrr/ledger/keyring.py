"""Sealing and unsealing for one ledger: the subject keys it has at hand, as AES-GCM ciphers.

Why a cache: opening a sealed entry needs its subject's key, which lives in the store. The
keyring reads all live keys once when the ledger opens (one query), makes each cipher on
first use, and forgets a key the moment an erasure destroys it, so nothing read after an
erasure can be opened by this process either.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from ocrr.ledger import sealing
from ocrr.ledger.entry import NO_VECTOR, SEALED_BLOB, SEALED_KEY, Entry, Sealed, frozen_provenance
from ocrr.ledger.keys import SubjectKey
from ocrr.ledger.store import EntryStore

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class Keyring:
    """The ciphers of the subject keys a ledger may use, made on first use.

    Parameters
    ----------
    store : EntryStore
        Where the keys live; its live keys are read once, here.

    Examples
    --------
    >>> import numpy as np
    >>> from ocrr.ledger import Ledger
    >>> ledger = Ledger()
    >>> sealed = ledger.append("greeting", np.ones(3), subject="alice")
    >>> keyring = Keyring(ledger.store)
    >>> keyring.reveal(ledger.store[sealed.seq]).vector.tolist()
    [1.0, 1.0, 1.0]
    >>> keyring.forget(sealed.key_id)
    >>> _ = ledger.erase("alice")
    >>> keyring.reveal(ledger.store[sealed.seq]).readable
    False
    """

    def __init__(self, store: EntryStore) -> None:
        self._store = store
        self._ciphers: dict[str, AESGCM] = {}
        self._key_bytes = store.live_keys()  # ciphers are made on first use

    def sealing_cipher(self, key: SubjectKey) -> AESGCM:
        """The cipher to seal a new entry under ``key`` (known or just created)."""
        return self._ciphers.get(key.key_id) or sealing.cipher(key.key)

    def learn(self, keys: Iterable[SubjectKey]) -> None:
        """Keys a write has just committed."""
        for key in keys:
            self._ciphers[key.key_id] = sealing.cipher(key.key)

    def forget(self, key_id: str) -> None:
        """A destroyed key: nothing sealed under it opens from now on."""
        self._ciphers.pop(key_id, None)
        self._key_bytes.pop(key_id, None)

    def cipher(self, key_id: str) -> AESGCM | None:
        """The cipher of a live key, or None where the store no longer holds it."""
        aead = self._ciphers.get(key_id)
        if aead is not None:
            return aead
        key = self._key_bytes.pop(key_id) if key_id in self._key_bytes else self._store.key(
            key_id)
        if key is None:
            return None
        aead = self._ciphers[key_id] = sealing.cipher(key)
        return aead

    def reveal(self, entry: Entry) -> Entry:
        """A stored entry as readers want it: a sealed one opened if its key is here."""
        ciphertext = entry.provenance.get(SEALED_BLOB)
        if ciphertext is None:
            return entry
        key_id = entry.provenance.get(SEALED_KEY, "")
        aead = self.cipher(key_id)
        opened = None
        if aead is not None:
            opened = sealing.unseal(
                aead, key_id, ciphertext, seq=entry.seq, kind=entry.kind, label=entry.label
            )
        provenance: Mapping[str, str]
        if opened is None:
            vector, text, provenance = NO_VECTOR, None, {}
        else:
            vector, text, provenance = opened
        return Entry(
            entry.seq,
            entry.created_at_ns,
            entry.kind,
            entry.label,
            vector,
            text,
            frozen_provenance(provenance),
            entry.prev_hash,
            entry.entry_hash,
            Sealed(key_id, ciphertext, opened is not None),
        )
