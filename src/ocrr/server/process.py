"""A server in a child process on a loopback port: for ``ocrr load`` and the tests that
need real processes (two replicas on one ledger; ``kill -9`` under load).

Why a real process and not an in-process app: what those checks are about (a second
process's corrections reaching this one; a crash losing nothing acknowledged) only exists
between processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path


def free_port() -> int:
    """A loopback port that stays reserved for the next minute or so.

    A port only probed free (bind to 0, close) can be handed to another process before the
    server child binds it: another test worker's server, which would then answer this one's
    health check. So the port is left in TIME_WAIT (one connection to it, closed from the
    accepting side): the kernel does not hand it out to a bind to port 0 or a ``connect`` while
    TIME_WAIT lasts (60 s on Linux), and uvicorn, binding with ``SO_REUSEADDR``, can take it.

    >>> port = free_port()
    >>> probe = socket.socket()
    >>> probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    >>> probe.bind(("127.0.0.1", port))  # what the server does: allowed
    >>> probe.close()
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        address = listener.getsockname()
        with socket.create_connection(address):
            accepted, _ = listener.accept()
            accepted.close()  # the accepting side closes first: TIME_WAIT is on our port
        return int(address[1])


class ServerProcess:
    """``ocrr serve`` as a child process on 127.0.0.1."""

    def __init__(
        self,
        where: str,
        *,
        encoder: str = "default",
        encoder_factory: str | None = None,
        extra_args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        log_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.where = where
        self.encoder = encoder
        self.encoder_factory = encoder_factory
        self.extra_args = list(extra_args)
        self.env = env
        self.log_path = Path(log_path) if log_path is not None else None
        self.port: int | None = None
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        location = ["--database", self.where] if self.where.startswith(
            ("postgresql://", "postgres://")) else ["--data", self.where]
        command = [sys.executable, "-m", "ocrr.cli.main", "serve", *location,
                   "--host", "127.0.0.1", "--port", str(self.port)]
        if self.encoder_factory:
            command += ["--encoder-factory", self.encoder_factory]
        else:
            command += ["--encoder", self.encoder]
        return command + self.extra_args

    def start(self, timeout: float = 180.0, attempts: int = 3) -> ServerProcess:
        """Start and wait until ``/v1/health`` answers (the model is loaded by then)."""
        for attempt in range(attempts):
            self.port = free_port()
            log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
            try:
                self.process = subprocess.Popen(
                    self.command(), stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                    env={**os.environ, **(self.env or {})},
                )
            finally:
                if not isinstance(log, int):
                    log.close()
            if self._wait_ready(timeout):
                return self
            self.kill()
            if attempt == attempts - 1:
                tail = self.log_path.read_text()[-2000:] if self.log_path else ""
                raise RuntimeError(f"the server did not start: {self.command()}\n{tail}")
        return self

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                return False  # exited (a taken port, say)
            with contextlib.suppress(OSError, ValueError), urllib.request.urlopen(
                self.url + "/v1/health", timeout=2
            ) as answer:
                if json.loads(answer.read()).get("status") == "ok":
                    return True
            time.sleep(0.1)
        return False

    @property
    def pid(self) -> int:
        """The running server's process id (for CPU accounting); raises before ``start``."""
        if self.process is None:
            raise RuntimeError("the server process is not started: call start() first")
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush; what a crash or ``kill -9`` does."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def __enter__(self) -> ServerProcess:
        return self.start() if self.process is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()
