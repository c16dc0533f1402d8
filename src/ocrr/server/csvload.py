"""A labelled CSV file (``text,label``) read as a stream of upload chunks: what ``ocrr
namespace load`` and ``Client.load_csv`` send to a namespace.

Why chunks with numbers and an upload id derived from the file: memory stays flat whatever
the file's size (one chunk at a time), and a load that was interrupted is resumed by running
it again: the same file gives the same upload id and the same chunks, the namespace already
holds the first ones, and only the rest are sent.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ocrr.datasets.base import DatasetError
from ocrr.datasets.csvsplit import iter_csv_rows

CHUNK_ROWS = 1000
CHUNK_CHARS = 150_000
"""A chunk ends at this many rows or characters of text and labels, whichever comes first,
so that its request (JSON-escaped, up to 6 bytes a character) stays under the server's 1 MiB
body limit."""


@dataclass(frozen=True)
class Chunk:
    number: int
    texts: list[str]
    labels: list[str]
    last_row: int
    """The file's row number (header = 1) of the chunk's last row."""


def upload_id_of(path: str | os.PathLike[str]) -> str:
    """A stable id for a file's upload: ``csv-`` and 24 hex digits of its SHA-256."""
    with open(path, "rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    return f"csv-{digest[:24]}"


def read_chunks(
    path: str | os.PathLike[str], *, rows: int = CHUNK_ROWS, chars: int = CHUNK_CHARS,
    text_column: str = "text", label_column: str = "label",
) -> Iterator[Chunk]:
    """The file's rows in chunks, validated as the dataset loader does (errors name the file
    and the row; the file must be UTF-8).

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "a.csv").write_text("text,label\\nhi,greet\\nbye,leave\\nyo,greet\\n")
    >>> [(c.number, c.labels, c.last_row) for c in read_chunks(folder / "a.csv", rows=2)]
    [(0, ['greet', 'leave'], 3), (1, ['greet'], 4)]
    """
    source = str(path)
    if not Path(path).is_file():
        raise DatasetError(f"{source}: file not found")
    texts: list[str] = []
    labels: list[str] = []
    size, number, last = 0, 0, 1
    with open(path, encoding="utf-8-sig", newline="") as handle:
        try:
            for row, text, label in iter_csv_rows(handle, source=source,
                                                  text_column=text_column,
                                                  label_column=label_column):
                if texts and (len(texts) >= rows or size + len(text) + len(label) > chars):
                    yield Chunk(number, texts, labels, last)
                    texts, labels, size, number = [], [], 0, number + 1
                texts.append(text)
                labels.append(label)
                size += len(text) + len(label)
                last = row
        except UnicodeDecodeError as err:
            raise DatasetError(
                f"{source}, after row {last}: not valid UTF-8 (byte 0x{err.object[err.start]:02x})"
                "; save the file as UTF-8"
            ) from None
    if texts:
        yield Chunk(number, texts, labels, last)
