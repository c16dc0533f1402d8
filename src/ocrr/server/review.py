"""The review queue: recent predictions kept for people to check, least confident first.

Why a log of its own: the ledger records what people taught, not what the classifier
answered, and a reviewer's queue is made of answers. Each prediction the service serves is
kept here with its text, its vector (so the classifier can be asked again after a
correction, without encoding), its confidence and the neighbours that decided it. The log is
bounded per namespace (the oldest answers go first) and lives in the server process: a
restart, or another replica, starts with an empty queue, while everything reviewed is in
the shared ledger.

A review (accept: the answer was right; correct: another label) removes the item; the
reviews themselves are kept (bounded) for the console's accuracy figure. After the ledger
grows, :func:`recheck` asks the classifier again about the items still queued and reports
those whose answer changed, which is how a reviewer sees the effect of a correction at once.
Texts whose answer a reviewer already confirmed are not queued again.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ocrr.server.schemas import Prediction

if TYPE_CHECKING:
    from ocrr.server.namespace import Namespace

QUEUE_CAPACITY = 5_000
"""Queued predictions per namespace (the oldest go first): 5,000 × 384 floats ≈ 7.5 MB."""
REVIEWS_KEPT = 10_000
"""Reviews remembered per namespace, for the accuracy of reviewed predictions."""
EXPLAIN_LIMIT = 50
"""Changed items re-explained (neighbours, confidence) per recheck; the rest wait."""
BASE_CHUNK, BASE_CHUNKS = 512, 3
"""The stable batches (see :func:`_top_labels`): three of 512 rows, the least confident
items; the index remembers its last four batches, so all three stay incremental."""
REBASE_AFTER = 100
"""Items queued since the stable batches were made that make them be made again."""
OUTSIDE_CHUNK, OUTSIDE_BUDGET = 256, 256
"""Stale items outside the stable batches: asked about in batches of 256 (one lock hold
each, like one full batch prediction), at most 256 per recheck (the rest wait)."""


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


@dataclass
class QueuedPrediction:
    id: int
    text: str
    vector: np.ndarray
    answer: Prediction
    """The classifier's current answer (after rechecks)."""
    first_label: str | None
    """The top label when the prediction was served: what a review judges."""
    predicted_at_ns: int
    checked_size: int
    """The ledger size the answer is current for."""
    was: str | None = None
    """The top label before the last recheck changed it (None: unchanged)."""

    @property
    def label(self) -> str | None:
        return self.answer.best_label

    @property
    def confidence(self) -> float:
        return self.answer.confidence


@dataclass(frozen=True)
class Review:
    at_ns: int
    item_id: int
    predicted: str | None
    label: str
    accepted: bool
    seq: int
    actor: str | None

    @property
    def right(self) -> bool:
        return self.predicted == self.label


@dataclass(frozen=True)
class Change:
    item_id: int
    text: str
    was: str | None
    now: str | None
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.item_id, "text": self.text, "was": self.was, "now": self.now,
                "confidence": round(self.confidence, 4)}


