"""Tree heads and Ed25519 signatures over them.

Why sign: a tree head (size, root hash, time) handed to an auditor is only evidence if the
auditor can later show *the ledger's operator* issued it. With the operator's Ed25519
signature, a head the auditor kept proves what the ledger held at that time; any later ledger
must then be consistent with it (a consistency proof), or the operator rewrote history and the
signed head shows it. The auditor pins the operator's public key once, out of band.

The signed bytes are a fixed binary layout, like the entries': the 15-byte tag
``OCRR-TREE-HEAD\\x01``, then size (unsigned 64-bit little-endian), timestamp in nanoseconds
(signed 64-bit little-endian) and the 32-byte root hash.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

TREE_HEAD_TAG = b"OCRR-TREE-HEAD\x01"
_HEAD = struct.Struct("<Qq")


class SignatureError(ValueError):
    """A tree head's signature is missing, malformed or does not verify."""


@dataclass(frozen=True)
class TreeHead:
    """What a ledger commits to at one moment: its size and Merkle root.

    Examples
    --------
    >>> import numpy as np
    >>> from ocrr.ledger import Ledger
    >>> ledger = Ledger()
    >>> _ = ledger.append("a", np.ones(2))
    >>> head = ledger.tree_head()
    >>> head.size, len(head.root_hash)
    (1, 32)
    >>> TreeHead.from_dict(head.to_dict()) == head
    True
    """

    size: int
    root_hash: bytes
    timestamp_ns: int

    def signed_bytes(self) -> bytes:
        return TREE_HEAD_TAG + _HEAD.pack(self.size, self.timestamp_ns) + self.root_hash

    def to_dict(self) -> dict[str, object]:
        return {
            "size": self.size,
            "root_hash": self.root_hash.hex(),
            "timestamp_ns": self.timestamp_ns,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TreeHead:
        root = bytes.fromhex(str(data["root_hash"]))
        if len(root) != 32:
            raise ValueError(f"root_hash has {len(root)} bytes, expected 32")
        return cls(int(data["size"]), root, int(data["timestamp_ns"]))


@dataclass(frozen=True)
class SignedTreeHead:
    """A tree head, the Ed25519 signature over its :meth:`TreeHead.signed_bytes`, and the
    raw 32-byte public key that made it (for display; trust comes from a pinned key).

    Examples
    --------
    >>> import numpy as np
    >>> from ocrr.ledger import Ledger
    >>> ledger = Ledger()
    >>> _ = ledger.append("a", np.ones(2))
    >>> key = generate_key()
    >>> signed = sign_head(ledger.tree_head(), key)
    >>> signed.verify(key.public_key()), signed.head.size
    (True, 1)
    >>> signed.verify(generate_key().public_key())  # anyone else's key: refused
    False
    """

    head: TreeHead
    signature: bytes
    public_key: bytes

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)

    def verify(self, trusted: Ed25519PublicKey | bytes) -> bool:
        """Whether the signature is valid under the ``trusted`` public key."""
        raw = raw_public_key(trusted) if isinstance(trusted, Ed25519PublicKey) else trusted
        try:
            Ed25519PublicKey.from_public_bytes(raw).verify(
                self.signature, self.head.signed_bytes()
            )
        except (InvalidSignature, ValueError):
            return False
        return True

    def to_dict(self) -> dict[str, object]:
        return {
            **self.head.to_dict(),
            "signature": self.signature.hex(),
            "public_key": self.public_key.hex(),
            "key_id": self.key_id,
        }


def key_id(public_key: bytes) -> str:
    """A short name for a public key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def sign_head(head: TreeHead, private_key: Ed25519PrivateKey) -> SignedTreeHead:
    signature = private_key.sign(head.signed_bytes())
    return SignedTreeHead(head, signature, raw_public_key(private_key.public_key()))


def head_from_dict(data: dict[str, Any]) -> TreeHead | SignedTreeHead:
    """Read a head written by ``to_dict`` (signed if it carries a signature)."""
    head = TreeHead.from_dict(data)
    if "signature" not in data:
        return head
    return SignedTreeHead(
        head, bytes.fromhex(str(data["signature"])), bytes.fromhex(str(data["public_key"]))
    )


def load_head(path: str | os.PathLike[str]) -> TreeHead | SignedTreeHead:
    return head_from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


# -- keys ----------------------------------------------------------------------------------


def generate_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def save_key_pair(private_key: Ed25519PrivateKey, prefix: str | os.PathLike[str]) -> tuple[
    Path, Path
]:
    """Write ``PREFIX.key`` (PKCS#8 PEM, mode 0600) and ``PREFIX.pub`` (SPKI PEM)."""
    key_path, pub_path = Path(f"{prefix}.key"), Path(f"{prefix}.pub")
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    pub_path.write_bytes(
        private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return key_path, pub_path


def load_private_key(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureError(f"{path} does not hold an Ed25519 private key")
    return key


def load_public_key(path: str | os.PathLike[str]) -> Ed25519PublicKey:
    """A PEM public key file, or a file holding the raw key as 64 hex digits."""
    data = Path(path).read_bytes()
    if data.lstrip().startswith(b"-----BEGIN"):
        key = serialization.load_pem_public_key(data)
        if not isinstance(key, Ed25519PublicKey):
            raise SignatureError(f"{path} does not hold an Ed25519 public key")
        return key
    try:
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(data.decode().strip()))
    except ValueError as err:
        raise SignatureError(f"{path} is neither a PEM public key nor 64 hex digits") from err


def raw_public_key(key: Ed25519PublicKey) -> bytes:
    """The 32 raw bytes of a public key (what a signed head carries)."""
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
