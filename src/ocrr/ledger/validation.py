"""What the log accepts: every append is checked here before anything is numbered or written.

Why before: a refused append must leave the ledger exactly as it was, so the whole input
(kind, label, vector, text, provenance, subject) is validated up front and turned into a
:data:`Pending` tuple that the log can chain without further checks.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ocrr.ledger.entry import (
    ENTRY_KINDS,
    ERASURE,
    EXAMPLE,
    NO_VECTOR,
    RELABEL,
    RESERVED_PREFIX,
    RETIRE,
    REVOCATION,
    SETTING,
    Entry,
    frozen_provenance,
)
from ocrr.ledger.keys import MAX_SUBJECT_CHARS
from ocrr.ledger.store import Batch, Tip
from ocrr.names import clean_name

MAX_LABEL_CHARS = 256
MAX_TEXT_CHARS = 20_000

Pending = tuple[str, str, np.ndarray, "str | None", Mapping[str, str], "str | None"]
"""(kind, label, vector, text, provenance, subject): an append validated, not yet numbered."""


class LedgerError(ValueError):
    """An append was refused; nothing was written.

    Examples
    --------
    >>> import numpy as np
    >>> from ocrr.ledger import Ledger
    >>> ledger = Ledger()
    >>> try:
    ...     ledger.append("", np.ones(3))
    ... except LedgerError as err:
    ...     print(err, len(ledger))
    label must not be empty 0
    """


def check_entry(
    label: object,
    vector: object,
    text: object,
    provenance: Mapping[str, str] | None,
    kind: object,
    subject: object,
    dim: int | None,
) -> Pending:
    """Validate one append against the ledger's dimension ``dim`` (None: not fixed yet).

    Examples
    --------
    >>> kind, label, vector, text, provenance, subject = check_entry(
    ...     "greeting", [1.0, 0.0], None, {"source": "fit"}, EXAMPLE, None, 2)
    >>> vector.dtype.str, vector.flags.writeable, dict(provenance)
    ('<f4', False, {'source': 'fit'})
    >>> check_entry("greeting", [1.0, 0.0, 0.0], None, None, EXAMPLE, None, 2)
    Traceback (most recent call last):
    ...
    ocrr.ledger.validation.LedgerError: vector has dimension 3, ledger has 2
    """
    if kind not in ENTRY_KINDS or kind == ERASURE:
        if kind == ERASURE:
            raise LedgerError("erasure tombstones are appended by Ledger.erase(subject)")
        raise LedgerError(
            f"unknown entry kind {kind!r}; valid: {EXAMPLE}, {REVOCATION}, {RELABEL}, "
            f"{RETIRE}, {SETTING}"
        )
    if kind == EXAMPLE:
        vec = validated_vector(vector, dim)
    elif vector is None or np.size(vector) == 0:  # type: ignore[arg-type]
        vec = NO_VECTOR
    else:
        raise LedgerError(f"a {kind} entry carries no vector")
    check_string("label", label, MAX_LABEL_CHARS)
    if kind in (EXAMPLE, RELABEL):  # a new name; the others name an existing label
        label = _named("label", label)  # type: ignore[arg-type]
    if text is not None:
        check_string("text", text, MAX_TEXT_CHARS)
    prov = frozen_provenance(provenance)
    for key, value in prov.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise LedgerError(f"provenance must map str to str, got {key!r}: {value!r}")
        if key.startswith(RESERVED_PREFIX):
            raise LedgerError(f"provenance keys starting {RESERVED_PREFIX!r} are reserved")
        check_utf8(f"provenance {key!r}", key)
        check_utf8(f"provenance {key!r}", value)
    if any(key in prov and prov[key] != _named(key, prov[key]) for key in NAMED_PROVENANCE):
        prov = frozen_provenance({key: _named(key, value) if key in NAMED_PROVENANCE else value
                                  for key, value in prov.items()})
    if subject is not None:
        if kind != EXAMPLE:
            raise LedgerError("only examples are sealed under a subject's key")
        check_string("subject", subject, MAX_SUBJECT_CHARS)
    return kind, label, vec, text, prov, subject  # type: ignore[return-value]


NAMED_PROVENANCE = ("actor", "api_key_id")
"""Provenance values that name someone: they follow the rule for names (``ocrr.names``)."""


def _named(what: str, value: str) -> str:
    """``value`` by the rule for names (NFC, no control, zero-width or bidi characters)."""
    try:
        return clean_name(what, value)
    except ValueError as err:
        raise LedgerError(str(err)) from None


def check_imported(chunk: list[Entry], tip: Tip, dim: int | None) -> Batch:
    """The write of already-built entries (an export read back) on ``tip``, once each one's
    number, link, hash and kind and their common dimension have been checked."""
    seq, prev = tip.size, tip.head_hash
    for entry in chunk:
        if entry.seq != seq:
            raise LedgerError(f"import expected entry {seq}, found {entry.seq}")
        if entry.prev_hash != prev:
            raise LedgerError(f"entry {seq} does not link to the ledger's head")
        if entry.compute_hash() != entry.entry_hash:
            raise LedgerError(f"entry {seq}: contents do not match its hash")
        if entry.kind not in ENTRY_KINDS:
            raise LedgerError(f"entry {seq} has unknown kind {entry.kind!r}")
        if not np.isfinite(entry.vector).all():
            raise LedgerError(f"entry {seq}: its vector holds NaN or infinity")
        seq, prev = seq + 1, entry.entry_hash
    dims = {e.vector.shape[0] for e in chunk if e.kind == EXAMPLE and e.vector.size}
    if len(dims | ({dim} if dim else set())) > 1:
        raise LedgerError(f"entries of several dimensions: {sorted(dims)}")
    return Batch(list(chunk), dim=next(iter(dims)) if dims else None, imported=True)


def validated_vector(vector: object, dim: int | None) -> np.ndarray:
    """``vector`` as read-only little-endian float32: 1-D, non-empty, of dimension ``dim``
    (any, when None), finite, with a squared norm that fits float32."""
    if vector is None:
        raise LedgerError("an example entry needs a vector")
    try:
        vec = np.array(vector, dtype="<f4")
    except (TypeError, ValueError) as err:
        raise LedgerError(f"vector is not numeric: {err}") from None
    if vec.ndim != 1 or vec.shape[0] == 0:
        raise LedgerError(f"vector must be 1-D and non-empty, got shape {vec.shape}")
    if dim is not None and vec.shape[0] != dim:
        raise LedgerError(f"vector has dimension {vec.shape[0]}, ledger has {dim}")
    if not np.isfinite(np.dot(vec, vec)):  # one pass; NaN/inf anywhere propagates
        if not np.isfinite(vec).all():
            raise LedgerError("vector contains NaN or infinity")
        raise LedgerError("vector is too large: its squared norm overflows float32")
    vec.flags.writeable = False
    return vec


def check_string(name: str, value: object, max_chars: int) -> None:
    """A non-blank ``str`` of at most ``max_chars`` characters that UTF-8 can hold."""
    if not isinstance(value, str):
        raise LedgerError(f"{name} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise LedgerError(f"{name} must not be empty")
    if len(value) > max_chars:
        raise LedgerError(f"{name} is {len(value)} characters; the limit is {max_chars}")
    check_utf8(name, value)


def check_utf8(name: str, value: str) -> None:
    """Refuse what no store can hold: lone surrogates (not UTF-8) and NUL characters."""
    if "\x00" in value:
        raise LedgerError(f"{name} contains a NUL character")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as err:
            raise LedgerError(
                f"{name} is not valid UTF-8 text (character {err.start} is a lone surrogate, "
                "as from bytes decoded with errors='surrogateescape')"
            ) from None