class ReviewQueue:
    """One namespace's queued predictions and recent reviews (thread-safe)."""

    def __init__(self, capacity: int = QUEUE_CAPACITY, kept: int = REVIEWS_KEPT) -> None:
        self.capacity = capacity
        self._items: OrderedDict[int, QueuedPrediction] = OrderedDict()
        self._by_text: dict[bytes, int] = {}
        self._confirmed: OrderedDict[bytes, str] = OrderedDict()
        self._reviews: deque[Review] = deque(maxlen=kept)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.checking = threading.Lock()
        """Held while a recheck runs (one at a time per queue)."""
        self._base: list[np.ndarray] | None = None
        self._base_rows: dict[int, int] = {}
        self._base_next = 0  # the first id queued after the stable batches were made

    def __len__(self) -> int:
        return len(self._items)

    def add(self, texts: Sequence[str], vectors: np.ndarray, answers: Sequence[Prediction],
            size: int) -> None:
        """Queue served predictions (the latest answer for a text replaces an older one)."""
        now = time.time_ns()
        with self._lock:
            for text, vector, answer in zip(texts, vectors, answers, strict=True):
                if answer.best_label is None:
                    continue  # an empty ledger: nothing to review
                key = _digest(text)
                if self._confirmed.get(key) == answer.best_label:
                    continue  # a reviewer already said this answer is right
                old = self._by_text.pop(key, None)
                if old is not None:
                    self._items.pop(old, None)
                item = QueuedPrediction(next(self._ids), text,
                                        np.array(vector, dtype=np.float32), answer,
                                        answer.best_label, now, size)
                self._items[item.id] = item
                self._by_text[key] = item.id
            while len(self._items) > self.capacity:
                _, dropped = self._items.popitem(last=False)
                self._by_text.pop(_digest(dropped.text), None)

    def get(self, item_id: int) -> QueuedPrediction | None:
        return self._items.get(item_id)

    def pending(self, limit: int | None = None) -> list[QueuedPrediction]:
        """Least confident first (abstentions lead), the newest first among equals."""
        with self._lock:
            items = list(self._items.values())
        items.sort(key=lambda i: (i.confidence, -i.id))
        return items if limit is None else items[:limit]

    def take(self, item_id: int) -> QueuedPrediction | None:
        """Take an item out to review it (so two reviewers cannot both review it)."""
        with self._lock:
            item = self._items.pop(item_id, None)
            if item is not None and self._by_text.get(_digest(item.text)) == item.id:
                del self._by_text[_digest(item.text)]
            return item

    def put_back(self, item: QueuedPrediction) -> None:
        """Return a taken item whose review failed (unless its text was queued again)."""
        with self._lock:
            key = _digest(item.text)
            if key not in self._by_text:
                self._items[item.id] = item
                self._by_text[key] = item.id

    def reviewed(self, item: QueuedPrediction, label: str, *, seq: int, accepted: bool,
                 actor: str | None = None) -> Review:
        """Record the review of an item (taken out of the queue)."""
        review = Review(time.time_ns(), item.id, item.first_label, label, accepted, seq, actor)
        key = _digest(item.text)
        with self._lock:
            if self._items.pop(item.id, None) is not None and self._by_text.get(key) == item.id:
                del self._by_text[key]
            self._reviews.append(review)
            self._confirmed[key] = label
            self._confirmed.move_to_end(key)
            while len(self._confirmed) > self._reviews.maxlen:  # type: ignore[operator]
                self._confirmed.popitem(last=False)
        return review

    def reviews(self) -> list[Review]:
        with self._lock:
            return list(self._reviews)

    def stale(self, size: int) -> list[QueuedPrediction]:
        with self._lock:
            return [i for i in self._items.values() if i.checked_size < size]

    def settle(self, checked: Sequence[QueuedPrediction], size: int,
               fresh: dict[int, Prediction]) -> None:
        """After a recheck: ``fresh`` holds the new answers of the items that changed."""
        with self._lock:
            for item in checked:
                answer = fresh.get(item.id)
                if answer is not None:
                    if answer.best_label != item.answer.best_label:
                        item.was = item.answer.best_label
                    item.answer = answer
                item.checked_size = size


def _chunks(items: Sequence[QueuedPrediction], size: int) -> list[list[QueuedPrediction]]:
    return [list(items[i:i + size]) for i in range(0, len(items), size)]


