"""One tenant's classifier: a substrate on its own ledger, behind one lock, as a service.

Why a class between the HTTP routes and the substrate: ``Substrate`` and ``Ledger`` are not
thread-safe, and a server answers many requests at once; here every use of a namespace's
substrate holds its lock (encoding, the expensive part, happens before, outside it). The
same class is the local backend of :mod:`ocrr.client`, so a chatbot gets the same answers,
explanations and errors in-process as over HTTP. It imports no web framework.

Several processes may share one ledger (replicas on PostgreSQL, or on one SQLite file):
before answering, a namespace picks up what others appended (at most ``refresh_interval``
seconds old), so a correction accepted by one replica is used by the others within that.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ocrr.errors import NotFittedError
from ocrr.ledger import ERASURE, EXAMPLE, Entry, Ledger, LedgerError, TreeHead
from ocrr.ledger.merkle import ConsistencyProof, InclusionProof, ProofError
from ocrr.server.errors import Conflict, InvalidRequest, NotFound
from ocrr.server.lifecycle import Lifecycle, by_key
from ocrr.server.lifecycle import receipt as _receipt
from ocrr.server.schemas import (
    UNKNOWN,
    ConsistencyProofOut,
    CorrectionItem,
    EntryOut,
    EntryPage,
    InclusionProofOut,
    Prediction,
    Receipt,
    StatsOut,
    TreeHeadOut,
    VerificationOut,
)
from ocrr.server.tracking import RecentOutcomes

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ocrr.substrate import Substrate, Suspect

PREDICT_CHUNK = 8
"""Predictions made per hold of a namespace's lock in a batch."""
_META_CACHE = 50_000  # neighbours' (actor, source, time): immutable, so cached by seq


