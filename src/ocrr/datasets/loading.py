"""Resolve a dataset argument: a built-in name, or a folder with ``train.csv`` and ``test.csv``."""

from __future__ import annotations

import io
from pathlib import Path

from ocrr.datasets.base import Dataset, DatasetError, Split
from ocrr.datasets.builtin import BUILTIN
from ocrr.datasets.csvsplit import read_csv_split

__all__ = ["available_datasets", "load_dataset", "read_csv_split", "read_folder"]


def available_datasets() -> list[str]:
    return sorted(BUILTIN)


def load_dataset(name_or_path: str | Path) -> Dataset:
    """Load a built-in dataset by name, or a user's folder of ``train.csv`` / ``test.csv``."""
    key = str(name_or_path)
    if key in BUILTIN:
        return BUILTIN[key].loader()
    path = Path(key).expanduser()
    if path.is_dir():
        return read_folder(path)
    raise DatasetError(
        f"unknown dataset {key!r}: not a built-in name ({', '.join(available_datasets())}) "
        "and not a folder holding train.csv and test.csv"
    )


def read_folder(folder: str | Path) -> Dataset:
    """Read ``train.csv`` and ``test.csv`` (UTF-8, columns ``text,label``) from a folder."""
    folder = Path(folder)
    splits: dict[str, Split] = {}
    for part in ("train", "test"):
        path = folder / f"{part}.csv"
        if not path.is_file():
            raise DatasetError(f"{path}: file not found (a dataset folder needs {part}.csv)")
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            row = raw[: err.start].count(b"\n") + 1
            raise DatasetError(
                f"{path}, row {row}: not valid UTF-8 (byte 0x{raw[err.start]:02x} at offset "
                f"{err.start}); save the file as UTF-8"
            ) from None
        splits[part] = read_csv_split(io.StringIO(text, newline=""), source=str(path))
    known = set(splits["train"].labels)
    if len(known) < 2:
        raise DatasetError(f"{folder / 'train.csv'}: needs at least 2 classes, found {len(known)}")
    for row, label in enumerate(splits["test"].labels, start=2):
        if label not in known:
            raise DatasetError(
                f"{folder / 'test.csv'}, row {row}: class {label!r} has no training rows "
                "in train.csv"
            )
    return Dataset(folder.name, splits["train"], splits["test"])
