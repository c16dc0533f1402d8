"""The load generator behind ``ocrr load``: concurrent clients against a server on loopback.

Why a bare HTTP/1.1 client over asyncio streams: the load generator shares the machine with
the server, so it must cost as little CPU per request as possible; a keep-alive connection
per simulated client and a few lines of parsing do. Every loop is bounded by a duration
and a request count, and only ``127.0.0.1`` is ever addressed.

A run has two phases: predictions alone (``clients`` concurrent single-text requests), then
the same with ``correctors`` clients appending corrections as fast as they are acknowledged.
Afterwards the ledger is read back: it must hold exactly the acknowledged corrections (by
sequence number, text and label), and verification must pass. :func:`run_flood` measures
another key's latency while one key floods the encoder with maximal batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import numpy as np


class HttpError(Exception):
    pass


class Connection:
    """One keep-alive HTTP/1.1 connection (JSON in, JSON out)."""

    def __init__(self, host: str, port: int, key: str) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"the load generator only targets loopback, not {host!r}")
        self.host, self.port, self.key = host, port, key
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)

    async def request(self, method: str, path: str, body: object | None = None) -> tuple[int,
                                                                                         object]:
        if self._writer is None:
            await self._open()
        assert self._reader is not None and self._writer is not None
        payload = b"" if body is None else json.dumps(body).encode()
        head = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n"
                f"Authorization: Bearer {self.key}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\n\r\n")
        try:
            self._writer.write(head.encode() + payload)
            await self._writer.drain()
            status, data = await self._response()
        except (OSError, asyncio.IncompleteReadError, HttpError):
            await self.close()
            raise
        return status, data

    async def _response(self) -> tuple[int, object]:
        assert self._reader is not None
        raw = await self._reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        try:
            status = int(lines[0].split(" ", 2)[1])
        except (IndexError, ValueError):
            raise HttpError(f"bad status line {lines[0]!r}") from None
        headers = {}
        for header in lines[1:]:
            if ":" in header:
                name, value = header.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await self._reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                line = await self._reader.readuntil(b"\r\n")
                size = int(line.split(b";")[0].strip(), 16)
                chunk = await self._reader.readexactly(size + 2)  # data, then CRLF
                if size == 0:
                    break
                body += chunk[:-2]
        else:
            body = b""
        if headers.get("connection", "").lower() == "close":
            await self.close()
        ctype = headers.get("content-type", "")
        return status, json.loads(body) if body and ctype.startswith("application/json") else body

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        self._reader = self._writer = None


@dataclass
class PhaseResult:
    name: str
    seconds: float = 0.0
    predict_latencies: list[float] = field(default_factory=list)
    predict_errors: int = 0
    correction_latencies: list[float] = field(default_factory=list)
    correction_errors: int = 0
    acknowledged: list[tuple[int, str, str]] = field(default_factory=list)
    """(seq, text, label) of every correction answered 201."""
    statuses: dict[int, int] = field(default_factory=dict)
    server_cpu: float | None = None
    """CPU seconds the server process used during the phase (where /proc says)."""
    client_cpu: float = 0.0
    """CPU seconds this load generator used during the phase."""

    @property
    def predictions_per_second(self) -> float:
        return len(self.predict_latencies) / self.seconds if self.seconds else 0.0

    @property
    def corrections_per_second(self) -> float:
        return len(self.correction_latencies) / self.seconds if self.seconds else 0.0

    def percentile(self, q: float, corrections: bool = False) -> float:
        values = self.correction_latencies if corrections else self.predict_latencies
        return float(np.percentile(values, q)) * 1000 if values else float("nan")

    @property
    def server_cpu_ms_per_request(self) -> float | None:
        """Server CPU per answered request: what an idle machine's cores would spend."""
        answered = len(self.predict_latencies) + len(self.correction_latencies)
        if self.server_cpu is None or not answered:
            return None
        return 1000 * self.server_cpu / answered

    def lines(self) -> list[str]:
        out = [
            f"{self.name}: {len(self.predict_latencies)} predictions in {self.seconds:.1f} s = "
            f"{self.predictions_per_second:.1f}/s; latency p50 {self.percentile(50):.1f} ms, "
            f"p99 {self.percentile(99):.1f} ms; errors {self.predict_errors}",
        ]
        if self.server_cpu is not None:
            out.append(
                f"  CPU: server {self.server_cpu:.1f} s "
                f"({self.server_cpu_ms_per_request:.1f} ms a request), load generator "
                f"{self.client_cpu:.1f} s, over {self.seconds:.1f} s of wall time"
            )
        if self.correction_latencies or self.correction_errors:
            out.append(
                f"  corrections: {len(self.correction_latencies)} acknowledged = "
                f"{self.corrections_per_second:.1f}/s; latency p50 "
                f"{self.percentile(50, True):.1f} ms, p99 {self.percentile(99, True):.1f} ms; "
                f"errors {self.correction_errors}"
            )
        return out


