"""Batching: the texts of concurrent requests are encoded together.

Why: a transformer encoder costs nearly as much for one short text as for several (the
per-call overhead dominates), so a server that encodes each request alone is capped by that
overhead. Here every request puts its texts on a queue; one worker takes *everything that is
waiting* (up to ``max_batch`` texts), encodes it in one call on its own thread, and hands
each request its rows. No timer: while one batch encodes, the next one fills, so batches grow
with load and a lone request is never held back waiting for company.

The vectors are also remembered (:class:`MemoEncoder`), so a correction's text, encoded
here, is not encoded again when the substrate appends it with its text.
"""

from __future__ import annotations

import asyncio
import contextlib
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


class MemoEncoder:
    """An encoder that first looks up recently computed vectors (bounded, thread-safe).

    The same text always gives the same vector, so a hit is exactly what encoding would
    return; only the cost differs.
    """

    def __init__(self, encoder: Encoder, capacity: int = 8192) -> None:
        self.encoder = encoder
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
        return np.stack(found).astype(np.float32, copy=False)


@dataclass
class _Job:
    texts: list[str]
    future: asyncio.Future = field(repr=False)


def _limit_torch_threads(threads: int | None) -> None:
    """Torch's intra-op pool is process-wide; on a small machine one or two threads beat
    oversubscription (the HTTP server needs a core too)."""
    if threads is not None and "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


class BatchingEncoder:
    """Encodes concurrent requests' texts in shared batches on one dedicated thread."""

    def __init__(
        self,
        encoder: MemoEncoder,
        *,
        max_batch: int = 64,
        threads: int | None = None,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.encoder = encoder
        self.max_batch = max_batch
        self.threads = threads
        self.on_batch = on_batch
        self._queue: asyncio.Queue[_Job] | None = None
        self._held: _Job | None = None
        self._worker: asyncio.Task | None = None
        self._executor: ThreadPoolExecutor | None = None

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._executor = ThreadPoolExecutor(
            1, thread_name_prefix="ocrr-encode", initializer=_limit_torch_threads,
            initargs=(self.threads,),
        )
        self._worker = asyncio.create_task(self._run(), name="ocrr-batching")

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        if self._queue is not None:
            while not self._queue.empty():
                job = self._queue.get_nowait()
                if not job.future.done():
                    job.future.set_exception(Unavailable("the server is shutting down"))
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    async def encode(self, texts: Sequence[str]) -> np.ndarray:
        """The vectors of ``texts`` (one row each), encoded with whatever else is waiting."""
        if self._queue is None:
            raise Unavailable("the encoder is not running")
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Job(list(texts), future))
        return await future

    async def _run(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            jobs = [self._held if self._held is not None else await self._queue.get()]
            self._held = None
            size = len(jobs[0].texts)
            while not self._queue.empty():
                job = self._queue.get_nowait()
                if size + len(job.texts) > self.max_batch:
                    self._held = job  # first in the next batch
                    break
                jobs.append(job)
                size += len(job.texts)
            jobs = [j for j in jobs if not j.future.done()]  # callers that gave up
            if not jobs:
                continue
            started = time.perf_counter()
            try:
                results = await loop.run_in_executor(self._executor, self._encode, jobs)
            except Exception as err:  # noqa: BLE001 - hand the failure to every caller
                results = [err] * len(jobs)
            if self.on_batch is not None:
                self.on_batch(size, time.perf_counter() - started)
            for job, result in zip(jobs, results, strict=True):
                if job.future.done():
                    continue
                if isinstance(result, BaseException):
                    job.future.set_exception(result)
                else:
                    job.future.set_result(result)

    def _encode(self, jobs: list[_Job]) -> list[np.ndarray | BaseException]:
        """One call for the whole batch; if it fails, each job alone, so that one bad text
        fails only its own request."""
        texts = [t for job in jobs for t in job.texts]
        try:
            vectors = self.encoder.encoder.encode(texts)
        except Exception:  # noqa: BLE001 - isolate below
            return [self._encode_alone(job) for job in jobs]
        self.encoder.remember(texts, vectors)
        out: list[np.ndarray | BaseException] = []
        start = 0
        for job in jobs:
            out.append(vectors[start : start + len(job.texts)])
            start += len(job.texts)
        return out

    def _encode_alone(self, job: _Job) -> np.ndarray | BaseException:
        try:
            vectors = self.encoder.encoder.encode(job.texts)
        except Exception as err:  # noqa: BLE001 - the client's text could not be encoded
            return InvalidRequest(f"the encoder could not encode this text: {err}")
        self.encoder.remember(job.texts, vectors)
        return vectors
