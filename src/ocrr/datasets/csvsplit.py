"""One CSV split (``text,label``) parsed into a :class:`~ocrr.datasets.base.Split`, with errors
that name the file and row: what the built-in Banking77 loader, user folders and ``ocrr
namespace load`` share. :func:`iter_csv_rows` streams the rows (a file of any size in
constant memory); :func:`read_csv_split` collects them."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import TextIO

from ocrr.datasets.base import DatasetError, Split


def iter_csv_rows(
    handle: TextIO, *, source: str, text_column: str = "text", label_column: str = "label"
) -> Iterator[tuple[int, str, str]]:
    """``(row number, text, label)`` for each data row, read as it is needed; rows are
    numbered as a spreadsheet shows them (header = row 1). Raises :class:`DatasetError`
    naming ``source`` and the row at the first bad one (and for a file with no data rows).

    >>> import io
    >>> list(iter_csv_rows(io.StringIO("label,text\\nfx,euro rate?\\n"), source="a.csv"))
    [(2, 'euro rate?', 'fx')]
    >>> list(iter_csv_rows(io.StringIO("text,label\\nhello,\\n"), source="a.csv"))
    Traceback (most recent call last):
    ...
    ocrr.datasets.base.DatasetError: a.csv, row 2: empty 'label'
    """
    reader = csv.reader(handle)
    try:
        header = next(reader)
    except StopIteration:
        raise DatasetError(f"{source}: empty file (expected a header row)") from None
    except csv.Error as err:
        raise DatasetError(f"{source}, row 1: {err}") from None
    header = [name.strip().lstrip("\ufeff") for name in header]
    missing = [c for c in (text_column, label_column) if c not in header]
    if missing:
        raise DatasetError(
            f"{source}: missing column {', '.join(repr(c) for c in missing)} "
            f"(header has {', '.join(repr(c) for c in header)})"
        )
    text_at, label_at = header.index(text_column), header.index(label_column)
    rows = 0
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
            rows += 1
            yield row_number, text, label
    except csv.Error as err:
        raise DatasetError(f"{source}, row {reader.line_num}: {err}") from None
    if not rows:
        raise DatasetError(f"{source}: no data rows after the header")


def read_csv_split(
    handle: TextIO, *, source: str, text_column: str = "text", label_column: str = "label"
) -> Split:
    """Parse one CSV split (see :func:`iter_csv_rows` for the rules and errors)."""
    texts: list[str] = []
    labels: list[str] = []
    for _, text, label in iter_csv_rows(handle, source=source, text_column=text_column,
                                         label_column=label_column):
        texts.append(text)
        labels.append(label)
    return Split(tuple(texts), tuple(labels))