def _top_labels(queue: ReviewQueue, namespace: Namespace,
                stale: Sequence[QueuedPrediction]) -> dict[int, str | None]:
    """The classifier's top label now for stale items, by id (caller holds
    ``queue.checking``); items left out stay stale for the next recheck.

    Why stable batches: asked again about the very same matrix of queries, the substrate
    scores only the entries appended since (``predict_many`` remembers its last few
    batches), so a recheck after a correction costs a fraction of predicting every item
    afresh. The queue keeps its least confident items (those a reviewer meets next) in up
    to three such batches, reviewed ones staying in them as dead rows, and remakes them once
    many items arrived after them or most of their rows are dead. Other stale items are
    asked about in small batches, a bounded number per recheck. Each batch is one hold of
    the namespace's lock, so predictions interleave with a long recheck."""
    with queue._lock:
        live = queue._items
        dead = sum(1 for i in queue._base_rows if i not in live)
        arrived = sum(1 for i in live if i >= queue._base_next)
        if (queue._base is None or arrived > REBASE_AFTER
                or dead > len(queue._base_rows) // 2):
            items = sorted(live.values(), key=lambda i: (i.confidence, -i.id))
            items = items[:BASE_CHUNK * BASE_CHUNKS]
            queue._base_rows = {item.id: row for row, item in enumerate(items)}
            queue._base = [np.stack([i.vector for i in chunk])
                           for chunk in _chunks(items, BASE_CHUNK)]
            queue._base_next = max(live, default=0) + 1
        base, rows = queue._base, queue._base_rows
    found: dict[int, str | None] = {}
    inside = [item for item in stale if item.id in rows]
    for c in sorted({rows[item.id] // BASE_CHUNK for item in inside}):
        labels = namespace.top_labels(base[c])
        found.update({item.id: labels[rows[item.id] % BASE_CHUNK] for item in inside
                      if rows[item.id] // BASE_CHUNK == c})
    outside = sorted((item for item in stale if item.id not in rows),
                     key=lambda i: (i.confidence, -i.id))[:OUTSIDE_BUDGET]
    for chunk in _chunks(outside, OUTSIDE_CHUNK):
        labels = namespace.top_labels(np.stack([item.vector for item in chunk]))
        found.update({item.id: label for item, label in zip(chunk, labels, strict=True)})
    return found


def recheck(queue: ReviewQueue, namespace: Namespace, *, wait: bool = True) -> list[Change]:
    """Ask the classifier again about queued items it answered before the ledger last grew;
    return the items whose top label changed (their new answers replace the old). With
    ``wait=False`` it returns at once if another recheck of this queue is running."""
    if not queue.checking.acquire(blocking=wait):
        return []
    try:
        size = namespace.size()
        stale = queue.stale(size)
        if not stale:
            return []
        labels = _top_labels(queue, namespace, stale)
        moved = [item for item in stale if item.id in labels and labels[item.id] != item.label]
        explained, waiting = moved[:EXPLAIN_LIMIT], moved[EXPLAIN_LIMIT:]
        fresh: dict[int, Prediction] = {}
        if explained:
            answers = namespace.explain_vectors(np.stack([item.vector for item in explained]))
            fresh = {item.id: answer for item, answer in zip(explained, answers, strict=True)}
        changes = [Change(item.id, item.text, item.label, fresh[item.id].best_label,
                          fresh[item.id].confidence)
                   for item in explained if fresh[item.id].best_label != item.label]
        left = {item.id for item in waiting}
        queue.settle([item for item in stale if item.id in labels and item.id not in left],
                     size, fresh)
        return changes
    finally:
        queue.checking.release()


class ReviewQueues:
    """Namespace name → its :class:`ReviewQueue`, made on first use."""

    def __init__(self, capacity: int = QUEUE_CAPACITY) -> None:
        self.capacity = capacity
        self._queues: dict[str, ReviewQueue] = {}
        self._lock = threading.Lock()

    def __getitem__(self, namespace: str) -> ReviewQueue:
        found = self._queues.get(namespace)
        if found is None:
            with self._lock:
                found = self._queues.setdefault(namespace, ReviewQueue(self.capacity))
        return found


def queues_of(app: Any) -> ReviewQueues:
    """The app's review queues (made on first use)."""
    queues = getattr(app.state, "review_queues", None)
    if queues is None:
        queues = app.state.review_queues = ReviewQueues()
    return queues


def log_predictions(app: Any, namespace: Namespace, texts: Sequence[str],
                    vectors: np.ndarray, answers: Sequence[Prediction]) -> None:
    """The predict routes' hook: queue what was just answered. Runs on the event loop, so
    it takes no namespace lock (the ledger's size is one integer, read as it stands)."""
    size = len(namespace.substrate.ledger)
    queues_of(app)[namespace.name].add(texts, vectors, answers, size)
