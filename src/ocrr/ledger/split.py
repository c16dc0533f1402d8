"""A ledger whose subject keys live in a separate key store (another file or database).

Why: an operator can then back up, withhold or destroy the keys without touching the
audited entries. The price is that no database commits atomically across the two, so every
write is ordered to leave a safe, auditable state at each crash point:

- sealing: the new subject keys are committed in the key store *first*, inside the
  entries' write lock, then the entries. A crash between the two leaves an orphan key that
  no entry names: harmless (no entry is unreadable; the subject's next entry reuses it, and
  erasing the subject destroys it);
- erasure: the tombstone entry is committed in the ledger *first*, then the key is
  destroyed. A crash between the two leaves a key whose subject has a tombstone: the next
  open destroys it (finishing the erasure) and logs it (:attr:`SplitStore.finished`). The
  same happens to keys resurrected by restoring an older key backup;
- a key gone without a tombstone is the tamper case :func:`~ocrr.ledger.integrity.key_problems`
  reports, as for keys kept beside the entries.

Binding: the first open with a separate key store records a random id in the ledger's
``meta`` (``keys``) and in the key store. After that a missing key store is refused, never
made anew (:class:`~ocrr.errors.LedgerMissingError` names it), a key store bound to another
ledger is refused (a swapped file), and so is opening the ledger without its key store
(:func:`refuse_if_split`; read-only forensics may).

A narrow race, by design: another process sealing an entry about a subject in the instant
between an erasure's tombstone and its key's destruction seals it under the erased key, so
that entry is erased too (verify stays clean: the tombstone names the key).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterator

from ocrr.errors import LedgerIntegrityError
from ocrr.ledger.entry import ERASURE, Entry
from ocrr.ledger.head import StoredHead
from ocrr.ledger.keys import KeyStore, KeyStoreError, SubjectKey
from ocrr.ledger.store import (
    Batch,
    CorruptRow,
    EntryStore,
    Link,
    OverEntries,
    Run,
    Tip,
    WriteView,
    extending,
)

KEYS_META = "keys"
"""The ``meta`` name under which a ledger records the id its separate key store carries."""
log = logging.getLogger("ocrr.ledger")


def _where(store: EntryStore) -> str:
    path = getattr(store, "path", None)
    return str(path) if path is not None else repr(store)


def binding(store: EntryStore) -> str | None:
    """The id of the separate key store ``store``'s keys are bound to (None: kept beside)."""
    return store.meta_value(KEYS_META)


def refuse_if_split(store: EntryStore) -> None:
    """Refuse (and close) a ledger whose keys are kept apart, opened without them."""
    if binding(store) is not None:
        store.close()
        raise KeyStoreError(f"ledger {_where(store)} keeps its subject keys in a separate key "
                            "store: open it with keys=... (ocrr: --keys PATH; the server: "
                            "--keys-dir DIR), or read_only=True for forensics")


class _KeyView:
    """A write's view with subject keys found in the key store."""

    __slots__ = ("_keys", "_view", "dim", "tip")

    def __init__(self, view: WriteView, keys: KeyStore) -> None:
        self._view, self._keys = view, keys
        self.tip: Tip = view.tip
        self.dim: int | None = view.dim

    def find_key(self, subject: str) -> SubjectKey | None:
        return self._keys.find(subject)

    def seqs_for_key(self, key_id: str) -> list[int]:
        return self._view.seqs_for_key(key_id)


