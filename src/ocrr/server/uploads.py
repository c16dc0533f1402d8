"""Uploads of fit examples: chunk bodies parsed (CSV, JSON lines, JSON), and which chunks of
which upload the ledger already holds, so that a retried chunk adds nothing.

Why the ledger is the record of what arrived: each example of a chunk carries
``provenance["upload"]`` and ``provenance["chunk"]``, written in the same transaction as the
examples, so "this chunk is in" and "its examples are in" cannot disagree, after a crash
or on another replica. :class:`ChunkIndex` reads those markers from the ledger (once, then
only what was appended since) to answer "seen before?" and an upload's progress.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import ValidationError

from ocrr.datasets.base import DatasetError
from ocrr.datasets.csvsplit import iter_csv_rows
from ocrr.ledger import EXAMPLE, Entry
from ocrr.server.errors import ApiError, InvalidRequest
from ocrr.server.lifecycle_schemas import ExampleBatchRequest, ExampleItem

CSV_TYPES = ("text/csv",)
JSONL_TYPES = ("application/x-ndjson", "application/jsonl", "application/x-jsonlines")
JSON_TYPES = ("application/json",)
UPLOAD_KEY, CHUNK_KEY = "upload", "chunk"


def _item(where: str, text: object, label: object) -> ExampleItem:
    try:
        return ExampleItem(text=text, label=label)  # type: ignore[arg-type]
    except ValidationError as err:
        problem = err.errors()[0]
        field = ".".join(map(str, problem.get("loc", ()))) or "row"
        raise InvalidRequest(f"{where}: {field}: {problem.get('msg', 'invalid')}") from None


def parse_chunk(body: bytes, content_type: str) -> ExampleBatchRequest | list[ExampleItem]:
    """The examples in a chunk body: a JSON :class:`ExampleBatchRequest`, or the rows of a
    CSV (header with ``text`` and ``label``) or JSON lines (``{"text", "label"}``) body.
    Errors name the row (CSV rows as a spreadsheet numbers them, JSON lines from 1).

    >>> [i.label for i in parse_chunk(b"text,label\\nhi there,greet\\n", "text/csv")]
    ['greet']
    >>> try:
    ...     parse_chunk(b'{"text": "hi", "label": ""}\\n', "application/x-ndjson")
    ... except InvalidRequest as err:
    ...     print(err.message)
    the JSON lines body, line 1: label: String should have at least 1 character
    """
    kind = content_type.split(";", 1)[0].strip().lower()
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        row = body[: err.start].count(b"\n") + 1
        raise InvalidRequest(f"the body is not valid UTF-8 (line {row}, byte offset "
                             f"{err.start}): save the file as UTF-8") from None
    if kind in JSON_TYPES:
        try:
            return ExampleBatchRequest.model_validate_json(text)
        except ValidationError as err:
            parts = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors()[:5]]
            raise InvalidRequest("; ".join(parts)) from None
    if kind in CSV_TYPES:
        try:
            rows = list(iter_csv_rows(io.StringIO(text, newline=""), source="the CSV body"))
        except (DatasetError, csv.Error) as err:
            raise InvalidRequest(str(err)) from None
        return [_item(f"the CSV body, row {n}", t, y) for n, t, y in rows]
    if kind in JSONL_TYPES:
        items = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except ValueError as err:
                raise InvalidRequest(f"the JSON lines body, line {number}: {err}") from None
            if not isinstance(data, dict) or set(data) - {"text", "label"}:
                raise InvalidRequest(f"the JSON lines body, line {number}: expected an object "
                                     'with "text" and "label" only')
            items.append(_item(f"the JSON lines body, line {number}", data.get("text"),
                               data.get("label")))
        if not items:
            raise InvalidRequest("the JSON lines body holds no rows")
        return items
    raise UnsupportedType(
        f"content type {kind or '(none)'!r}: send text/csv, application/x-ndjson (JSON lines) "
        "or application/json"
    )


class UnsupportedType(ApiError):
    status = 415
    code = "unsupported_media_type"


@dataclass
class ChunkRecord:
    first_seq: int
    rows: int


class ChunkIndex:
    """Which (upload, chunk) pairs a ledger holds, read from its entries' provenance.

    >>> import numpy as np
    >>> from ocrr.ledger import Ledger
    >>> ledger = Ledger()
    >>> prov = {"source": "fit", "upload": "u1", "chunk": "0"}
    >>> _ = ledger.append_many(["a", "b"], np.eye(2), provenances=[prov, prov])
    >>> index = ChunkIndex()
    >>> index.take(ledger)
    >>> index.find("u1", 0), index.find("u1", 1), index.rows("u1")
    (ChunkRecord(first_seq=0, rows=2), None, 2)
    """

    def __init__(self) -> None:
        self.uploads: dict[str, dict[int, ChunkRecord]] = {}
        self.scanned = 0  # entries read so far

    def take(self, entries: Iterable[object]) -> None:
        """Read the markers of entries appended since the last call (stored forms; a
        corrupt row, which verify reports, carries none)."""
        for entry in entries:
            if not isinstance(entry, Entry):
                self.scanned += 1
                continue
            self.scanned = entry.seq + 1
            upload = entry.provenance.get(UPLOAD_KEY)
            chunk = entry.provenance.get(CHUNK_KEY)
            if entry.kind != EXAMPLE or upload is None or chunk is None:
                continue
            chunks = self.uploads.setdefault(upload, {})
            record = chunks.get(int(chunk))
            if record is None:
                chunks[int(chunk)] = ChunkRecord(entry.seq, 1)
            else:
                record.rows += 1

    def record(self, upload: str | None, chunk: int | None, first_seq: int, rows: int) -> None:
        """Note a chunk this process just appended at ``first_seq`` (the ledger read up to
        it), instead of reading its entries back."""
        if self.scanned != first_seq:
            return  # entries in between were not read yet: take() will find this chunk too
        self.scanned = first_seq + rows
        if upload is not None and chunk is not None:
            self.uploads.setdefault(upload, {})[chunk] = ChunkRecord(first_seq, rows)

    def find(self, upload: str, chunk: int) -> ChunkRecord | None:
        return self.uploads.get(upload, {}).get(chunk)

    def rows(self, upload: str) -> int:
        return sum(r.rows for r in self.uploads.get(upload, {}).values())
