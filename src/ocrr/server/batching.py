"""Batching: the texts of concurrent requests are encoded together, on a few workers.

Why: a transformer encoder costs nearly as much for one short text as for several (the
per-call overhead dominates), so a server that encodes each request alone is capped by that
overhead. Here every request puts its texts on a queue; a free worker takes *what is
waiting* (up to ``max_batch`` texts and ``max_cost`` characters), encodes it in one call on
its own thread, and hands each request its rows. No timer: while one batch encodes, the next
one fills, so batches grow with load and a lone request is never held back waiting for
company.

Why a fair queue (:class:`FairQueue`): the queue is one per owner (the API key), served
round-robin a text at a time, and a batch is bounded in characters as well as texts, so a
request of 256 long texts is encoded in many small batches, between which every other key's
texts get their turn. One key's flood of maximal batches then delays another key's single
text by about one bounded batch, not by the whole flood (issue 17: 122 s before, see
docs/architecture.md for the figures).

Why several workers, each with its own copy of the model, single-threaded: on a small
machine two batches encoded side by side on two cores beat one batch split across them
(no thread pool to wake for every layer, no spinning threads fighting the HTTP side), and a
copy per worker means no tokenizer is ever called from two threads at once.

The vectors are also remembered (:class:`MemoEncoder`), so a correction's text, encoded
here, is not encoded again when the substrate appends it with its text.

Why some texts skip all that (``inline``): a static embedding model (``wordllama``: a
lookup and a mean, about 0.1 ms a text) costs less than the hand-off to a worker thread and
back (a future, a wake-up, the interpreter lock passed twice). With ``inline``, a request of
one short text is encoded at once on the event loop by the first worker's copy of the model
if that copy is free at that instant, and otherwise queued as above; measured under ``ocrr
load`` with two server workers, 1,119–1,247 predictions/s against 982–1,125/s through the
queue, alternating (docs/results.md, "The service").
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from ocrr.encoders import Encoder
from ocrr.server.errors import InvalidRequest, Unavailable


class LockedEncoder:
    """One encoder instance, used by one thread at a time (tokenizers are not re-entrant)."""

    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder
        self._lock = threading.Lock()

    @property
    def identity(self) -> str:
        return self.encoder.identity

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        with self._lock:
            return self.encoder.encode(list(texts))

    def try_encode(self, texts: Sequence[str]) -> np.ndarray | None:
        """:meth:`encode` if no other thread is using the instance now, else None (never
        waits); None too if encoding fails (the queue's path then reports why)."""
        if not self._lock.acquire(blocking=False):
            return None
        try:
            return self.encoder.encode(list(texts))
        except Exception:  # noqa: BLE001 - encoded again by a worker, which says what failed
            return None
        finally:
            self._lock.release()


class MemoEncoder:
    """An encoder that first looks up recently computed vectors (bounded, thread-safe).

    The same text always gives the same vector, so a hit is exactly what encoding would
    return; only the cost differs.
    """

    def __init__(self, encoder: Encoder, capacity: int = 8192) -> None:
        self.encoder = encoder if isinstance(encoder, LockedEncoder) else LockedEncoder(encoder)
        self.capacity = capacity
        self._memo: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def identity(self) -> str:
        return self.encoder.identity

    def remember(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        with self._lock:
            for text, vector in zip(texts, vectors, strict=True):
                self._memo[text] = vector
                self._memo.move_to_end(text)
            while len(self._memo) > self.capacity:
                self._memo.popitem(last=False)

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        with self._lock:
            found = [self._memo.get(t) for t in texts]
        missing = [i for i, v in enumerate(found) if v is None]
        if missing:
            fresh = self.encoder.encode([texts[i] for i in missing])
            for i, vector in zip(missing, fresh, strict=True):
                found[i] = vector
        if not found:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([v for v in found if v is not None]).astype(np.float32, copy=False)

    def encode_now(self, texts: Sequence[str]) -> np.ndarray | None:
        """The vectors of ``texts`` encoded now and remembered, or None if the encoder
        instance is busy or failed: never waits. Like the batches' path, it does not look
        the texts up first (a load test that repeats its texts would measure the memo)."""
        fresh = self.encoder.try_encode(texts)
        if fresh is None:
            return None
        self.remember(texts, fresh)
        return np.asarray(fresh, dtype=np.float32)


def text_cost(text: str) -> int:
    """What encoding ``text`` costs, in character units: its length up to what the model
    reads (about 256 word pieces; longer texts are truncated), plus a fixed overhead."""
    return TEXT_OVERHEAD + min(len(text), TEXT_CAP)


TEXT_OVERHEAD, TEXT_CAP = 16, 1024
INLINE_CHARS = 1_000
"""The longest text encoded on the event loop by ``BatchingEncoder(inline=True)``."""
HEAVY_TEXT = 512
"""A batch whose longest text costs this much or more (about 500 characters, 125 word
pieces: ten times a typical query) is heavy: its owner is kept from the last free worker."""


@dataclass(eq=False)
class _Job:
    """One request's texts; encoded in pieces, possibly by several batches."""

    texts: list[str]
    future: asyncio.Future = field(repr=False)
    owner: str = ""
    next: int = 0
    """The first text not yet handed to a batch."""
    done: int = 0
    rows: np.ndarray | None = field(default=None, repr=False)

    @property
    def dropped(self) -> bool:
        return self.future.done()  # failed, or the caller gave up


@dataclass(frozen=True)
class _Piece:
    job: _Job
    start: int
    stop: int


class FairQueue:
    """Texts waiting to be encoded, one queue per owner (an API key), served round-robin
    one text at a time, so a batch holds everyone's next text before anyone's second.

    Why: a key that sends maximal batches (256 texts of 4,000 characters) would otherwise
    hold the encoder for tens of seconds per request, and every other key's single text would
    wait behind it. Here a batch is built from all owners in turn and is bounded in cost
    (:func:`text_cost`), so another key's text waits for at most the batch in progress.
    Below, the batch of three texts takes the flood's first, the other owner's, then the
    flood's second (one piece with the first):

    >>> import asyncio
    >>> loop = asyncio.new_event_loop()
    >>> queue = FairQueue()
    >>> queue.put(_Job(["a", "b", "c"], loop.create_future(), owner="flood"))
    >>> queue.put(_Job(["x"], loop.create_future(), owner="other"))
    >>> [(p.job.owner, p.start, p.stop) for p in queue.take(max_texts=3, max_cost=10_000)]
    [('flood', 0, 2), ('other', 0, 1)]
    >>> loop.close()
    """

    def __init__(self) -> None:
        self._owners: OrderedDict[str, deque[_Job]] = OrderedDict()

    def put(self, job: _Job) -> None:
        self._owners.setdefault(job.owner, deque()).append(job)

    def __bool__(self) -> bool:
        return any(self._first(owner) is not None for owner in list(self._owners))

    def _first(self, owner: str) -> _Job | None:
        """``owner``'s first job with texts left (jobs done or dropped are removed)."""
        jobs = self._owners.get(owner)
        while jobs and (jobs[0].dropped or jobs[0].next >= len(jobs[0].texts)):
            jobs.popleft()
        return jobs[0] if jobs else None

    def take(self, *, max_texts: int, max_cost: int,
             exclude: frozenset[str] = frozenset()) -> list[_Piece]:
        """The next batch: one text per owner in turn, until ``max_texts`` texts or
        ``max_cost``, counted as the model computes it: every text padded to the longest
        (texts × the longest's :func:`text_cost`), and texts within a factor 2 of each
        other in cost, so a short text is not put in a batch of long ones, where it would
        cost as much as they do. Each owner waiting gets at most
        its share of the cost (``max_cost`` over the owners waiting), and at least one
        text. Owners in ``exclude`` wait for a later batch. Consecutive texts of one job
        become one piece."""
        taken: dict[int, list[int]] = {}  # id(job) -> [start, stop]
        jobs: dict[int, _Job] = {}
        spent: dict[str, int] = {}
        for owner in list(self._owners):
            if self._first(owner) is None:
                del self._owners[owner]  # nothing left to encode: no share
        share = max_cost // max(1, len(self._owners))
        turns = deque(o for o in self._owners if o not in exclude)  # this batch's rotation
        served: list[str] = []
        count = longest = 0
        while count < max_texts and turns:
            owner = turns[0]
            job = self._first(owner)
            if job is None:
                turns.popleft()
                continue
            price = text_cost(job.texts[job.next])
            if count and (price > 2 * longest or 2 * price < longest):
                turns.popleft()  # another length class: padded, it would cost the longest
                continue
            if count and (count + 1) * max(longest, price) > max_cost:
                break
            if owner in spent and spent[owner] + price > share:
                turns.popleft()  # its share of this batch is used
                continue
            span = taken.setdefault(id(job), [job.next, job.next])
            jobs[id(job)] = job
            span[1] = job.next = job.next + 1
            spent[owner] = spent.get(owner, 0) + price
            count, longest = count + 1, max(longest, price)
            if owner not in served:
                served.append(owner)
            turns.rotate(-1)  # the next owner's turn
        for owner in served:  # those served go behind those that were not
            if owner in self._owners:
                self._owners.move_to_end(owner)
        return [_Piece(jobs[k], a, b) for k, (a, b) in taken.items()]

    def drain(self) -> list[_Job]:
        """Every job still waiting (at shutdown)."""
        jobs = [job for queue in self._owners.values() for job in queue]
        self._owners.clear()
        return jobs


def available_cores() -> int:
    """The cores this process may run on (its affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _limit_torch_threads(threads: int) -> bool:
    """Torch's intra-op pool is process-wide; on a small machine an oversubscribed OpenMP
    pool spins (one short text took 0.7 s instead of 15 ms on a busy 2-core machine).
    Returns whether it is done (torch is imported only when a model loads)."""
    if "torch" not in sys.modules:
        return False
    torch = sys.modules["torch"]
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return True


class _Worker:
    def __init__(self, encoder: LockedEncoder, name: str) -> None:
        self.encoder = encoder
        self.executor = ThreadPoolExecutor(1, thread_name_prefix=name)


class BatchingEncoder:
    """Encodes concurrent requests' texts in shared batches on ``len(encoders)`` workers."""

    def __init__(
        self,
        memo: MemoEncoder,
        extra: Sequence[Encoder] = (),
        *,
        max_batch: int = 64,
        max_cost: int = 2048,
        threads: int | None = None,
        on_batch: Callable[[int, float], None] | None = None,
        inline: bool = False,
    ) -> None:
        """``memo`` wraps the first worker's encoder (the substrates' too); ``extra`` are
        more instances of the same encoder, one more worker each. ``max_batch`` texts and
        ``max_cost`` character units (texts × the longest's :func:`text_cost`) at most in
        one batch. ``threads``:
        torch threads (default: the available cores shared among the workers).
        ``inline``: :meth:`encode_now` encodes a single short text on the caller's thread
        (for static embedding models; see the module's docstring)."""
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.memo = memo
        self.encoders = [memo.encoder, *(LockedEncoder(e) for e in extra)]
        if any(e.identity != memo.identity for e in self.encoders):
            raise ValueError("every worker's encoder must be the same model")
        self.max_batch = max_batch
        self.max_cost = max_cost
        self.threads = threads or max(1, available_cores() // len(self.encoders))
        for locked in self.encoders:  # per-instance threads (ONNX Runtime), set before load
            if callable(setter := getattr(locked.encoder, "set_threads", None)):
                setter(self.threads)
        self.on_batch = on_batch
        self.inline = inline
        self._queue = FairQueue()
        self._waiting: asyncio.Event | None = None
        self._idle: asyncio.Queue[_Worker] | None = None
        self._workers: list[_Worker] = []
        self._runner: asyncio.Task | None = None
        self._running: set[asyncio.Task] = set()
        self._heavy: dict[str, int] = {}  # owner -> heavy batches in progress
        self._threads_set = False

    @property
    def workers(self) -> int:
        return len(self.encoders)

    async def start(self) -> None:
        self._queue = FairQueue()
        self._waiting = asyncio.Event()
        self._idle = asyncio.Queue()
        self._workers = [_Worker(e, f"ocrr-encode-{i}") for i, e in enumerate(self.encoders)]
        for worker in self._workers:
            self._idle.put_nowait(worker)
        self._runner = asyncio.create_task(self._run(), name="ocrr-batching")

    async def stop(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
            self._runner = None
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        for job in self._queue.drain():
            if not job.future.done():
                job.future.set_exception(Unavailable("the server is shutting down"))
        for worker in self._workers:
            worker.executor.shutdown(wait=True)
        self._workers = []

    async def warm(self) -> None:
        """Encode a text on every worker: models load now, not on the first request."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(*[
            loop.run_in_executor(w.executor, self._encode, w,
                                 [_Piece(_Job(["warm up"], loop.create_future()), 0, 1)])
            for w in self._workers
        ])

    def encode_now(self, texts: Sequence[str]) -> np.ndarray | None:
        """With ``inline``, the vectors of a single text of at most :data:`INLINE_CHARS`
        characters, encoded at once on this thread by the first worker's copy of the
        model if it is free; else None (then :meth:`encode` queues it). Never waits."""
        if not self.inline or len(texts) != 1 or len(texts[0]) > INLINE_CHARS:
            return None
        if self._runner is None:
            return None  # not started, or stopped: encode() says so
        return self.memo.encode_now(texts)

    async def encode(self, texts: Sequence[str], owner: str = "") -> np.ndarray:
        """The vectors of ``texts`` (one row each), encoded with whatever else is waiting;
        ``owner`` (an API key id) gets its fair share of the encoder among the owners
        waiting (:class:`FairQueue`)."""
        if self._waiting is None or self._runner is None:
            raise Unavailable("the encoder is not running")
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        future = asyncio.get_running_loop().create_future()
        self._queue.put(_Job(list(texts), future, owner))
        self._waiting.set()
        return await future

    async def _run(self) -> None:
        """Hand batches to free workers. The last free worker is kept from owners that
        already have a heavy batch (long texts) in progress: with two workers, one key's
        flood of long texts gets one worker while others wait, and another key's text finds
        the other free at once instead of waiting for a long batch to end. An owner alone
        with long texts thus uses all workers but one (short texts use them all)."""
        assert self._waiting is not None and self._idle is not None
        while True:
            self._waiting.clear()  # before looking: a change from now on wakes the wait
            if not self._queue:
                await self._waiting.wait()
                continue
            worker = await self._idle.get()  # meanwhile more requests queue up
            last = self._idle.empty() and len(self._workers) > 1
            exclude = frozenset(o for o, n in self._heavy.items() if n) if last else frozenset()
            pieces = self._queue.take(max_texts=self.max_batch, max_cost=self.max_cost,
                                      exclude=exclude)
            if not pieces:  # only owners kept from the last worker are waiting
                self._idle.put_nowait(worker)
                await self._waiting.wait()  # a new request, or a batch done
                continue
            longest = max(text_cost(t) for p in pieces for t in p.job.texts[p.start:p.stop])
            heavy = frozenset(p.job.owner for p in pieces) if longest >= HEAVY_TEXT else None
            for owner in heavy or ():
                self._heavy[owner] = self._heavy.get(owner, 0) + 1
            task = asyncio.create_task(self._batch(worker, pieces, heavy))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _batch(self, worker: _Worker, pieces: list[_Piece],
                     heavy: frozenset[str] | None = None) -> None:
        assert self._idle is not None and self._waiting is not None
        started = time.perf_counter()
        try:
            results = await asyncio.get_running_loop().run_in_executor(
                worker.executor, self._encode, worker, pieces)
        except Exception as err:  # noqa: BLE001 - hand the failure to every caller
            results = [err] * len(pieces)
        finally:
            for owner in heavy or ():
                self._heavy[owner] -= 1
                if not self._heavy[owner]:
                    del self._heavy[owner]
            self._idle.put_nowait(worker)
            self._waiting.set()
        if self.on_batch is not None:
            self.on_batch(sum(p.stop - p.start for p in pieces), time.perf_counter() - started)
        for piece, result in zip(pieces, results, strict=True):
            job = piece.job
            if job.future.done():
                continue
            if isinstance(result, BaseException):
                job.future.set_exception(result)
                continue
            if job.rows is None:
                job.rows = np.empty((len(job.texts), result.shape[1]), dtype=result.dtype)
            job.rows[piece.start : piece.stop] = result
            job.done += piece.stop - piece.start
            if job.done == len(job.texts):
                job.future.set_result(job.rows)

    def _encode(self, worker: _Worker,
                pieces: list[_Piece]) -> list[np.ndarray | BaseException]:
        """One call for the whole batch; if it fails, each piece alone, so that one bad
        text fails only its own request."""
        if not self._threads_set:
            self._threads_set = _limit_torch_threads(self.threads)
        texts = [t for p in pieces for t in p.job.texts[p.start : p.stop]]
        try:
            vectors = worker.encoder.encode(texts)
        except Exception:  # noqa: BLE001 - isolate below
            return [self._encode_alone(worker, piece) for piece in pieces]
        self.memo.remember(texts, vectors)
        out: list[np.ndarray | BaseException] = []
        start = 0
        for piece in pieces:
            size = piece.stop - piece.start
            out.append(vectors[start : start + size])
            start += size
        return out

    def _encode_alone(self, worker: _Worker, piece: _Piece) -> np.ndarray | BaseException:
        texts = piece.job.texts[piece.start : piece.stop]
        try:
            vectors = worker.encoder.encode(texts)
        except Exception as err:  # noqa: BLE001 - the client's text could not be encoded
            return InvalidRequest(f"the encoder could not encode this text: {err}")
        self.memo.remember(texts, vectors)
        return vectors
