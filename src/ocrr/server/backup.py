"""Copies of a service's state: a whole data folder (backup and restore, while the server
runs) and one namespace as one file (export and import).

Why SQLite's online backup API: it copies a consistent snapshot of a database that other
connections keep writing (the server's), page by page, without stopping them; the copy is
the database as of one committed transaction, so every ledger in it verifies and holds
every correction acknowledged before that moment. Each ledger's size and Merkle root at the
copy are written to ``MANIFEST.json`` beside the copies, and a restore checks them.

PostgreSQL deployments back up with the database's own tools (``pg_dump``; see
docs/architecture.md, "Backups"): this module handles the data folder.

With subject keys in a separate folder (``--keys-dir``), each namespace's key file is copied
into ``keys/`` of the backup while that ledger's write lock is held, then the ledger: so
every sealed entry in the copy has its key in the copy (keys are written before their
entries), and a key an erasure destroys later is shredded again when the restored ledger
opens (its tombstone is in the copy). Writers wait for the two copies (a few ms to seconds;
their busy timeout is 30 s). The two must be restored together to read sealed texts.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ocrr.ledger import Ledger, LedgerError
from ocrr.ledger.keys import SubjectKey
from ocrr.ledger.transfer import export_jsonl, import_jsonl
from ocrr.server.registry import Registry

MANIFEST = "MANIFEST.json"
EXPORT_FORMAT = "ocrr-namespace-export"
PG_DUMP_HINT = (
    "a PostgreSQL deployment is backed up with pg_dump: pg_dump --format=custom "
    "--schema='ocrr_*' -f ocrr.dump URL (the registry and every namespace's schema, one "
    "consistent snapshot), restored with pg_restore --dbname URL ocrr.dump"
)


class BackupError(Exception):
    """A backup, restore, export or import that cannot go ahead; the message says why."""


@dataclass(frozen=True)
class LedgerCopy:
    namespace: str
    size: int
    root_hash: str


def _databases(data: Path) -> Iterator[tuple[str, Path]]:
    """(relative name, path) of the registry and every namespace ledger in a data folder."""
    yield "registry.db", data / "registry.db"
    for path in sorted((data / "namespaces").glob("*.db")):
        yield f"namespaces/{path.name}", path


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30.0)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst, pages=1024)  # other writers go on between steps
    finally:
        dst.close()
        src.close()


def _key_file(folder: Path | None, ledger_name: str) -> Path | None:
    """A namespace's key file in ``folder`` (``namespaces/x.db`` -> ``x.keys.db``)."""
    return None if folder is None else folder / f"{Path(ledger_name).stem}.keys.db"


def _copy_with_keys(path: Path, target: Path, keys: Path, keys_target: Path) -> None:
    """The key file, then the ledger, both while the ledger's write lock is held."""
    lock = sqlite3.connect(path, isolation_level=None, timeout=30.0)
    try:
        lock.execute("BEGIN IMMEDIATE")  # no write starts (its keys come first) until done
        _copy(keys, keys_target)
        keys_target.chmod(0o600)
        _copy(path, target)
        lock.execute("ROLLBACK")
    finally:
        lock.close()


def backup(data: str | os.PathLike[str], dest: str | os.PathLike[str], *,
           keys_dir: str | os.PathLike[str] | None = None) -> list[LedgerCopy]:
    """Copy a data folder (the registry and every namespace's ledger) into ``dest`` with
    SQLite's online backup API, safe while a server writes to it; with ``keys_dir``, each
    namespace's separate key file too (into ``dest/keys``). Returns each ledger's size and
    root in the copy (also in ``dest/MANIFEST.json``)."""
    data, dest = Path(data), Path(dest)
    keys = None if keys_dir is None else Path(keys_dir)
    if not (data / "registry.db").is_file():
        raise BackupError(f"{data} is not an OCRR data folder (no registry.db)")
    if dest.exists() and any(dest.iterdir()):
        raise BackupError(f"{dest} exists and is not empty: back up into a new folder")
    copies = []
    for name, path in _databases(data):
        key_file, key_copy = _key_file(keys, name), _key_file(dest / "keys", name)
        if name.startswith("namespaces/") and key_file is not None and key_file.is_file():
            assert key_copy is not None
            _copy_with_keys(path, dest / name, key_file, key_copy)
        else:
            _copy(path, dest / name)
            key_copy = None
        if name.startswith("namespaces/"):
            with Ledger.open(dest / name, create=False, keys=key_copy) as ledger:
                head = ledger.tree_head()
            copies.append(LedgerCopy(Path(name).stem, head.size, head.root_hash.hex()))
    manifest = {"format": "ocrr-backup", "version": 1, "created_at_ns": time.time_ns(),
                "keys": keys is not None, "ledgers": [c.__dict__ for c in copies]}
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return copies


