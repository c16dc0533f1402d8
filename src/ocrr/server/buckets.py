"""Where the rate limiters keep their token buckets: in this process, or shared by workers.

A bucket is (tokens, when last touched) per caller. :class:`LocalBuckets` keeps them in a
dictionary (one server process). :class:`SharedBuckets` keeps them in an open-addressing
hash table in anonymous shared memory, made by ``ocrr serve --workers N``'s parent before it
forks the workers, so every worker reads and charges the same buckets: a key gets its
configured rate from the whole server, not N times it.

Forgetting is exact where it can be: a bucket untouched for ``burst / rate`` seconds has
refilled, and a full bucket is what an unknown caller gets, so such buckets are dropped
first; only past ``max_callers`` callers active at once are the longest idle forgotten
(as the in-process table does).
"""

from __future__ import annotations

import hashlib
import mmap
import struct
import tempfile
import threading
from collections import OrderedDict
from typing import Protocol

import numpy as np

try:  # POSIX record locks: the shared table's lock between processes (forked workers)
    import fcntl
except ImportError:  # Windows: no forked workers, so no shared table to lock
    fcntl = None  # type: ignore[assignment]


class Buckets(Protocol):
    """Caller → (tokens, last); every :meth:`get` and :meth:`put` happens inside
    :meth:`locked`."""

    def locked(self) -> _Held: ...

    def get(self, caller: str) -> tuple[float, float] | None: ...

    def put(self, caller: str, tokens: float, last: float, *, idle: float) -> None:
        """Store a bucket; ``idle``: seconds after which an untouched bucket is full again
        (and may be forgotten)."""
        ...


class _Held:
    """A lock held for one limiter step (a class, not a generator: this runs per request)."""

    def __init__(self, lock: threading.Lock, fd: int | None = None) -> None:
        self._lock = lock
        self._fd = fd

    def __enter__(self) -> None:
        self._lock.acquire()
        if self._fd is not None:
            try:
                fcntl.lockf(self._fd, fcntl.LOCK_EX)
            except BaseException:
                self._lock.release()
                raise

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            fcntl.lockf(self._fd, fcntl.LOCK_UN)
        self._lock.release()


class LocalBuckets:
    """The buckets in this process, the longest idle forgotten past ``max_callers``.

    >>> buckets = LocalBuckets(max_callers=1)
    >>> with buckets.locked():
    ...     buckets.put("a", 1.0, 10.0, idle=2.0)
    ...     buckets.put("b", 0.5, 11.0, idle=2.0)  # "a" is forgotten
    ...     buckets.get("a"), buckets.get("b")
    (None, (0.5, 11.0))
    """

    def __init__(self, max_callers: int = 100_000) -> None:
        self.max_callers = max_callers
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._held = _Held(threading.Lock())

    def locked(self) -> _Held:
        return self._held

    def get(self, caller: str) -> tuple[float, float] | None:
        return self._buckets.get(caller)

    def put(self, caller: str, tokens: float, last: float, *, idle: float) -> None:
        self._buckets[caller] = (tokens, last)
        self._buckets.move_to_end(caller)
        while len(self._buckets) > self.max_callers:  # forget the longest idle
            self._buckets.popitem(last=False)

    def __len__(self) -> int:
        return len(self._buckets)


_HEADER = 64  # the number of buckets held (int64), then padding
_SLOT = struct.Struct("<16sdd")  # caller's digest, tokens, last
_VALUES = struct.Struct("<dd")
_EMPTY = bytes(16)
_ROW = np.dtype([("key", "V16"), ("tokens", "<f8"), ("last", "<f8")])