class SplitStore(OverEntries):
    """An entry store with its subject keys in a separate :class:`~ocrr.ledger.keys.KeyStore`.

    Parameters
    ----------
    entries : EntryStore
        Where the entries live (its own key table stays empty).
    keys : KeyStore
        Where the subject keys live; bound to this ledger on first use.
    read_only : bool
        Bind nothing and destroy nothing at open (forensics).

    Examples
    --------
    >>> import numpy as np
    >>> from ocrr.ledger import Ledger, MemoryStore
    >>> from ocrr.ledger.keys import MemoryKeys
    >>> keys = MemoryKeys()
    >>> ledger = Ledger(SplitStore(MemoryStore(), keys))
    >>> sealed = ledger.append("greeting", np.ones(3), text="hi", subject="alice")
    >>> list(keys.live()) == [sealed.key_id] and len(ledger.store.entries.subject_keys)
    0
    >>> _ = ledger.erase("alice")
    >>> len(keys.live()), ledger[0].readable, ledger.verify().ok
    (0, False, True)
    """

    def __init__(self, entries: EntryStore, keys: KeyStore, *, read_only: bool = False) -> None:
        self.entries: EntryStore = entries
        self.keys = keys
        self.shared, self.numbered = entries.shared, entries.numbered
        self.durable = entries.durable
        self.path = getattr(entries, "path", None)
        self.signer = getattr(entries, "signer", None)
        self.finished: list[str] = []
        """Key ids destroyed at open because a tombstone names them (an interrupted erasure,
        or an older key backup restored)."""
        try:
            self._bind(read_only)
            if not read_only:
                self._finish_erasures()
        except BaseException:
            keys.close()
            raise

    def _bind(self, read_only: bool) -> None:
        bound, theirs = binding(self.entries), self.keys.ledger_id()
        if bound is None:
            own = self.entries.live_keys()
            if own:
                raise KeyStoreError(f"ledger {_where(self.entries)} keeps {len(own)} subject "
                                    "keys in its own file: open it without a separate key "
                                    "store")
            if theirs is not None:
                raise LedgerIntegrityError(_where(self.entries), None, f"the key store "
                                           f"{self.keys.where} belongs to another ledger")
            if not read_only:  # the ledger first: a crash after it leaves an empty,
                bound = secrets.token_hex(16)  # unbound key store, adopted below next time
                self.entries.set_meta(KEYS_META, bound)
                self.keys.bind(bound)
            return
        if theirs is None and not self.keys.live():
            if not read_only:
                self.keys.bind(bound)
            return
        if theirs != bound:
            raise LedgerIntegrityError(_where(self.entries), None, f"the key store "
                                       f"{self.keys.where} belongs to another ledger (id "
                                       f"{theirs}, this ledger's keys are {bound}): it was "
                                       "swapped or misnamed; restore this ledger's own")

    def _finish_erasures(self) -> None:
        erased = {t.provenance.get("erases", "") for t in self.entries.of_kind(ERASURE)
                  if isinstance(t, Entry)}
        stale = sorted(erased.intersection(self.keys.live()))
        if stale:
            self.keys.destroy_many(stale)
            self.finished = stale
            log.warning("ledger %s: destroyed %d subject key(s) whose erasure entries were "
                        "already written (an interrupted erase, or an older key backup "
                        "restored): %s", _where(self.entries), len(stale), ", ".join(stale))

    # -- writing: keys first when sealing, tombstone first when erasing --------------------
    def write(self, prepare: Callable[[WriteView], Batch]) -> Batch:
        made: list[Batch] = []

        def entries_only(view: WriteView) -> Batch:
            batch = prepare(_KeyView(view, self.keys))
            made.append(batch)
            if batch.new_keys:
                self.keys.put_many(batch.new_keys)  # committed before the entries
            return Batch(batch.entries, dim=batch.dim, imported=batch.imported)

        self.entries.write(entries_only)
        batch = made[-1]
        if batch.destroyed:
            self.keys.destroy_many(batch.destroyed)  # after the tombstone is committed
        return batch

    def append(self, entry: Entry) -> None:
        self.write(extending(entry))

    # -- keys from the key store -----------------------------------------------------------
    def key(self, key_id: str) -> bytes | None:
        return self.keys.get(key_id)

    def live_keys(self) -> dict[str, bytes]:
        return self.keys.live()

    def export_keys(self) -> list[SubjectKey]:
        return self.keys.export()

    # -- everything else from the entries --------------------------------------------------
    def tip(self) -> Tip:
        return self.entries.tip()

    def dim(self) -> int | None:
        return self.entries.dim()

    def read(self, start: int = 0, stop: int | None = None) -> Iterator[Entry | CorruptRow]:
        return self.entries.read(start, stop)

    def rows(self) -> Iterator[Entry | CorruptRow]:
        return self.entries.rows()

    def hashes(self, start: int, stop: int) -> list[bytes]:
        return self.entries.hashes(start, stop)

    def meta_value(self, name: str) -> str | None:
        return self.entries.meta_value(name)

    def set_meta(self, name: str, value: str) -> None:
        self.entries.set_meta(name, value)

    def head_record(self) -> StoredHead | None:
        return self.entries.head_record()

    def links(self) -> Iterator[list[Link] | Run]:
        return self.entries.links()

    def sealed_key_ids(self) -> dict[str, int]:
        return self.entries.sealed_key_ids()

    def of_kind(self, kind: str) -> list[Entry | CorruptRow]:
        return self.entries.of_kind(kind)

    def mark_checked(self, size: int) -> None:
        self.entries.mark_checked(size)

    def put_head(self, head: StoredHead) -> None:
        self.entries.put_head(head)

    def close(self) -> None:
        try:
            self.entries.close()
        finally:
            self.keys.close()

    def __repr__(self) -> str:
        return f"SplitStore({self.entries!r}, keys={self.keys!r})"