def restore(source: str | os.PathLike[str], data: str | os.PathLike[str], *,
            force: bool = False, keys_dir: str | os.PathLike[str] | None = None
            ) -> list[LedgerCopy]:
    """Restore a backup into data folder ``data`` (stop the server first), its key files
    into ``keys_dir`` where it holds them, then check that every ledger verifies and has the
    size and root the manifest recorded."""
    source, data = Path(source), Path(data)
    keys = None if keys_dir is None else Path(keys_dir)
    manifest_path = source / MANIFEST
    if not manifest_path.is_file():
        raise BackupError(f"{source} holds no {MANIFEST}: not a backup made by ocrr")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if manifest.get("keys") and keys is None:
        raise BackupError(f"{source} holds the namespaces' separate key files: say where "
                          "they go (--keys-dir DIR), or no sealed text can be read")
    if (data / "registry.db").exists() and not force:
        raise BackupError(f"{data} already holds a data folder: restore into a new folder, or "
                          "pass --force to replace it (stop the server first)")
    pairs = list(_databases(source))
    if keys is not None:
        keys.mkdir(parents=True, mode=0o700, exist_ok=True)
        pairs += [(f"keys/{p.name}", p) for p in sorted((source / "keys").glob("*.keys.db"))]
    for name, path in pairs:
        target = keys / Path(name).name if keys is not None and name.startswith("keys/") \
            else data / name
        for leftover in (target, Path(f"{target}-wal"), Path(f"{target}-shm")):
            leftover.unlink(missing_ok=True)
        _copy(path, target)
        if name.startswith("keys/"):
            target.chmod(0o600)
    copies = []
    for recorded in manifest["ledgers"]:
        path = data / "namespaces" / f"{recorded['namespace']}.db"
        key_file = _key_file(keys, path.name) if manifest.get("keys") else None
        key_file = key_file if key_file is not None and key_file.is_file() else None
        with Ledger.open(path, create=False, keys=key_file) as ledger:
            check = ledger.verify()
            head = ledger.tree_head()
        if not check.ok:
            raise BackupError(f"{path}: the restored ledger does not verify: {check.reason}")
        if (head.size, head.root_hash.hex()) != (recorded["size"], recorded["root_hash"]):
            raise BackupError(f"{path}: size {head.size} and root differ from the backup's "
                              f"manifest (size {recorded['size']})")
        copies.append(LedgerCopy(recorded["namespace"], head.size, head.root_hash.hex()))
    return copies


# -- one namespace as one file ---------------------------------------------------------------
def export_namespace(registry: Registry, name: str, out: IO[str], *,
                     with_keys: bool = False) -> dict[str, Any]:
    """Write namespace ``name`` as one file: a header line (format, the namespace's
    settings, the ledger's size and root, how many subject keys follow), the ledger's
    export (stored entries: sealed ones stay sealed), then, only with ``with_keys``, one
    line per live subject key (whoever holds the file can then read those subjects'
    entries: keep it as you keep the database). Returns the header."""
    record = registry.require_namespace(name)
    store = registry.open_store(name, create=False)
    ledger = Ledger(store)
    try:
        head = ledger.tree_head()
        keys = store.export_keys() if with_keys else []
        header = {"format": EXPORT_FORMAT, "version": 1,
                  "namespace": {"name": record.name, "threshold": record.threshold,
                                "vote": record.vote, "encoder": record.encoder},
                  "size": head.size, "root_hash": head.root_hash.hex(), "keys": len(keys)}
        out.write(json.dumps(header) + "\n")
        export_jsonl(ledger, out)
        for key in keys:
            out.write(json.dumps({"subject_key": key.key_id, "subject": key.subject,
                                  "key": base64.b64encode(key.key).decode("ascii")},
                                 ensure_ascii=False) + "\n")
    finally:
        ledger.close()
    return header