def _digest(caller: str) -> bytes:
    """128 bits of the caller's name, never all zero (an empty slot)."""
    digest = hashlib.blake2b(caller.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    return bytes([digest[0] | 1]) + digest[1:]


class SharedBuckets:
    """The buckets in anonymous shared memory, for processes forked after it is made.

    A table of ``2 ** ceil(log2(4/3 max_callers))`` slots (32 bytes each: a 128-bit digest
    of the caller, tokens, last), linear probing; a lock made of this process's threading
    lock and a POSIX record lock on a file every worker inherited (released by the kernel
    if a worker dies holding it). Only processes *forked* from the maker share it.

    >>> buckets = SharedBuckets(max_callers=4)
    >>> with buckets.locked():
    ...     buckets.put("key", 2.5, 100.0, idle=1.0)
    ...     buckets.get("key"), buckets.get("other"), len(buckets)
    ((2.5, 100.0), None, 1)
    """

    def __init__(self, max_callers: int = 100_000) -> None:
        if max_callers < 1:
            raise ValueError(f"max_callers must be at least 1, got {max_callers}")
        self.max_callers = max_callers
        self.slots = 1 << max(3, (4 * max_callers // 3 + 1).bit_length())
        self._mask = self.slots - 1
        self._memory = mmap.mmap(-1, _HEADER + self.slots * _SLOT.size)  # MAP_SHARED
        self._lockfile = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the table
        self._held = _Held(threading.Lock(), self._lockfile.fileno())

    def locked(self) -> _Held:
        return self._held

    def __len__(self) -> int:
        return int(struct.unpack_from("<q", self._memory, 0)[0])

    def _find(self, digest: bytes) -> tuple[int, bool]:
        """(offset of the caller's slot or of the empty slot where it would go, found)."""
        # the slot from bytes 8..16: byte 0 is forced odd (see _digest)
        memory, i = self._memory, int.from_bytes(digest[8:16], "little") & self._mask
        while True:
            offset = _HEADER + i * _SLOT.size
            key = memory[offset : offset + 16]
            if key == digest:
                return offset, True
            if key == _EMPTY:
                return offset, False
            i = (i + 1) & self._mask

    def get(self, caller: str) -> tuple[float, float] | None:
        offset, found = self._find(_digest(caller))
        if not found:
            return None
        tokens, last = _VALUES.unpack_from(self._memory, offset + 16)
        return tokens, last

    def put(self, caller: str, tokens: float, last: float, *, idle: float) -> None:
        digest = _digest(caller)
        offset, found = self._find(digest)
        if not found:
            if len(self) >= self.max_callers:
                self._forget(now=last, idle=idle)
                offset, _ = self._find(digest)
            struct.pack_into("<q", self._memory, 0, len(self) + 1)
        _SLOT.pack_into(self._memory, offset, digest, tokens, last)

    def _forget(self, now: float, idle: float) -> None:
        """Drop every bucket untouched for ``idle`` seconds (full again: the same as none);
        if more than half the callers remain, keep the half most recently touched. The
        table is rebuilt (a deletion in linear probing would break other callers' runs)."""
        table = np.frombuffer(self._memory, dtype=_ROW, count=self.slots, offset=_HEADER)
        used = table[table["key"] != np.void(_EMPTY)]
        kept = used[used["last"] > now - idle]
        if len(kept) > self.max_callers // 2:
            kept = kept[np.argsort(kept["last"], kind="stable")[len(kept) - self.max_callers // 2:]]
        kept = kept.copy()
        table[:] = np.zeros(1, dtype=_ROW)
        del table  # the memory may not stay exported
        for row in kept:
            digest = row["key"].tobytes()
            offset, _ = self._find(digest)
            _SLOT.pack_into(self._memory, offset, digest, float(row["tokens"]),
                            float(row["last"]))
        struct.pack_into("<q", self._memory, 0, len(kept))


class SharedLimits:
    """The four tables ``ocrr serve --workers N`` shares between its workers: requests per
    key, failed authentications per address, texts and characters per key."""

    def __init__(self, max_callers: int = 100_000) -> None:
        self.requests = SharedBuckets(max_callers)
        self.failures = SharedBuckets(max_callers)
        self.texts = SharedBuckets(max_callers)
        self.chars = SharedBuckets(max_callers)