async def _timed(conn: Connection, path: str, body: object) -> tuple[int | None, object, float]:
    """POST ``body`` to ``path``: (status, data, seconds). Where the connection fails the
    status is None, after a short pause (the server is gone: a client must not spin)."""
    started = time.perf_counter()
    try:
        status, data = await conn.request("POST", path, body)
    except (OSError, asyncio.IncompleteReadError, HttpError):
        await asyncio.sleep(0.05)
        return None, None, 0.0
    return status, data, time.perf_counter() - started


def _target(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname is None:
        raise ValueError(f"expected http://127.0.0.1:PORT, got {url!r}")
    return parts.hostname, parts.port or 80


async def run_phase(
    url: str,
    key: str,
    namespace: str,
    *,
    name: str,
    clients: int,
    duration: float,
    max_requests: int,
    texts: Sequence[str],
    corrections: Sequence[tuple[str, str]] = (),
    correctors: int = 0,
    actor: str = "ocrr-load",
    stop: asyncio.Event | None = None,
    server_pid: int | None = None,
    client_keys: Sequence[str] = (),
) -> PhaseResult:
    """``clients`` closed-loop predictors (and ``correctors`` correctors) for ``duration``
    seconds or ``max_requests`` predictions, whichever comes first. Predictor i uses
    ``client_keys[i % len(client_keys)]`` where given (each client its own key, as
    separate clients have: one key's rate limit then does not cap the server), else
    ``key``, which the correctors use."""
    host, port = _target(url)
    result = PhaseResult(name)
    deadline = time.perf_counter() + duration
    issued = 0
    next_correction = 0
    base = f"/v1/namespaces/{namespace}"

    def more() -> bool:
        stopped = stop is not None and stop.is_set()
        return not stopped and time.perf_counter() < deadline and issued < max_requests

    async def predictor(i: int) -> None:
        nonlocal issued
        conn = Connection(host, port, client_keys[i % len(client_keys)] if client_keys else key)
        try:
            while more():
                text = texts[(issued * 7919 + i) % len(texts)]
                issued += 1
                status, _, seconds = await _timed(conn, base + "/predict", {"text": text})
                if status is None:
                    result.predict_errors += 1
                    continue
                result.statuses[status] = result.statuses.get(status, 0) + 1
                if status == 200:
                    result.predict_latencies.append(seconds)
                else:
                    result.predict_errors += 1
        finally:
            await conn.close()

    async def corrector() -> None:
        nonlocal next_correction
        conn = Connection(host, port, key)
        try:
            while more() and next_correction < len(corrections):
                text, label = corrections[next_correction]
                next_correction += 1
                status, data, seconds = await _timed(
                    conn, base + "/corrections", {"text": text, "label": label, "actor": actor})
                if status == 201 and isinstance(data, dict):
                    result.correction_latencies.append(seconds)
                    result.acknowledged.append((int(data["seq"]), text, label))
                else:
                    result.correction_errors += 1
        finally:
            await conn.close()

    cpu_before, own_before = process_cpu(server_pid), time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*[predictor(i) for i in range(clients)],
                         *[corrector() for _ in range(correctors)])
    result.seconds = time.perf_counter() - started
    cpu_after = process_cpu(server_pid)
    if cpu_before is not None and cpu_after is not None:
        result.server_cpu = cpu_after - cpu_before
    result.client_cpu = time.process_time() - own_before
    return result