def _read_keys(lines: Iterable[str], expected: int) -> list[SubjectKey]:
    keys = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            keys.append(SubjectKey(str(data["subject_key"]), str(data["subject"]),
                                   base64.b64decode(data["key"], validate=True)))
        except (ValueError, KeyError, TypeError) as err:
            raise LedgerError(f"subject key line {number}: not a key: {err}") from None
    if len(keys) != expected:
        raise LedgerError(f"the header announces {expected} subject keys, the file holds "
                          f"{len(keys)}")
    return keys


def _add_keys(ledger: Ledger, keys: list[SubjectKey]) -> None:
    """Store imported subject keys, once each one names sealed entries it opens."""
    from ocrr.ledger.entry import SEALED_KEY
    from ocrr.ledger.store import Batch

    if not keys:
        return
    sealed: dict[str, list[int]] = {}
    for entry in ledger.store.read(0, len(ledger)):
        key_id = getattr(entry, "provenance", {}).get(SEALED_KEY)
        if key_id is not None:
            sealed.setdefault(key_id, []).append(entry.seq)
    for key in keys:
        if key.key_id not in sealed:
            raise LedgerError(f"subject key {key.key_id} opens no entry of this ledger")
    ledger.store.write(lambda view: Batch([], new_keys=keys))
    reopened = Ledger(ledger.store)
    for key in keys:
        if not reopened[sealed[key.key_id][0]].readable:
            raise LedgerError(f"subject key {key.key_id} does not open its entries")


def import_namespace(registry: Registry, lines: IO[str], name: str | None = None
                     ) -> dict[str, Any]:
    """Create a namespace from an :func:`export_namespace` file (under ``name``, or the
    exported name), checking every entry's hash and link and the ledger's Merkle root
    against the header; the namespace must not exist yet. Returns the header."""
    first = lines.readline()
    try:
        header = json.loads(first)
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("format") != EXPORT_FORMAT:
        raise BackupError("line 1: not an OCRR namespace export (ocrr namespace export "
                          "writes one)")
    settings = header["namespace"]
    name = name or settings["name"]
    if registry.get_namespace(name) is not None:
        raise BackupError(f"namespace {name!r} already exists: import under another name "
                          "(--name)")
    where, _ = registry.ledger_location(name)
    ledger = Ledger(registry.open_store(name, create=True))  # a new namespace's ledger
    try:
        # the ledger's lines: its own header and its entries; the subject keys after them
        import_jsonl(ledger, itertools.islice(lines, int(header["size"]) + 1))
        if (len(ledger), ledger.root().hex()) != (header["size"], header["root_hash"]):
            raise LedgerError(f"the file holds {len(ledger)} entries with another root than "
                              f"its header's ({header['size']}): it was cut or altered")
        _add_keys(ledger, _read_keys(lines, int(header.get("keys") or 0)))
    except LedgerError as err:
        ledger.close()
        key_file = registry.keys_location(name)
        for base in (where, key_file) if key_file is not None else (where,):
            for leftover in (base, f"{base}-wal", f"{base}-shm"):
                Path(leftover).unlink(missing_ok=True)
        raise BackupError(f"import refused, nothing kept: {err}") from None
    ledger.close()
    registry.create_namespace(name, threshold=settings.get("threshold"),
                              vote=settings.get("vote") or "hybrid",
                              encoder=settings.get("encoder"))
    return header
