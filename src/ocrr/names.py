"""The rule for names and texts that people read: labels, actors, namespace and key names.

Why one rule in the lowest layer: a label is what a reviewer sees and what a class is keyed
by, so two labels that *look* the same must *be* the same, and nothing in one may rewrite
how a terminal or a page shows the rest. The ledger (every label and actor appended), the
server's wire models and ``ocrr keys`` all call this module, so a name refused in one place
is refused in all of them.

**Names** (labels, actors, namespace and key names) are normalised to Unicode NFC (so
``"e\\u0301"`` and ``"é"`` are one label), and refused when they contain any of
:data:`FORBIDDEN_IN_NAMES`: control characters (C0, DEL, C1: BEL, ESC, newline, tab...),
zero-width characters (``U+200B``-``U+200D``, word joiner, BOM, soft hyphen...), bidi
controls and overrides (``U+202A``-``U+202E``, ``U+2066``-``U+2069``, marks ``U+200E``,
``U+200F``, ``U+061C``), line and paragraph separators, and the invisible tag characters
(``U+E0000``-``U+E007F``). Leading or trailing whitespace is refused too (``"card "`` would
be a look-alike class).

**Texts** (what is classified) keep their content, zero-width joiners and all (emoji and
several scripts need them), and are not normalised (the encoder sees what was sent); only
control characters other than tab, newline and carriage return are refused
(:data:`FORBIDDEN_IN_TEXTS`), with the character named in the error.

Examples
--------
>>> clean_name("label", "cafe\\u0301") == "caf\\u00e9"
True
>>> try:
...     clean_name("label", "card\\u200b")
... except ValueError as err:
...     print(str(err).split(":")[0])
label contains U+200B (ZERO WIDTH SPACE) at character 4
>>> check_text("text", "line one\\nline two")
'line one\\nline two'
>>> try:
...     check_text("text", "ring \\x07")
... except ValueError as err:
...     print(str(err).split(":")[0])
text contains U+0007 (control character BEL) at character 5
"""

from __future__ import annotations

import unicodedata

_NAME_RANGES: tuple[tuple[int, int], ...] = (
    (0x0000, 0x001F),  # C0 controls
    (0x007F, 0x009F),  # DEL and C1 controls
    (0x00AD, 0x00AD),  # soft hyphen (invisible)
    (0x061C, 0x061C),  # Arabic letter mark (bidi)
    (0x115F, 0x1160),  # Hangul fillers (blank)
    (0x17B4, 0x17B5),  # Khmer inherent vowels (invisible)
    (0x180B, 0x180F),  # Mongolian variation selectors and vowel separator
    (0x200B, 0x200F),  # zero width space, non-joiner, joiner; LRM, RLM
    (0x2028, 0x202E),  # line and paragraph separators; bidi embeddings and overrides
    (0x2060, 0x206F),  # word joiner, invisible operators, bidi isolates, deprecated formats
    (0x3164, 0x3164),  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFEFF, 0xFEFF),  # zero width no-break space (BOM)
    (0xFFA0, 0xFFA0),  # halfwidth Hangul filler
    (0xFFF9, 0xFFFB),  # interlinear annotation controls
    (0xE0000, 0xE007F),  # tag characters
)
"""The characters :func:`clean_name` refuses, as inclusive code point ranges."""

_TEXT_RANGES: tuple[tuple[int, int], ...] = (
    (0x0000, 0x0008),
    (0x000B, 0x000C),
    (0x000E, 0x001F),
    (0x007F, 0x009F),
)
"""The characters :func:`check_text` refuses: controls but tab, newline, carriage return."""

FORBIDDEN_IN_NAMES = frozenset(c for lo, hi in _NAME_RANGES for c in range(lo, hi + 1))
FORBIDDEN_IN_TEXTS = frozenset(c for lo, hi in _TEXT_RANGES for c in range(lo, hi + 1))


def _pattern_class(ranges: tuple[tuple[int, int], ...]) -> str:
    """The ranges as a regex character class body (``\\uXXXX`` escapes, which JSON Schema
    and Python's ``re`` both read); ranges beyond the BMP are left out (a ``\\u`` escape
    cannot name them in both)."""
    parts = []
    for lo, hi in ranges:
        if hi > 0xFFFF:
            continue
        parts.append(f"\\u{lo:04x}" if lo == hi else f"\\u{lo:04x}-\\u{hi:04x}")
    return "".join(parts)


NAME_CHARS_CLASS = _pattern_class(_NAME_RANGES)
"""``[^...]`` body for a JSON Schema pattern saying what :func:`clean_name` refuses."""
TEXT_CHARS_CLASS = _pattern_class(_TEXT_RANGES)
"""``[^...]`` body for a JSON Schema pattern saying what :func:`check_text` refuses."""


_C0 = ("NUL", "SOH", "STX", "ETX", "EOT", "ENQ", "ACK", "BEL", "BS", "HT", "LF", "VT", "FF",
       "CR", "SO", "SI", "DLE", "DC1", "DC2", "DC3", "DC4", "NAK", "SYN", "ETB", "CAN", "EM",
       "SUB", "ESC", "FS", "GS", "RS", "US")


def _describe(char: str) -> str:
    code = ord(char)
    name = unicodedata.name(char, "")
    if not name:
        if code < 0x20 or code == 0x7F:
            name = "control character " + ("DEL" if code == 0x7F else _C0[code])
        else:
            name = "control character"
    return f"U+{code:04X} ({name})"


def _first(value: str, forbidden: frozenset[int]) -> int | None:
    if value.isascii() and value.isprintable():
        return None
    for i, char in enumerate(value):
        if ord(char) in forbidden:
            return i
    return None


def clean_name(what: str, value: str) -> str:
    """``value`` normalised to NFC, or ``ValueError`` naming the first forbidden character
    (or the surrounding whitespace). ``what`` names the field in the message."""
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, got {type(value).__name__}")
    at = _first(value, FORBIDDEN_IN_NAMES)
    if at is not None:
        raise ValueError(f"{what} contains {_describe(value[at])} at character {at}: names "
                         "may not contain control, zero-width or bidi characters")
    if value != value.strip():
        raise ValueError(f"{what} {value!r} starts or ends with whitespace: remove it")
    if value.isascii():
        return value
    try:
        return unicodedata.normalize("NFC", value)
    except UnicodeError:  # a lone surrogate: the UTF-8 check names it
        return value


def check_text(what: str, value: str) -> str:
    """``value`` unchanged, or ``ValueError`` naming the first control character that is
    not tab, newline or carriage return."""
    at = _first(value, FORBIDDEN_IN_TEXTS)
    if at is not None:
        raise ValueError(f"{what} contains {_describe(value[at])} at character {at}: texts "
                         "may not contain control characters other than tab, newline and "
                         "carriage return")
    return value


def printable(value: str) -> str:
    """``value`` for a terminal: every character :func:`clean_name` refuses (and any other
    non-printable one) shown as a ``\\uXXXX`` escape, so nothing stored can move the cursor,
    recolour the screen or reverse the text around it.

    >>> printable("evil\\x1b[31m\\u202e")
    'evil\\\\u001b[31m\\\\u202e'
    """
    if value.isascii() and value.isprintable():
        return value
    out = []
    for char in value:
        code = ord(char)
        if code in FORBIDDEN_IN_NAMES or not char.isprintable():
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(char)
    return "".join(out)
