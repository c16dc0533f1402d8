"""Several server processes on one port: ``ocrr serve --workers N``.

Why processes: one server process is bound by its interpreter lock, so on a machine with
two cores it answers predictions on one of them (docs/results.md, "The service"). Each
worker here is a replica of the kind the service already supports (its own namespaces,
encoders and event loop over the shared data folder or database, catching up with the
others' corrections), accepting connections on the one port; the parent binds before it
forks them (a port in use is reported before any model is loaded).

A client that had a correction acknowledged by one worker may send its next request to
another: so behind workers a namespace checks the ledger's head before every answer
(``refresh_interval`` 0 unless ``--refresh-interval`` says otherwise: one indexed read, about
5 µs on SQLite), and every answer reflects every acknowledged correction, as in one process.
Thresholds set through one worker reach the others within a second and revocations within
two (the registry is re-read on those intervals).

What must not be per process is shared (:class:`WorkerShare`): the rate limits, work
budgets and the limit on failed authentications are token buckets in memory every worker
maps (:class:`ocrr.server.buckets.SharedBuckets`), so a key gets its configured rate from
the whole server, not N times it; and each worker publishes its metrics every second, so
``/metrics`` counts for the whole server whichever worker answers. What stays per worker:
recent accuracy, and the review queue and console sessions, which is why the console is
off behind workers (a browser's next connection may reach another worker): serve it from a
one-worker ``ocrr serve`` on the same data.

The parent binds, forks the workers *before* any of them builds an app (before any thread
of the server's own starts: only OpenBLAS's pool may exist, and it is fork-safe), turns
SIGINT/SIGTERM into a SIGTERM for each (a graceful shutdown), and exits when they have; on
Linux each worker is killed if the parent dies (``PR_SET_PDEATHSIG``), so ``kill -9`` of the
parent leaves no orphan serving the port. A worker that dies takes the server down with it (the
parent stops the others and exits non-zero): a supervisor (systemd, a container runtime)
restarts the whole, which rebuilds every worker from the ledger.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ocrr.server.buckets import SharedLimits

if TYPE_CHECKING:
    from ocrr.server.metrics import Metrics

_PR_SET_PDEATHSIG = 1
PUBLISH_SECONDS = 1.0
"""How often a worker publishes its metrics for the others' ``/metrics`` answers."""


