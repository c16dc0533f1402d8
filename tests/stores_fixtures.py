"""Fixtures for the store tests: a private PostgreSQL server, and one ledger factory per
backend (memory, sqlite, postgresql) so the same tests run against all three.

The PostgreSQL server is real: ``initdb`` into a fresh folder, ``pg_ctl start`` listening on
a unix socket in that folder only (no TCP port), stopped and deleted at the end of the
session. As root (CI), the server runs as the ``postgres`` user, since PostgreSQL refuses to
run as root. Without PostgreSQL binaries the PostgreSQL cases skip, saying why; ``.ci/run``
installs them, so they run in CI.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ocrr.ledger import Ledger, MemoryStore

BACKENDS = ["memory", "sqlite", "postgresql"]
DURABLE = ["sqlite", "postgresql"]


def pg_bin_dir() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``: on PATH, or Debian's versioned folder."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(os.path.realpath(found)).parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name)
    )
    for folder in reversed(candidates):
        if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    return None


class PostgresServer:
    """A throwaway PostgreSQL cluster on a unix socket in its own temporary folder."""

    def __init__(self, bin_dir: Path, *, durable: bool = False) -> None:
        self.bin_dir = bin_dir
        self.durable = durable  # tests run with fsync off; a benchmark wants it on
        self.root = Path(tempfile.mkdtemp(prefix="ocrr-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 5432  # only names the socket file: the socket folder is private
        self._as_postgres = os.geteuid() == 0

    def _run(self, *args: str) -> None:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        os.chmod(self.root, 0o755)
        self._run("initdb", "-D", str(self.data), "-U", "ocrr", "--auth=trust", "-E", "UTF8",
                  "--locale=C", "--no-sync")
        options = f"-k {self.root} -c listen_addresses='' -p {self.port} -c max_connections=50"
        if not self.durable:
            options += " -c fsync=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w",
                  "-t", "60", "start")

    @property
    def dsn(self) -> str:
        return f"postgresql://ocrr@/postgres?host={self.root}&port={self.port}"

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    bin_dir = pg_bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (no initdb/pg_ctl on PATH or in "
                    "/usr/lib/postgresql/*/bin); .ci/run installs it with apt-get")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("the psycopg driver is not installed: pip install 'ocrr[postgres]'")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL as postgres")
    server = PostgresServer(bin_dir)
    try:
        server.start()
    except subprocess.CalledProcessError as err:
        log = server.log.read_text() if server.log.exists() else ""
        server.stop()
        pytest.fail(f"could not start PostgreSQL: {err.stderr.decode()} {log}")
    yield server
    server.stop()


@pytest.fixture
def database(pg_server) -> str:  # noqa: ANN001
    """A fresh database on the session's PostgreSQL server (its own registry schema)."""
    import psycopg

    name = "replicas_" + uuid.uuid4().hex[:10]
    with psycopg.connect(pg_server.dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return pg_server.dsn.replace("/postgres?", f"/{name}?")


class LedgerFactory:
    """Opens (and re-opens) one ledger on one backend: the shared suite's handle."""

    def __init__(self, backend: str, where: str | None, schema: str | None) -> None:
        self.backend = backend
        self.where = where
        self.schema = schema
        self._memory = MemoryStore()
        self._opened: list[Ledger] = []

    def store(self):  # noqa: ANN201
        if self.backend == "memory":
            return self._memory
        if self.backend == "sqlite":
            from ocrr.ledger.sqlite import SQLiteStore

            return SQLiteStore(self.where)
        from ocrr.ledger.postgres import PostgresStore

        return PostgresStore(self.where, schema=self.schema)

    def open(self) -> Ledger:
        ledger = Ledger(self.store())
        self._opened.append(ledger)
        return ledger

    def close_all(self) -> None:
        for ledger in self._opened:
            ledger.close()


@pytest.fixture
def ledger_factory(request, tmp_path: Path) -> Iterator[Callable[[], Ledger]]:  # noqa: ANN001
    """A :class:`LedgerFactory` for the test's ``backend`` parameter (parametrise the test
    with ``@pytest.mark.parametrize("backend", BACKENDS)``): a fresh SQLite file, or a fresh
    schema on the session's PostgreSQL server."""
    backend = request.getfixturevalue("backend")
    where, schema = None, None
    if backend == "sqlite":
        where = str(tmp_path / "ledger.db")
    elif backend == "postgresql":
        server = request.getfixturevalue("pg_server")
        where, schema = server.dsn, "t" + uuid.uuid4().hex[:12]
    factory = LedgerFactory(backend, where, schema)
    yield factory
    factory.close_all()