class Namespace(Lifecycle):
    """A substrate, its lock, its abstention threshold and its process-local counters (and
    the lifecycle operations of :mod:`ocrr.server.lifecycle`)."""

    def __init__(
        self,
        name: str,
        substrate: Substrate,
        *,
        threshold: float | None = None,
        reopen: Callable[[], Ledger] | None = None,
        refresh_interval: float = 0.25,
        signing_key: Ed25519PrivateKey | None = None,
    ) -> None:
        self.name = name
        self.substrate = substrate
        self.threshold = threshold
        self.refresh_interval = refresh_interval
        self.signing_key = signing_key
        self._reopen = reopen  # a second handle on the same store, for verify
        self._lock = threading.Lock()
        self._verify_lock = threading.Lock()
        self._refreshed = time.monotonic()
        self._meta: OrderedDict[int, tuple[str | None, str | None, int]] = OrderedDict()
        self.outcomes = RecentOutcomes()
        self.predictions = 0
        self.abstentions = 0
        self.corrections = 0

    # -- keeping up with other writers -----------------------------------------------------
    def _catch_up(self, force: bool = False) -> None:
        """Take in what other processes appended (caller holds the lock)."""
        now = time.monotonic()
        if force or now - self._refreshed >= self.refresh_interval:
            # what an erasure elsewhere shredded must not linger here (only that: behind
            # workers every answer refreshes, and clearing the whole cache on any foreign
            # entry cost twenty reads of the store at the next answer)
            self.substrate.refresh(seen=self._forget_who)
            self._refreshed = now

    def refresh(self) -> int:
        with self._lock:
            new = self.substrate.refresh(seen=self._forget_who)
            self._refreshed = time.monotonic()
            return new

    # -- predicting ------------------------------------------------------------------------
    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """Encode and predict (the local client's path; the server encodes in batches)."""
        vectors = self._encoder().encode(list(texts))
        return self.predict_vectors(texts, vectors)

    def predict_vectors(self, texts: Sequence[str], vectors: np.ndarray) -> list[Prediction]:
        """Answers for encoded texts. A batch holds the lock :data:`PREDICT_CHUNK` vectors at
        a time, so a batch of 256 does not keep another request's single text waiting for
        all of it (a correction may land between two chunks: each answer is consistent)."""
        out: list[Prediction] = []
        for start in range(0, len(vectors), PREDICT_CHUNK):
            if start:
                time.sleep(0)  # let a thread waiting for the lock take it
            with self._lock:
                out.extend(self._predict_locked(vectors[start : start + PREDICT_CHUNK]))
        self._record(texts, out)
        return out

    def predict_now(self, texts: Sequence[str], vectors: np.ndarray) -> list[Prediction] | None:
        """:meth:`predict_vectors` for at most :data:`PREDICT_CHUNK` vectors if the lock is
        free at once, else ``None`` (the caller then waits for it on a worker thread). The
        server calls this on its event loop: a free namespace answers a single text with no
        thread hop (about 0.3 ms of server CPU a request less), and the loop never waits
        for a lock a correction holds. The answers are :meth:`predict_vectors`'s."""
        if len(vectors) > PREDICT_CHUNK or not self._lock.acquire(blocking=False):
            return None
        try:
            out = self._predict_locked(vectors)
        finally:
            self._lock.release()
        self._record(texts, out)
        return out

    def _predict_locked(self, vectors: np.ndarray) -> list[Prediction]:
        """Answers for a few vectors (the caller holds the lock)."""
        self._catch_up()
        chunk = [self._explain(self._answer(v)) for v in vectors]
        self.predictions += len(chunk)
        self.abstentions += sum(p.abstained for p in chunk)
        return chunk

    def _record(self, texts: Sequence[str], answers: Sequence[Prediction]) -> None:
        for text, answer in zip(texts, answers, strict=True):
            self.outcomes.predicted(text, answer.label)

    def _answer(self, vector: np.ndarray):  # noqa: ANN202 - a substrate Prediction
        """The substrate's explained answer; an empty namespace answers no label."""
        try:
            return self.substrate.predict(vector)
        except NotFittedError:
            from ocrr.substrate import Prediction as Answer

            return Answer(None, ())

    def _explain(self, p) -> Prediction:  # noqa: ANN001 - a substrate Prediction
        threshold = self.threshold
        confidence = float(p.confidence)
        abstained = threshold is not None and (p.label is None or confidence < threshold)
        neighbours = []
        # one validation of plain values (pydantic's core validates the nested list in one
        # call: 38 µs for 20 neighbours where 21 model_construct calls took 95 µs); numpy
        # scalars are cast here, as validation would refuse them
        for n in p.neighbours:
            actor, source, created_at_ns = self._who(n.seq)
            neighbours.append({
                "seq": int(n.seq), "label": str(n.label), "similarity": float(n.similarity),
                "voted": bool(n.voted), "actor": actor, "source": source,
                "created_at_ns": None if created_at_ns is None else int(created_at_ns)})
        label = None if p.label is None else str(p.label)
        return Prediction.model_validate({
            "label": UNKNOWN if abstained else label, "confidence": confidence,
            "abstained": bool(abstained), "best_label": label,
            "threshold": None if threshold is None else float(threshold),
            "neighbours": neighbours})

    def _who(self, seq: int) -> tuple[str | None, str | None, int]:
        """Who taught entry ``seq``, how and when (it votes, so it is not erased)."""
        meta = self._meta.get(seq)
        if meta is None:
            entry = self.substrate.ledger[seq]
            meta = (entry.provenance.get("actor"), entry.provenance.get("source"),
                    entry.created_at_ns)
            self._meta[seq] = meta
            if len(self._meta) > _META_CACHE:
                self._meta.popitem(last=False)
        return meta

    # -- writing ---------------------------------------------------------------------------
    def correct(
        self,
        items: Sequence[CorrectionItem],
        *,
        actor: str | None = None,
        vectors: np.ndarray | None = None,
        key_id: str | None = None,
    ) -> list[Receipt]:
        """Append corrections (one transaction for several) and make them vote at once.
        A label never seen before is how a new class arrives: not an error. ``key_id``:
        the API key that asked (recorded as ``api_key_id``, beside ``actor``)."""
        texts = [item.text for item in items]
        labels = [item.label for item in items]
        remember = getattr(self.substrate.encoder, "remember", None)
        if vectors is not None and remember is not None:
            remember(texts, vectors)
        with self._lock:
            self._catch_up(force=True)
            known = set(self.substrate.labels)
            try:
                if len(items) == 1:
                    entries = [self.substrate.correct(
                        texts[0], labels[0], actor=actor, subject=items[0].subject,
                        provenance=by_key(key_id))]
                else:
                    subjects = [item.subject for item in items]
                    entries = self.substrate.correct_many(
                        texts, labels, actor=actor, provenance=by_key(key_id),
                        subjects=subjects if any(s is not None for s in subjects) else None,
                    )
            except LedgerError as err:
                raise InvalidRequest(str(err)) from None
            size = len(self.substrate.ledger)
            self.corrections += len(entries)
        for text, label in zip(texts, labels, strict=True):
            self.outcomes.corrected(text, label)
        new: set[str] = set()
        receipts = []
        for entry in entries:
            receipts.append(_receipt(entry, size, entry.label not in known | new))
            new.add(entry.label)
        return receipts

    def revoke(self, seq: int, reason: str, *, actor: str | None = None,
               key_id: str | None = None) -> Receipt:
        with self._lock:
            self._catch_up(force=True)
            if not 0 <= seq < len(self.substrate.ledger):
                raise NotFound(f"no entry {seq} (the ledger has {len(self.substrate.ledger)})")
            try:
                entry = self.substrate.revoke(seq, reason, actor=actor,
                                              provenance=by_key(key_id))
            except LedgerError as err:
                raise Conflict(str(err)) from None
            return _receipt(entry, len(self.substrate.ledger))

    def erase(self, subject: str, *, reason: str | None = None,
              actor: str | None = None, key_id: str | None = None) -> Receipt:
        """Crypto-shred everything recorded about ``subject``."""
        with self._lock:
            self._catch_up(force=True)
            try:
                entry = self.substrate.erase(subject, reason=reason, actor=actor,
                                             provenance=by_key(key_id))
            except LedgerError as err:
                raise NotFound(str(err)) from None
            self._forget_who(entry)
            return _receipt(entry, len(self.substrate.ledger))

    def _forget_who(self, entry: Entry) -> None:
        """If ``entry`` is an erasure, drop the cached provenance of what it shredded."""
        if entry.kind != ERASURE:
            return
        for seq in filter(None, entry.provenance.get("seqs", "").split(",")):
            self._meta.pop(int(seq), None)

    # -- auditing --------------------------------------------------------------------------
    def entries(self, start: int = 0, limit: int = 100) -> EntryPage:
        with self._lock:
            self._catch_up()
            ledger = self.substrate.ledger
            size = len(ledger)
            stop = min(size, start + limit)
            page = []
            for seq in range(start, stop):
                entry = ledger[seq]
                active = self.substrate.is_active(seq) if entry.kind == EXAMPLE else None
                page.append(EntryOut(
                    seq=entry.seq, created_at_ns=entry.created_at_ns, kind=entry.kind,
                    label=entry.label, text=entry.text, provenance=dict(entry.provenance),
                    entry_hash=entry.entry_hash.hex(), prev_hash=entry.prev_hash.hex(),
                    sealed=entry.sealed is not None, readable=entry.readable, active=active,
                ))
        return EntryPage(entries=page, start=start, next=stop if stop < size else None,
                         size=size)

    def verify(self, size: int | None = None, root_hash: str | None = None) -> VerificationOut:
        """Re-hash every stored entry and walk the chain (on a second connection, so that
        predictions go on meanwhile); against a kept tree head if one is given."""
        head = None
        if size is not None or root_hash is not None:
            if size is None or root_hash is None:
                raise InvalidRequest("a kept tree head needs both size and root_hash")
            try:
                root = bytes.fromhex(root_hash)
            except ValueError:
                raise InvalidRequest("root_hash must be 64 hex digits") from None
            if len(root) != 32:
                raise InvalidRequest("root_hash must be 64 hex digits (32 bytes)")
            head = TreeHead(size, root, 0)
        with self._verify_lock:
            if self._reopen is None:
                with self._lock:
                    result = self.substrate.ledger.verify(head)
            else:
                ledger = self._reopen()
                try:
                    result = ledger.verify(head)
                finally:
                    ledger.close()
        return VerificationOut(ok=result.ok, size=result.size,
                               first_bad_seq=result.first_bad_seq, reason=result.reason)

    def tree_head(self) -> TreeHeadOut:
        with self._lock:
            self._catch_up(force=True)
            ledger = self.substrate.ledger
            if self.signing_key is not None:
                signed = ledger.signed_tree_head(self.signing_key)
                return TreeHeadOut.model_validate(signed.to_dict())
            return TreeHeadOut.model_validate(ledger.tree_head().to_dict())

    def prove(self, seq: int, size: int | None = None) -> InclusionProofOut:
        return InclusionProofOut.model_validate(self._proof(lambda ledger: ledger.prove(seq, size)))

    def prove_consistency(self, old_size: int, size: int | None = None) -> ConsistencyProofOut:
        return ConsistencyProofOut.model_validate(
            self._proof(lambda ledger: ledger.prove_consistency(old_size, size)))

    def _proof(self, make: Callable[[Ledger], InclusionProof | ConsistencyProof]
               ) -> dict[str, object]:
        """``make``'s proof on the caught-up ledger, as a dict; one it cannot make (a size or
        number past the head) is NotFound."""
        with self._lock:
            self._catch_up(force=True)
            try:
                return make(self.substrate.ledger).to_dict()
            except ProofError as err:
                raise NotFound(str(err)) from None

    def stats(self) -> StatsOut:
        with self._lock:
            self._catch_up()
            substrate = self.substrate
            return StatsOut(
                namespace=self.name, entries=len(substrate.ledger),
                classes=len(substrate.labels), storage_bytes=substrate.storage_bytes(),
                dim=substrate.ledger.dim, threshold=self.threshold,
                predictions=self.predictions, abstentions=self.abstentions,
                corrections=self.corrections, recent_judged=self.outcomes.judged,
                recent_accuracy=self.outcomes.accuracy,
            )

    def size(self) -> int:
        with self._lock:
            return len(self.substrate.ledger)

    # -- looking without answering (the review console) ------------------------------------
    def labels(self) -> list[str]:
        with self._lock:
            self._catch_up()
            return list(self.substrate.labels)

    def top_labels(self, vectors: np.ndarray) -> list[str | None]:
        """The top label of many vectors at once (not counted as predictions)."""
        with self._lock:
            self._catch_up()
            try:
                return self.substrate.predict_many(vectors) if len(vectors) else []
            except NotFittedError:  # an empty namespace
                return [None] * len(vectors)

    def explain_vectors(self, vectors: np.ndarray) -> list[Prediction]:
        """Full answers with neighbours (not counted, not awaiting a verdict)."""
        with self._lock:
            self._catch_up()
            return [self._explain(self._answer(v)) for v in vectors]

    def suspects(self) -> list[Suspect]:
        with self._lock:
            self._catch_up()
            return self.substrate.suspects()

    def close(self) -> None:
        with self._lock:
            self.substrate.ledger.close()

    def _encoder(self):  # noqa: ANN202
        if self.substrate.encoder is None:
            raise InvalidRequest("this namespace's substrate has no encoder: it takes vectors")
        return self.substrate.encoder
