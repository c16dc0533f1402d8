"""A namespace's lifecycle operations: fit examples arriving in chunks, predictions as of a
past ledger size, the changes between two sizes, relabels, retirements and the vote rule.

Mixed into :class:`~ocrr.server.namespace.Namespace` (which holds the substrate and its
lock), so the routes and the local client share them; no web framework here.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ocrr.ledger import Entry, LedgerError
from ocrr.server.errors import Conflict, InvalidRequest, NotFound
from ocrr.server.lifecycle_schemas import (
    ChangesOut,
    UploadReceipt,
    UploadStatus,
    VoteSettingOut,
)
from ocrr.server.schemas import KeptHead, Prediction, Receipt
from ocrr.server.uploads import CHUNK_KEY, UPLOAD_KEY, ChunkIndex

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ocrr.substrate import Substrate

PAST_CACHE = 4
"""Classifiers rebuilt for ``as_of`` kept per namespace (the latest asked for)."""


KEY_ID = "api_key_id"
"""The provenance key naming the API key that wrote an entry through the service: set by
the server from the authenticated key (the client cannot choose it), beside the ``actor``
the client names."""


def by_key(key_id: str | None) -> dict[str, str] | None:
    """The provenance an entry written by the key ``key_id`` carries (None: no key, a
    local client)."""
    return None if key_id is None else {KEY_ID: key_id}


def receipt(entry: Entry, size: int, new_label: bool | None = None) -> Receipt:
    """The answer for an entry the ledger accepted (``size``: the ledger's size now)."""
    return Receipt(seq=entry.seq, kind=entry.kind, label=entry.label,
                   entry_hash=entry.entry_hash.hex(), created_at_ns=entry.created_at_ns,
                   ledger_size=size, new_label=new_label)


class Lifecycle:
    """What :class:`~ocrr.server.namespace.Namespace` gains: uploads, the past, taxonomy
    changes and settings (needs its ``substrate``, ``_lock``, ``_catch_up``, ``_explain``)."""

    substrate: Substrate
    signing_key: Ed25519PrivateKey | None
    _lock: threading.Lock
    _catch_up: Callable[..., None]
    _explain: Callable[[Any], Prediction]
    _encoder: Callable[[], Any]

    def _lifecycle(self) -> tuple[ChunkIndex, OrderedDict[int, Substrate]]:
        if not hasattr(self, "_chunks"):
            self._chunks = ChunkIndex()
            self._past: OrderedDict[int, Substrate] = OrderedDict()
        return self._chunks, self._past

    # -- fit examples ----------------------------------------------------------------------
    def _chunk_index(self) -> ChunkIndex:
        """The chunk markers, brought up to date with the ledger (caller holds the lock)."""
        chunks, _ = self._lifecycle()
        ledger = self.substrate.ledger
        if chunks.scanned < len(ledger):
            chunks.take(ledger.store.read(chunks.scanned, len(ledger)))
        return chunks

    def fit_examples(
        self, texts: Sequence[str], labels: Sequence[str], *, upload: str | None = None,
        chunk: int | None = None, actor: str | None = None, vectors: np.ndarray | None = None,
        key_id: str | None = None,
    ) -> UploadReceipt:
        """Append labelled texts as fit examples (provenance ``fit``: the hybrid rule's seed
        head trains on them, as ``Substrate.partial_fit``) in one transaction. With
        ``upload`` and ``chunk``, a chunk the ledger already holds adds nothing."""
        if upload is not None and chunk is None:
            chunk = 0  # an upload of one chunk
        if upload is None:
            chunk = None  # a chunk number means something only within an upload
        if len(texts) != len(labels) or not texts:
            raise InvalidRequest(f"{len(texts)} texts and {len(labels)} labels: need the same "
                                 "number, at least one")
        remember = getattr(self.substrate.encoder, "remember", None)
        if vectors is not None and remember is not None:
            remember(texts, vectors)
        prov: dict[str, str] = {} if actor is None else {"actor": actor}
        prov.update(by_key(key_id) or {})
        with self._lock:
            self._catch_up(force=True)
            ledger = self.substrate.ledger
            if upload is not None and chunk is not None:
                found = self._chunk_index().find(upload, chunk)
                if found is not None:
                    return UploadReceipt(
                        upload=upload, chunk=chunk, rows=found.rows, first_seq=found.first_seq,
                        last_seq=found.first_seq + found.rows - 1, duplicate=True,
                        ledger_size=len(ledger), upload_rows=self._chunk_index().rows(upload))
                prov.update({UPLOAD_KEY: upload, CHUNK_KEY: str(chunk)})
            try:  # the texts' vectors come from the memo when the server encoded them
                self.substrate.partial_fit(list(texts), list(labels), provenance=prov)
            except (LedgerError, ValueError) as err:
                raise InvalidRequest(str(err)) from None
            size = len(ledger)
            first = size - len(texts)  # a foreign append is absorbed before ours
            chunks = self._lifecycle()[0]
            chunks.record(upload, chunk, first, len(texts))
            rows = None if upload is None else self._chunk_index().rows(upload)
        return UploadReceipt(upload=upload, chunk=chunk, rows=len(texts), first_seq=first,
                             last_seq=size - 1, duplicate=False, ledger_size=size,
                             upload_rows=rows)

    def upload_status(self, upload: str) -> UploadStatus:
        with self._lock:
            self._catch_up(force=True)
            chunks = self._chunk_index()
            size = len(self.substrate.ledger)
        got = chunks.uploads.get(upload)
        if not got:
            raise NotFound(f"no chunk of upload {upload!r} in this namespace's ledger")
        firsts = [r.first_seq for r in got.values()]
        lasts = [r.first_seq + r.rows - 1 for r in got.values()]
        return UploadStatus(upload=upload, chunks=sorted(got), rows=chunks.rows(upload),
                            first_seq=min(firsts), last_seq=max(lasts), ledger_size=size)

    # -- the past --------------------------------------------------------------------------
    def size_of(self, as_of: int | KeptHead) -> int:
        """The ledger size ``as_of`` names: a size, or a tree head kept earlier whose root
        must be this ledger's root at that size (a signed head's signature is checked)."""
        size = as_of if isinstance(as_of, int) else as_of.size
        with self._lock:
            self._catch_up()
            ledger = self.substrate.ledger
            if size > len(ledger):
                raise NotFound(f"as_of {size}: the ledger holds {len(ledger)} entries")
            if isinstance(as_of, KeptHead):
                if ledger.root(size).hex() != as_of.root_hash:
                    raise Conflict(f"the tree head of size {size} does not match this "
                                   "ledger's root at that size: not a head of this ledger")
                if as_of.signature is not None:
                    _check_signature(as_of, self.signing_key)
        return size

    def _as_of(self, size: int) -> Substrate:
        """The classifier at ``size`` (caller holds the lock), rebuilt or from the cache."""
        _, past = self._lifecycle()
        found = past.get(size)
        if found is None:
            found = self.substrate.as_of(size)
            past[size] = found
            while len(past) > PAST_CACHE:
                past.popitem(last=False)
        past.move_to_end(size)
        return found

    def predict_as_of(self, vectors: np.ndarray, size: int) -> list[Prediction]:
        """Answers (with their neighbours) of the classifier when the ledger had ``size``
        entries; not counted as predictions, not queued for review."""
        from ocrr.errors import NotFittedError
        from ocrr.substrate import Prediction as Answer

        with self._lock:
            then = self._as_of(size)
            out = []
            for vector in vectors:
                try:
                    answer = then.predict(vector)
                except NotFittedError:
                    answer = Answer(None, ())
                out.append(self._explain(answer))
        return out

    def predict_texts_as_of(self, texts: Sequence[str],
                            as_of: int | KeptHead) -> list[Prediction]:
        """Encode ``texts`` and answer as of ``as_of`` (the local client's path)."""
        size = self.size_of(as_of)
        return self.predict_as_of(self._encoder().encode(list(texts)), size)

    def changes(self, start: int, stop: int | None = None) -> ChangesOut:
        from ocrr.substrate.history import changes

        with self._lock:
            self._catch_up()
            try:
                found = changes(self.substrate.ledger, start, stop)
            except LedgerError as err:  # sizes the ledger does not have (yet)
                raise NotFound(str(err)) from None
        return ChangesOut.model_validate(found.to_dict())

    # -- taxonomy and settings -------------------------------------------------------------
    def relabel(self, old: str, new: str, *, reason: str | None = None,
                actor: str | None = None, key_id: str | None = None) -> Receipt:
        return self._class_change(lambda s: s.relabel(old, new, reason=reason, actor=actor,
                                                      provenance=by_key(key_id)), old)

    def retire(self, label: str, *, reason: str | None = None,
               actor: str | None = None, key_id: str | None = None) -> Receipt:
        return self._class_change(lambda s: s.retire(label, reason=reason, actor=actor,
                                                     provenance=by_key(key_id)), label)

    def _class_change(self, change: Callable[[Substrate], Any], label: str) -> Receipt:
        with self._lock:
            self._catch_up(force=True)
            if label not in self.substrate.labels:
                raise NotFound(f"no class {label!r} in this namespace; classes: "
                               f"{', '.join(self.substrate.labels[:20]) or '(none)'}")
            try:
                entry = change(self.substrate)
            except LedgerError as err:
                raise Conflict(str(err)) from None
            return receipt(entry, len(self.substrate.ledger))

    def vote_setting(self) -> VoteSettingOut:
        with self._lock:
            self._catch_up()
            rule, seq = self.substrate.rule, self.substrate.vote_seq
        params: dict[str, Any] = (
            dataclasses.asdict(rule) if dataclasses.is_dataclass(rule) else {})
        params.pop("rule", None)
        return VoteSettingOut(rule=rule.name, params=params, seq=seq)

    def set_vote(self, rule: str, params: dict[str, Any], *,
                 actor: str | None = None, key_id: str | None = None) -> Receipt:
        with self._lock:
            self._catch_up(force=True)
            try:
                entry = self.substrate.set_vote(rule, actor=actor, provenance=by_key(key_id),
                                                **params)
            except (TypeError, ValueError, LedgerError) as err:
                raise InvalidRequest(str(err)) from None
            self._lifecycle()[1].clear()
            return receipt(entry, len(self.substrate.ledger))


def _check_signature(head: KeptHead, signing_key: Ed25519PrivateKey | None) -> None:
    """A signed head must verify under this server's key (or, where the server signs
    nothing, under the key the head names)."""
    from ocrr.ledger.signing import SignedTreeHead, head_from_dict

    data = head.model_dump(exclude_none=True)
    data.setdefault("timestamp_ns", 0)
    try:
        signed = head_from_dict(data)
    except (ValueError, KeyError, TypeError) as err:  # not a signature of this head
        raise Conflict(f"the tree head's signature cannot be checked: {err}") from None
    assert isinstance(signed, SignedTreeHead)
    trusted = (signed.public_key if signing_key is None
               else signing_key.public_key())
    if not signed.verify(trusted):
        raise Conflict("the tree head's signature does not verify under this server's key")
