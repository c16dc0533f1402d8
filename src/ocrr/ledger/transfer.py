"""Export and import: a ledger as JSON lines, verifiable by anyone, loadable into any store.

Why JSON lines of the *stored* form: the file is the ledger as hashed, so an auditor can
re-hash every line with nothing but docs/architecture.md, and importing it reproduces the
same hashes, chain and Merkle root in another store (SQLite to PostgreSQL, say). Sealed
entries stay sealed and subject keys are never exported: an export holds no personal data in
clear, and an erased subject stays erased in every copy made after the erasure.

The first line is a header (``format``, ``version``, ``size``, ``root_hash``); then one entry
per line: ``seq``, ``created_at_ns``, ``kind``, ``label``, ``vector`` (base64 of the
little-endian float32 values), ``text``, ``provenance``, ``prev_hash``, ``entry_hash`` (hex).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Iterator
from typing import IO, Any

import numpy as np

from ocrr.ledger.entry import Entry, Provenance
from ocrr.ledger.ledger import Ledger, LedgerError

FORMAT = "ocrr-ledger-export"
VERSION = 1


def entry_to_dict(entry: Entry) -> dict[str, object]:
    stored = entry.stored()
    return {
        "seq": stored.seq,
        "created_at_ns": stored.created_at_ns,
        "kind": stored.kind,
        "label": stored.label,
        "vector": base64.b64encode(stored.vector.astype("<f4").tobytes()).decode("ascii"),
        "text": stored.text,
        "provenance": dict(stored.provenance),
        "prev_hash": stored.prev_hash.hex(),
        "entry_hash": stored.entry_hash.hex(),
    }


def entry_from_dict(data: dict[str, Any]) -> Entry:
    try:
        vector = np.frombuffer(base64.b64decode(str(data["vector"]), validate=True), "<f4")
        provenance = data["provenance"]
        if not isinstance(provenance, dict):
            raise ValueError("provenance is not an object")
        return Entry(
            int(data["seq"]),
            int(data["created_at_ns"]),
            str(data["kind"]),
            str(data["label"]),
            vector,
            None if data["text"] is None else str(data["text"]),
            Provenance({str(k): str(v) for k, v in provenance.items()}),
            bytes.fromhex(str(data["prev_hash"])),
            bytes.fromhex(str(data["entry_hash"])),
        )
    except (KeyError, TypeError, ValueError, binascii.Error) as err:
        raise LedgerError(f"not an exported entry: {err}") from None


def export_jsonl(ledger: Ledger, out: IO[str]) -> int:
    """Write the header and every stored entry; return the number of entries."""
    head = ledger.tree_head()
    header = {"format": FORMAT, "version": VERSION, "size": head.size,
              "root_hash": head.root_hash.hex()}
    out.write(json.dumps(header) + "\n")
    count = 0
    for entry in ledger.store.read(0, head.size):
        if not isinstance(entry, Entry):
            raise LedgerError(f"entry {entry.seq} is corrupt: {entry.reason}")
        out.write(json.dumps(entry_to_dict(entry), ensure_ascii=False) + "\n")
        count += 1
    return count


def read_jsonl(lines: Iterable[str]) -> tuple[dict[str, object] | None, Iterator[Entry]]:
    """(header or None, the entries), reading lazily; errors name the line."""
    iterator = iter(enumerate(lines, start=1))
    header = None
    first: tuple[int, str] | None = None
    for number, line in iterator:
        if not line.strip():
            continue
        data = _parse(number, line)
        if data.get("format") == FORMAT:
            if data.get("version") != VERSION:
                raise LedgerError(f"line {number}: export version {data.get('version')} is "
                                  f"not supported (this OCRR reads version {VERSION})")
            header = data
        else:
            first = (number, line)
        break

    def entries() -> Iterator[Entry]:
        if first is not None:
            yield _entry(*first)
        for number, line in iterator:
            if line.strip():
                yield _entry(number, line)

    return header, entries()


def import_jsonl(ledger: Ledger, lines: Iterable[str]) -> int:
    """Append an export's entries to ``ledger``; return how many were new.

    Entries the ledger already holds (an import resumed after an interruption) are skipped
    after checking their hashes match; every new entry's hash and link are checked before it
    is written, and its header's root, if any, is checked at the end.
    """
    header, entries = read_jsonl(lines)
    have = len(ledger)

    def fresh() -> Iterator[Entry]:
        for entry in entries:
            if entry.seq < have:
                if ledger.store[entry.seq].entry_hash != entry.entry_hash:
                    raise LedgerError(f"entry {entry.seq} differs from the one the ledger "
                                      "already holds: this export is of another ledger")
                continue
            yield entry

    added = ledger.import_entries(fresh())
    if (header is not None and len(ledger) == header.get("size")
            and ledger.root().hex() != header.get("root_hash")):
        raise LedgerError("the imported ledger's Merkle root differs from the export's")
    return added


def _parse(number: int, line: str) -> dict[str, object]:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as err:
        raise LedgerError(f"line {number}: not JSON: {err}") from None
    if not isinstance(data, dict):
        raise LedgerError(f"line {number}: not a JSON object")
    return data


def _entry(number: int, line: str) -> Entry:
    try:
        return entry_from_dict(_parse(number, line))
    except LedgerError as err:
        raise LedgerError(f"line {number}: {err}") from None
