"""Moving a served namespace to another encoder (``ocrr namespace reencode``).

The ledger work is :func:`ocrr.ledger.reencode`'s; this module does it to a data folder
safely. Why a lock for the whole move: a server holding the namespace's ledger open would
go on appending corrections to the old file (its connection keeps the old file open after
it is replaced), and those would be lost to the new ledger. So the move first takes the
ledger's SQLite file in exclusive locking mode, which SQLite grants only when no other
connection has the file open: a server serving the namespace makes the move refuse at once
(stop it first), and a server that tries to open the namespace during the move waits out
SQLite's busy timeout (30 s), finds it still locked and quarantines it (503), trying again
30 s later and then refusing it (409) for as long as it runs the old encoder.

Under the lock: the old ledger is copied with SQLite's backup API into
``DATA/moving/<name>.old.db`` (its root checked equal), moved from that copy into
``DATA/moving/<name>.db``, and at the end the new ledger replaces
``DATA/namespaces/<name>.db``, the old one is kept as
``DATA/namespaces/<name>.before-reencode-<UTC time>.db`` (backed up and restored with the
others) and the registry records the new encoder. A move stopped half way (killed) leaves
the namespace as it was and its work in ``DATA/moving``: run it again and it resumes.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ocrr.ledger import Ledger, LedgerError, reencode, verify_move
from ocrr.server.registry import Registry, private_file, private_folder

if TYPE_CHECKING:
    from ocrr.encoders import Encoder


class MoveError(Exception):
    """A namespace move that cannot go ahead; the message says why and what to do."""


@dataclass(frozen=True)
class NamespaceMove:
    """Where a moved namespace's ledgers are, and what moved (``report``, ``check``)."""

    namespace: str
    encoder: str
    from_encoder: str | None
    ledger: str
    kept: str
    report: dict[str, object]
    check: dict[str, object]


def _exclusive(path: Path) -> sqlite3.Connection:
    """A connection holding ``path`` in exclusive locking mode (no other connection may
    open it until this one closes), or :class:`MoveError` if another has it open."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=0.5)
    try:
        conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("COMMIT")  # in exclusive locking mode the lock stays until close
    except sqlite3.OperationalError as err:
        conn.close()
        raise MoveError(f"{path} is open in another process ({err}): a server serving "
                        "the namespace; stop it, move, then serve with the new encoder"
                        ) from None
    return conn


def _remove(path: Path) -> None:
    for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        leftover.unlink(missing_ok=True)


def move_namespace(registry: Registry, name: str, encoder: Encoder, *,
                   batch: int = 256, actor: str | None = None) -> NamespaceMove:
    """Move namespace ``name`` of a data folder to ``encoder`` (see the module docstring);
    the new ledger is checked with :func:`~ocrr.ledger.verify_move` before it replaces the
    old one."""
    if registry.postgres:
        raise MoveError("a PostgreSQL namespace is moved with 'ocrr ledger reencode OLD "
                        "NEW' into a new schema, then the schemas renamed and the registry's "
                        "encoder set, with the servers stopped (not automated)")
    record = registry.require_namespace(name)
    identity = encoder.identity
    if record.encoder == identity:
        raise MoveError(f"namespace {name!r} already holds vectors of {identity!r}")
    live = Path(registry.ledger_location(name)[0])
    if not live.is_file():
        raise MoveError(f"namespace {name!r} has no ledger file at {live}")
    moving = registry.data_dir / "moving"
    private_folder(moving)
    old_copy, new_path = moving / f"{name}.old.db", moving / f"{name}.db"
    if _moved_to(live) == identity:  # killed after the swap, before the registry's update
        kept = _kept(live, name)
        if old_copy.exists():
            os.replace(old_copy, kept)
        registry.set_encoder(name, identity)
        raise MoveError(f"namespace {name!r} was already moved to {identity!r} (a move "
                        f"stopped before its last step): the registry now says so; the old "
                        f"ledger is {kept if kept.exists() else 'beside it'}")
    lock = _exclusive(live)
    try:
        live_root = _root_under_lock(lock)
        if old_copy.exists() and _root_of(old_copy) != live_root:
            _remove(old_copy)  # an earlier attempt's copy of another state: start again
            _remove(new_path)
        if not old_copy.exists():
            _remove(new_path)
            target = sqlite3.connect(old_copy)
            try:
                lock.backup(target)
            finally:
                target.close()
            private_file(old_copy)
        with Ledger.open(old_copy, create=False) as old:
            if old.root().hex() != live_root:
                raise MoveError("the copy of the old ledger has another root than the "
                                "ledger: nothing was changed")
            with Ledger.open(new_path) as new:
                private_file(new_path)
                report = reencode(old, new, encoder.encode, identity=identity, batch=batch,
                                  actor=actor, from_identity=record.encoder)
                check = verify_move(old, new)
                if not check.ok or not new.verify().ok:
                    raise MoveError(f"the new ledger does not check: {check.problems[:3]}; "
                                    f"nothing was changed ({new_path} kept for inspection)")
        kept = _kept(live, name)
        os.replace(new_path, live)  # the lock's connection keeps the old file open
        os.replace(old_copy, kept)
        registry.set_encoder(name, identity)
    except LedgerError as err:
        raise MoveError(f"namespace {name!r} not moved: {err}") from None
    finally:
        lock.close()
        for side in ("-wal", "-shm"):  # the old file's, none of the new one's (closed)
            Path(f"{live}{side}").unlink(missing_ok=True)
    return NamespaceMove(name, identity, record.encoder, str(live), str(kept),
                         report.as_dict(), check.as_dict())


def _root_under_lock(conn: sqlite3.Connection) -> str:
    """The Merkle root in the head record, read through the lock's own connection."""
    row = conn.execute("SELECT root FROM head").fetchone()
    if row is None:
        raise MoveError("the namespace's ledger has no head record: run 'ocrr ledger adopt' "
                        "on it first")
    return bytes(row[0]).hex()


def _root_of(path: Path) -> str:
    with Ledger.open(path, create=False, read_only=True) as ledger:
        return ledger.root().hex()


def _kept(live: Path, name: str) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return live.with_name(f"{name}.before-reencode-{stamp}.db")


def _moved_to(live: Path) -> str | None:
    """The encoder a ledger was moved to, if its first entry records a move."""
    from ocrr.ledger.move import move_record

    with Ledger.open(live, create=False, read_only=True) as ledger:
        record = move_record(ledger[0]) if len(ledger) else None
    return None if record is None else record.encoder
