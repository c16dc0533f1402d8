"""Batching: the texts of concurrent requests are encoded together, on a few workers.

Why: a transformer encoder costs nearly as much for one short text as for several (the
per-call overhead dominates), so a server that encodes each request alone is capped by that
overhead. Here every request puts its texts on a queue; a free worker takes *everything that
is waiting* (up to ``max_batch`` texts), encodes it in one call on its own thread, and hands
each request its rows. No timer: while one batch encodes, the next one fills, so batches grow
with load and a lone request is never held back waiting for company.

Why several workers, each with its own copy of the model, single-threaded: on a small
machine two batches encoded side by side on two cores beat one batch split across them
(no thread pool to wake for every layer, no spinning threads fighting the HTTP side), and a
copy per worker means no tokenizer is ever called from two threads at once.

The vectors are also remembered (:class:`MemoEncoder`), so a correction's text, encoded
here, is not encoded again when the substrate appends it with its text.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
import time
from collections import OrderedDict
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


@dataclass
class _Job:
    texts: list[str]
    future: asyncio.Future = field(repr=False)


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
        threads: int | None = None,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        """``memo`` wraps the first worker's encoder (the substrates' too); ``extra`` are
        more instances of the same encoder, one more worker each. ``threads``: torch
        threads (default: the available cores shared among the workers)."""
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.memo = memo
        self.encoders = [memo.encoder, *(LockedEncoder(e) for e in extra)]
        if any(e.identity != memo.identity for e in self.encoders):
            raise ValueError("every worker's encoder must be the same model")
        self.max_batch = max_batch
        self.threads = threads or max(1, available_cores() // len(self.encoders))
        for locked in self.encoders:  # per-instance threads (ONNX Runtime), set before load
            if callable(setter := getattr(locked.encoder, "set_threads", None)):
                setter(self.threads)
        self.on_batch = on_batch
        self._queue: asyncio.Queue[_Job] | None = None
        self._idle: asyncio.Queue[_Worker] | None = None
        self._workers: list[_Worker] = []
        self._held: _Job | None = None
        self._runner: asyncio.Task | None = None
        self._running: set[asyncio.Task] = set()
        self._threads_set = False

    @property
    def workers(self) -> int:
        return len(self.encoders)

    async def start(self) -> None:
        self._queue = asyncio.Queue()
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
        if self._queue is not None:
            pending = [self._held] if self._held is not None else []
            while not self._queue.empty():
                pending.append(self._queue.get_nowait())
            for job in pending:
                if not job.future.done():
                    job.future.set_exception(Unavailable("the server is shutting down"))
            self._held = None
        for worker in self._workers:
            worker.executor.shutdown(wait=True)
        self._workers = []

    async def warm(self) -> None:
        """Encode a text on every worker: models load now, not on the first request."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(*[
            loop.run_in_executor(w.executor, self._encode, w, [_Job(["warm up"],
                                                                     loop.create_future())])
            for w in self._workers
        ])

    async def encode(self, texts: Sequence[str]) -> np.ndarray:
        """The vectors of ``texts`` (one row each), encoded with whatever else is waiting."""
        if self._queue is None or self._runner is None:
            raise Unavailable("the encoder is not running")
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Job(list(texts), future))
        return await future

    async def _run(self) -> None:
        assert self._queue is not None and self._idle is not None
        while True:
            first = self._held if self._held is not None else await self._queue.get()
            self._held = None
            worker = await self._idle.get()  # meanwhile more requests queue up
            jobs, size = [first], len(first.texts)
            while not self._queue.empty():
                job = self._queue.get_nowait()
                if size + len(job.texts) > self.max_batch:
                    self._held = job  # first in the next batch
                    break
                jobs.append(job)
                size += len(job.texts)
            jobs = [j for j in jobs if not j.future.done()]  # callers that gave up
            if not jobs:
                self._idle.put_nowait(worker)
                continue
            task = asyncio.create_task(self._batch(worker, jobs, size))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _batch(self, worker: _Worker, jobs: list[_Job], size: int) -> None:
        assert self._idle is not None
        started = time.perf_counter()
        try:
            results = await asyncio.get_running_loop().run_in_executor(
                worker.executor, self._encode, worker, jobs)
        except Exception as err:  # noqa: BLE001 - hand the failure to every caller
            results = [err] * len(jobs)
        finally:
            self._idle.put_nowait(worker)
        if self.on_batch is not None:
            self.on_batch(size, time.perf_counter() - started)
        for job, result in zip(jobs, results, strict=True):
            if job.future.done():
                continue
            if isinstance(result, BaseException):
                job.future.set_exception(result)
            else:
                job.future.set_result(result)

    def _encode(self, worker: _Worker, jobs: list[_Job]) -> list[np.ndarray | BaseException]:
        """One call for the whole batch; if it fails, each job alone, so that one bad text
        fails only its own request."""
        if not self._threads_set:
            self._threads_set = _limit_torch_threads(self.threads)
        texts = [t for job in jobs for t in job.texts]
        try:
            vectors = worker.encoder.encode(texts)
        except Exception:  # noqa: BLE001 - isolate below
            return [self._encode_alone(worker, job) for job in jobs]
        self.memo.remember(texts, vectors)
        out: list[np.ndarray | BaseException] = []
        start = 0
        for job in jobs:
            out.append(vectors[start : start + len(job.texts)])
            start += len(job.texts)
        return out

    def _encode_alone(self, worker: _Worker, job: _Job) -> np.ndarray | BaseException:
        try:
            vectors = worker.encoder.encode(job.texts)
        except Exception as err:  # noqa: BLE001 - the client's text could not be encoded
            return InvalidRequest(f"the encoder could not encode this text: {err}")
        self.memo.remember(job.texts, vectors)
        return vectors