def process_cpu(pid: int | None) -> float | None:
    """User + system CPU seconds of process ``pid``, its threads and its live child
    processes (``ocrr serve --workers N``'s workers), from Linux's /proc."""
    if pid is None:
        return None
    own = _stat_cpu(pid)
    if own is None:
        return None
    return own + sum(_stat_cpu(child) or 0.0 for child in _children(pid))


def _stat_cpu(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    """Process ids of ``pid``'s live children (every thread's list, Linux 3.5+)."""
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as listed:
                found += [int(c) for c in listed.read().split()]
    except OSError:
        return found
    return found


async def request_json(url: str, key: str, method: str, path: str,
                       body: object | None = None) -> object:
    host, port = _target(url)
    conn = Connection(host, port, key)
    try:
        status, data = await conn.request(method, path, body)
    finally:
        await conn.close()
    if status >= 400:
        raise HttpError(f"{method} {path}: {status} {data!r}")
    return data


@dataclass(frozen=True)
class LedgerCheck:
    """What the ledger holds against what was acknowledged."""

    actor: str
    found: int
    acknowledged: int
    missing: int
    unacknowledged: int
    different: int
    verified: bool
    size: int
    reason: str

    @property
    def exact(self) -> bool:
        """Exactly the acknowledged corrections, and verification passes."""
        return self.verified and not (self.missing or self.unacknowledged or self.different)

    @property
    def durable(self) -> bool:
        """Every acknowledged correction is there (an unanswered one may be too: it was in
        flight when the server died), and verification passes."""
        return self.verified and not (self.missing or self.different)

    @property
    def message(self) -> str:
        verdict = "passed" if self.verified else f"FAILED: {self.reason}"
        return (f"ledger holds {self.found} corrections by {self.actor}: {self.acknowledged} "
                f"acknowledged, {self.missing} missing, {self.unacknowledged} unacknowledged, "
                f"{self.different} different; verification {verdict} over {self.size} "
                "entries")


async def ledger_check(url: str, key: str, namespace: str, actor: str,
                       acknowledged: Sequence[tuple[int, str, str]]) -> LedgerCheck:
    """Read every entry back and compare the corrections by ``actor`` with the acknowledged
    ones (sequence number, text, label); then verify."""
    base = f"/v1/namespaces/{namespace}"
    found: dict[int, tuple[str, str]] = {}
    start: int | None = 0
    while start is not None:
        page = await request_json(url, key, "GET", f"{base}/entries?start={start}&limit=500")
        assert isinstance(page, dict)
        for entry in page["entries"]:
            if entry["kind"] == "example" and entry["provenance"].get("actor") == actor:
                found[int(entry["seq"])] = (entry["text"], entry["label"])
        start = page["next"]
    expected = {seq: (text, label) for seq, text, label in acknowledged}
    verification = await request_json(url, key, "GET", f"{base}/verify")
    assert isinstance(verification, dict)
    return LedgerCheck(
        actor=actor, found=len(found), acknowledged=len(expected),
        missing=len(set(expected) - set(found)), unacknowledged=len(set(found) - set(expected)),
        different=sum(expected[s] != found[s] for s in set(expected) & set(found)),
        verified=bool(verification["ok"]), size=int(verification["size"]),
        reason=str(verification["reason"]),
    )


@dataclass
class FloodResult:
    """One key flooding the encoder with maximal batches while another key predicts."""

    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    """The other key's single-text predictions answered 200, in seconds."""
    errors: int = 0
    batches_accepted: int = 0
    batches_refused: int = 0
    """Flood batches answered 429 (its budget): the flooder waits ``Retry-After``."""
    batch_latencies: list[float] = field(default_factory=list)

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) * 1000 if self.latencies else float("nan")

    def lines(self, texts: int, chars: int) -> list[str]:
        rate = len(self.latencies) / self.seconds if self.seconds else 0.0
        flood_p50 = (float(np.percentile(self.batch_latencies, 50))
                     if self.batch_latencies else float("nan"))
        return [
            f"flood phase: one key sent batches of {texts} texts of {chars} characters: "
            f"{self.batches_accepted} answered (p50 {flood_p50:.1f} s), "
            f"{self.batches_refused} refused 429 (over its budget)",
            f"  another key's single texts meanwhile: {len(self.latencies)} in "
            f"{self.seconds:.1f} s = {rate:.1f}/s; latency p50 {self.percentile(50):.1f} ms, "
            f"p99 {self.percentile(99):.1f} ms (target < 500 ms); errors {self.errors}",
        ]