@dataclass(frozen=True)
class WorkerShare:
    """What the workers of one server share, made by the parent before it forks them: the
    rate limits' tables, and a folder where each worker publishes its metrics (so any
    worker's ``/metrics`` speaks for all). ``index``: this worker's number, set in it.

    >>> share = WorkerShare.create()
    >>> first, second = share.worker(0), share.worker(1)
    >>> from ocrr.server.metrics import Metrics
    >>> counted = Metrics()
    >>> counted.predictions.inc("demo", by=4)
    >>> second.publish(counted)
    >>> [s["ocrr_predictions_total"] for s in first.published()]
    [[[['demo'], 4.0]]]
    >>> share.close()
    """

    limits: SharedLimits
    folder: Path
    index: int = 0

    @classmethod
    def create(cls) -> WorkerShare:
        """Tables for this server, and its folder under a per-user root in the temporary
        directory, named by this process's id; folders left by servers that are gone (a
        ``kill -9`` leaves its folder) are removed first."""
        return cls(SharedLimits(), _fresh_folder())

    def worker(self, index: int) -> WorkerShare:
        return replace(self, index=index)

    def publish(self, metrics: Metrics) -> None:
        """Write this worker's counts where the others read them (atomically)."""
        partial = self.folder / f".worker-{self.index}.json"
        partial.write_text(json.dumps(metrics.snapshot()))
        os.replace(partial, self.folder / f"worker-{self.index}.json")

    def published(self) -> list[dict[str, list]]:
        """Every worker's latest published counts (one not yet published is skipped).
        A scrape adds these, this worker's published just before: each part only grows
        from one scrape to the next, whichever worker answers them."""
        found = []
        for path in sorted(self.folder.glob("worker-*.json")):
            with contextlib.suppress(OSError, ValueError):
                found.append(json.loads(path.read_text()))
        return found

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _fresh_folder() -> Path:
    root = Path(tempfile.gettempdir()) / f"ocrr-workers-{os.getuid()}"
    try:
        root.mkdir(mode=0o700, exist_ok=True)
        if root.is_symlink() or root.stat().st_uid != os.getuid():
            raise OSError(f"{root} is not this user's")
    except OSError:  # not ours, or not makeable: a private folder of its own instead
        return Path(tempfile.mkdtemp(prefix="ocrr-workers-"))
    for left in root.iterdir():
        if left.name.isdigit() and not _alive(int(left.name)):
            shutil.rmtree(left, ignore_errors=True)
    folder = root / str(os.getpid())
    shutil.rmtree(folder, ignore_errors=True)  # a reused process id's leftovers
    folder.mkdir(mode=0o700)
    return folder


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def bind(host: str, port: int, workers: int, backlog: int = 2048) -> list[socket.socket]:
    """The listening sockets, one per worker: on Linux each its own, all bound to the port
    with ``SO_REUSEPORT``, so the kernel spreads new connections over the workers (one
    shared socket lets whichever worker wakes first accept a whole burst of connections:
    measured, 16 clients connecting at once mostly ended on one worker); elsewhere one
    socket they all accept from."""
    spread = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    if spread:  # first as a plain server would: a port another server holds (with or
        # without SO_REUSEPORT: a second `--workers` server too) is refused, not shared
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    sockets: list[socket.socket] = []
    try:
        for _ in range(workers if spread else 1):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if spread:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            sock.listen(backlog)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets if spread else sockets * workers


def _die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux; elsewhere a
    no-op: the parent's SIGTERM handler still stops the workers)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def run_workers(sockets: list[socket.socket], serve: Callable[[int, socket.socket], int]) -> int:
    """Fork a worker per socket of ``sockets`` (from :func:`bind`) that calls
    ``serve(its_index, its_socket)`` (build an app, serve it, return an exit code); wait
    for them and return the worst exit code. The caller must not have started threads."""
    parent = os.getpid()
    children: list[int] = []
    for index, own in enumerate(sockets):
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                _die_with_parent()
                if os.getppid() != parent:  # the parent died before the request took
                    os._exit(1)
                for signum in (signal.SIGINT, signal.SIGTERM):
                    signal.signal(signum, signal.SIG_DFL)
                for other in sockets:
                    if other is not own:
                        other.close()
                code = serve(index, own)
            except SystemExit as stop:
                code = stop.code if isinstance(stop.code, int) else 0 if stop.code is None else 1
            except BaseException:  # noqa: BLE001 - report, then leave without the parent's cleanup
                import traceback

                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        children.append(pid)
    for sock in sockets:
        sock.close()  # the parent only supervises
    return _supervise(children)


def _supervise(children: list[int]) -> int:
    """Forward SIGINT/SIGTERM to the workers; when one exits, stop the others; return the
    worst exit code (0 only if every worker exited cleanly)."""
    stopping = False

    def forward(signum: int, _frame: object) -> None:
        # always SIGTERM: a terminal's Ctrl-C has already sent each worker a SIGINT, and
        # uvicorn takes a second SIGINT as "skip the graceful shutdown"
        nonlocal stopping
        stopping = True
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    worst = 0
    try:
        alive = set(children)
        while alive:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            if pid not in alive:
                continue
            alive.discard(pid)
            code = os.waitstatus_to_exitcode(status)
            if code != 0 and not (stopping and code in (-signal.SIGINT, -signal.SIGTERM)):
                worst = worst or (code if code > 0 else 1)
            if not stopping:  # a worker left on its own: take the server down with it
                print(f"ocrr serve: worker {pid} exited ({code}); stopping the others",
                      file=sys.stderr, flush=True)
                forward(signal.SIGTERM, None)
                worst = worst or 1
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return worst
