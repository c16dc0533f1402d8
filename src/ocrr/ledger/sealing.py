"""Sealing an entry's contents under its subject's key (AES-256-GCM).

Why this shape: the ledger must stay verifiable after a subject's key is destroyed, so the
hash covers the *ciphertext* (the stored form, see ``entry.SEALED_KEY``), never the plaintext.
What is sealed is everything that can identify or describe the person: the vector (an
embedding can be inverted to approximate text), the text and the whole provenance (actor,
source, the subject's name). The label, the kind, the sequence number and the time stay in
clear: they are the class taught and the audit trail, and erased entries still count in it.

The associated data binds a ciphertext to its place: ``OCRR-SEALED\\x01``, then the
sequence number (u64 LE), kind and label (length-prefixed UTF-8) and the key id, so a
ciphertext moved to another entry fails to decrypt. The sealed payload is the vector
(u32 LE dimension, float32 LE values), the text and the provenance, each encoded exactly as
in the entry's canonical bytes. Stored: a 12-byte random nonce, then ciphertext and tag,
in base64.
"""

from __future__ import annotations

import base64
import binascii
import os
import struct
from collections.abc import Mapping

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ocrr.ledger.entry import (
    SEALED_BLOB,
    SEALED_KEY,
    _text_field,
    canonical_provenance,
)

_AAD_TAG = b"OCRR-SEALED\x01"
_NONCE = 12
_SEQ = struct.Struct("<Q")
_LEN = struct.Struct("<I")


def cipher(key: bytes) -> AESGCM:
    return AESGCM(key)


def _aad(seq: int, kind: str, label: str, key_id: str) -> bytes:
    return b"".join(
        (_AAD_TAG, _SEQ.pack(seq), _text_field(kind), _text_field(label), key_id.encode())
    )


def seal(
    aead: AESGCM,
    key_id: str,
    *,
    seq: int,
    kind: str,
    label: str,
    vector_bytes: bytes,
    text: str | None,
    provenance: Mapping[str, str],
) -> str:
    """The base64 ciphertext of (vector, text, provenance) for entry ``seq``."""
    payload = b"".join(
        (
            _LEN.pack(len(vector_bytes) // 4),
            vector_bytes,
            _text_field(text),
            canonical_provenance(provenance),
        )
    )
    nonce = os.urandom(_NONCE)
    sealed = aead.encrypt(nonce, payload, _aad(seq, kind, label, key_id))
    return base64.b64encode(nonce + sealed).decode("ascii")


def unseal(
    aead: AESGCM, key_id: str, ciphertext: str, *, seq: int, kind: str, label: str
) -> tuple[np.ndarray, str | None, dict[str, str]] | None:
    """(vector, text, provenance), or None if the ciphertext does not open under this key
    in this place (tampered, moved, or a wrong key)."""
    try:
        blob = base64.b64decode(ciphertext, validate=True)
        payload = aead.decrypt(blob[:_NONCE], blob[_NONCE:], _aad(seq, kind, label, key_id))
    except (InvalidTag, binascii.Error, ValueError):
        return None
    return _decode_payload(payload)


def is_sealed(provenance: Mapping[str, str]) -> bool:
    return SEALED_BLOB in provenance


def sealed_parts(provenance: Mapping[str, str]) -> tuple[str, str] | None:
    """(key id, base64 ciphertext) of a stored sealed entry's provenance, else None."""
    blob = provenance.get(SEALED_BLOB)
    if blob is None:
        return None
    return provenance.get(SEALED_KEY, ""), blob


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def take(self, n: int) -> bytes:
        if self.at + n > len(self.data):
            raise ValueError("truncated sealed payload")
        out = self.data[self.at : self.at + n]
        self.at += n
        return out

    def u32(self) -> int:
        return _LEN.unpack(self.take(4))[0]

    def text(self) -> str | None:
        flag = self.take(1)
        if flag == b"\x00":
            return None
        return self.take(self.u32()).decode("utf-8")


def _decode_payload(payload: bytes) -> tuple[np.ndarray, str | None, dict[str, str]] | None:
    try:
        reader = _Reader(payload)
        dim = reader.u32()
        vector = np.frombuffer(reader.take(4 * dim), dtype="<f4")
        text = reader.text()
        provenance: dict[str, str] = {}
        for _ in range(reader.u32()):
            key, value = reader.text(), reader.text()
            if key is None or value is None:
                raise ValueError("provenance holds a missing string")
            provenance[key] = value
        if reader.at != len(payload):
            raise ValueError("trailing bytes in sealed payload")
    except (ValueError, UnicodeDecodeError):
        return None
    return vector, text, provenance
