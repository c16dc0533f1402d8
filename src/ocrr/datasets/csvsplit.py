"""One CSV split (``text,label``) parsed into a :class:`~ocrr.datasets.base.Split`, with errors
that name the file and row: what the built-in Banking77 loader and user folders share."""

from __future__ import annotations

import csv
from typing import TextIO

from ocrr.datasets.base import DatasetError, Split


def read_csv_split(
    handle: TextIO, *, source: str, text_column: str = "text", label_column: str = "label"
) -> Split:
    """Parse one CSV split; rows are numbered as a spreadsheet shows them (header = row 1)."""
    reader = csv.reader(handle)
    try:
        header = next(reader)
    except StopIteration:
        raise DatasetError(f"{source}: empty file (expected a header row)") from None
    except csv.Error as err:
        raise DatasetError(f"{source}, row 1: {err}") from None
    header = [name.strip() for name in header]
    missing = [c for c in (text_column, label_column) if c not in header]
    if missing:
        raise DatasetError(
            f"{source}: missing column {', '.join(repr(c) for c in missing)} "
            f"(header has {', '.join(repr(c) for c in header)})"
        )
    text_at, label_at = header.index(text_column), header.index(label_column)
    texts: list[str] = []
    labels: list[str] = []
    try:
        for row_number, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(header):
                raise DatasetError(
                    f"{source}, row {row_number}: {len(row)} fields, header has {len(header)}"
                )
            text, label = row[text_at].strip(), row[label_at].strip()
            if not text:
                raise DatasetError(f"{source}, row {row_number}: empty {text_column!r}")
            if not label:
                raise DatasetError(f"{source}, row {row_number}: empty {label_column!r}")
            texts.append(text)
            labels.append(label)
    except csv.Error as err:
        raise DatasetError(f"{source}, row {reader.line_num}: {err}") from None
    if not texts:
        raise DatasetError(f"{source}: no data rows after the header")
    return Split(tuple(texts), tuple(labels))