def flood_texts(texts: Sequence[str], count: int, chars: int) -> list[str]:
    """``count`` distinct texts of exactly ``chars`` characters, made of ``texts``."""
    out = []
    for i in range(count):
        words, j = [f"flood {i}:"], i
        while sum(len(w) + 1 for w in words) < chars:
            words.append(texts[j % len(texts)])
            j += 7
        out.append(" ".join(words)[:chars])
    return out


async def run_flood(
    url: str,
    flood_key: str,
    key: str,
    namespace: str,
    *,
    duration: float,
    texts: Sequence[str],
    flooders: int = 2,
    batch_texts: int = 256,
    batch_chars: int = 4_000,
    head_start: float = 1.0,
) -> FloodResult:
    """``flooders`` connections with ``flood_key`` send maximal ``/predict/batch`` requests
    back to back (honouring ``Retry-After`` when refused, as a batch job would); after
    ``head_start`` seconds one client with ``key`` predicts single texts for ``duration``
    seconds. Returns the second key's latencies and what became of the flood."""
    host, port = _target(url)
    result = FloodResult()
    batch = flood_texts(texts, batch_texts, batch_chars)
    path = f"/v1/namespaces/{namespace}"
    done = asyncio.Event()

    async def flooder(i: int) -> None:
        conn = Connection(host, port, flood_key)
        try:
            while not done.is_set():
                status, _, seconds = await _timed(conn, path + "/predict/batch", {"texts": batch})
                if status is None:
                    continue
                if status == 200:
                    result.batches_accepted += 1
                    result.batch_latencies.append(seconds)
                elif status == 429:
                    result.batches_refused += 1
                    await _sleep_unless(done, 1.0)  # Retry-After is whole seconds, >= 1
                else:
                    await asyncio.sleep(0.05)
        finally:
            await conn.close()

    async def other() -> None:
        await asyncio.sleep(head_start)
        conn = Connection(host, port, key)
        deadline = time.perf_counter() + duration
        started_all = time.perf_counter()
        i = 0
        try:
            while time.perf_counter() < deadline:
                text = texts[(i * 7919) % len(texts)]
                i += 1
                status, _, seconds = await _timed(conn, path + "/predict", {"text": text})
                if status == 200:
                    result.latencies.append(seconds)
                else:
                    result.errors += 1
                if status is not None:  # after a failed connection _timed has paused
                    await asyncio.sleep(0.02)  # a chat user, not a second flood
        finally:
            result.seconds = time.perf_counter() - started_all
            done.set()
            await conn.close()

    flooding = [asyncio.ensure_future(flooder(i)) for i in range(flooders)]
    await other()
    for task in flooding:  # a batch in flight is abandoned: its connection closes
        task.cancel()
    await asyncio.gather(*flooding, return_exceptions=True)
    return result


async def _sleep_unless(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)
