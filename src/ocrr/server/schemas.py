"""The wire format: request and response models, shared by the server, the OpenAPI spec and
the client.

Why pydantic models and not plain dataclasses: the same classes validate what arrives,
document it in ``/openapi.json`` (so schemathesis can check the server against its own
promise), and are what :mod:`ocrr.client` returns, locally or remotely. Strings are checked
with Python's own rules (the ledger's: not blank, no NUL, no lone surrogate, bounded length),
and the pattern advertised in the spec says the same, so data valid by the spec is accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Literal, TypeAlias

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from ocrr.ledger import MAX_LABEL_CHARS, MAX_TEXT_CHARS
from ocrr.ledger.keys import MAX_SUBJECT_CHARS
from ocrr.ledger.validation import check_string
from ocrr.names import NAME_CHARS_CLASS, TEXT_CHARS_CLASS, check_text, clean_name

_BLANK = (
    "\\u0009-\\u000d\\u001c-\\u0020\\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029"
    "\\u202f\\u205f\\u3000"
)
"""Exactly the characters Python's ``str.isspace`` (and so the ledger) calls whitespace,
spelled out: ``\\s`` means different sets in different regex engines."""
NAMESPACE_PATTERN = "^[a-z][a-z0-9_]{0,47}$"
SEQ_MAX = 2**53 - 1
"""Sequence numbers and sizes above this are refused (no ledger gets near): the largest
integer JSON tools that read numbers as doubles still hold exactly."""
UNKNOWN = "unknown"
"""The label of an abstention: the classifier's confidence fell below the threshold."""


def _checked(what: str, limit: int, rule: Callable[[str, str], str]):  # noqa: ANN202
    """The ledger's own string check (one implementation), then ``rule`` from
    :mod:`ocrr.names`: the rule for names (NFC, no control, zero-width or bidi characters)
    or for texts (no control characters but tab, newline, carriage return)."""

    def check(value: str) -> str:
        check_string(what, value, limit)
        return rule(what, value)

    return AfterValidator(check)


def _string(what: str, limit: int, description: str, *, name: bool = False):  # noqa: ANN202
    chars = NAME_CHARS_CLASS if name else TEXT_CHARS_CLASS
    pattern = NAME_PATTERN if name else f"^[^{chars}]*[^{chars}{_BLANK}][^{chars}]*$"
    return Annotated[
        str,
        Field(min_length=1, max_length=limit, description=description,
              json_schema_extra={"pattern": pattern}),
        _checked(what, limit, clean_name if name else check_text),
    ]


NAME_PATTERN = (f"^[^{NAME_CHARS_CLASS}{_BLANK}]([^{NAME_CHARS_CLASS}]*"
                f"[^{NAME_CHARS_CLASS}{_BLANK}])?$")
"""A name: no control, zero-width or bidi character, no whitespace at either end."""

if TYPE_CHECKING:  # for the type checker these are str; pydantic sees the checks below
    Text: TypeAlias = str
    Label: TypeAlias = str
    Subject: TypeAlias = str
    Short: TypeAlias = str
    Name: TypeAlias = str
else:
    Text = _string("text", MAX_TEXT_CHARS, "the input text (up to 20,000 characters)")
    Label = _string("label", MAX_LABEL_CHARS,
                    "a class label (up to 256 characters); a new one creates the class",
                    name=True)
    Subject = _string("subject", MAX_SUBJECT_CHARS,
                      "the person this example is about: stored encrypted, erasable")
    Short = _string("value", MAX_LABEL_CHARS, "free text, up to 256 characters, stored in clear")
    Name = _string("name", MAX_LABEL_CHARS,
                   "who or what (up to 256 characters): no control, zero-width or bidi "
                   "characters", name=True)
NamespaceName = Annotated[
    str, Field(pattern=NAMESPACE_PATTERN, description="lower-case letters, digits and _")
]
Threshold = Annotated[float, Field(ge=0.0, le=1.0)]
def _integer(value: object) -> object:
    """JSON's integers: 3 and 3.0 (JSON Schema counts both), not "3", true or 3.5."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("must be an integer")
    return value


Seq = Annotated[int, Field(ge=0, le=SEQ_MAX), BeforeValidator(_integer)]
Hex32 = Annotated[str, Field(pattern="^[0-9a-f]{64}$", description="32 bytes, hex")]


class _Request(BaseModel):
    # strict: JSON false is not a threshold of 0, "3" is not a sequence number
    model_config = ConfigDict(extra="forbid", strict=True)


class _Response(BaseModel):
    model_config = ConfigDict(frozen=True)


# -- requests ------------------------------------------------------------------------------
class KeptHead(_Request):
    """A tree head kept earlier (as ``/tree-head`` gave it): the ledger must still extend
    it. ``/verify`` ignores the signature fields (check them with your pinned key); as a
    prediction's ``as_of``, a signature must verify under the server's signing key."""

    size: Seq
    root_hash: Hex32
    timestamp_ns: int | None = None
    signature: str | None = None
    public_key: str | None = None
    key_id: str | None = None


AS_OF = ("answer as the classifier did when the ledger had this many entries (a size, or a "
         "tree head kept earlier, signed or not), with the neighbours it used then")


class PredictRequest(_Request):
    text: Text
    as_of: Seq | KeptHead | None = Field(default=None, description=AS_OF)


class PredictBatchRequest(_Request):
    texts: list[Text] = Field(min_length=1, description="the server's batch limit applies")
    as_of: Seq | KeptHead | None = Field(default=None, description=AS_OF)


class CorrectionItem(_Request):
    text: Text
    label: Label
    subject: Subject | None = None


class CorrectionRequest(CorrectionItem):
    actor: Name | None = None


class CorrectionBatchRequest(_Request):
    items: list[CorrectionItem] = Field(min_length=1)
    actor: Name | None = None


class RevocationRequest(_Request):
    seq: Seq
    reason: Short
    actor: Name | None = None


class ErasureRequest(_Request):
    subject: Subject
    reason: Short | None = None
    actor: Name | None = None


class NamespaceCreate(_Request):
    name: NamespaceName
    threshold: Threshold | None = Field(
        default=None, description="abstain (label 'unknown') below this confidence"
    )
    vote: Literal["hybrid", "band"] = "hybrid"


class NamespaceUpdate(_Request):
    threshold: Threshold | None = Field(description="null removes the threshold")


class NamespacedKeyCreate(_Request):
    """A read or write key: bound to one namespace."""

    scope: Literal["read", "write"]
    namespace: NamespaceName
    name: Name | None = None


class GlobalKeyCreate(_Request):
    """An admin or metrics key: bound to no namespace."""

    scope: Literal["admin", "metrics"]
    name: Name | None = None


KeyCreate = Annotated[NamespacedKeyCreate | GlobalKeyCreate, Field(discriminator="scope")]


# -- responses -----------------------------------------------------------------------------
class ErrorOut(_Response):
    error: str = Field(description="a stable code: invalid_request, not_found, ...")
    message: str


class Neighbour(_Response):
    """One entry that took part in the decision."""

    seq: int
    label: str
    similarity: float
    voted: bool = Field(description="inside the margin band, so it voted")
    actor: str | None = Field(default=None, description="who taught it")
    source: str | None = Field(default=None, description="fit, correction, ...")
    created_at_ns: int | None = Field(default=None, description="when (Unix ns)")


class Prediction(_Response):
    label: str | None = Field(
        description="the answer: 'unknown' on abstention, null while the ledger is empty"
    )
    confidence: float
    abstained: bool
    best_label: str | None = Field(description="the classifier's top label, even on abstention")
    threshold: float | None
    neighbours: list[Neighbour]


class PredictionBatch(_Response):
    predictions: list[Prediction]


class Receipt(_Response):
    """An entry the ledger accepted: durable when this answer is sent."""

    seq: int
    kind: str
    label: str
    entry_hash: str
    created_at_ns: int
    ledger_size: int
    new_label: bool | None = Field(
        default=None, description="corrections: the label was never seen before"
    )


class ReceiptBatch(_Response):
    receipts: list[Receipt]


class EntryOut(_Response):
    seq: int
    created_at_ns: int
    kind: str
    label: str
    text: str | None
    provenance: dict[str, str]
    entry_hash: str
    prev_hash: str
    sealed: bool = Field(description="stored encrypted under a subject's key")
    readable: bool = Field(description="false once the subject was erased")
    active: bool | None = Field(description="examples: whether it votes now")


class EntryPage(_Response):
    entries: list[EntryOut]
    start: int
    next: int | None
    size: int = Field(description="entries in the ledger")


class VerificationOut(_Response):
    ok: bool
    size: int
    first_bad_seq: int | None
    reason: str


class TreeHeadOut(_Response):
    size: int
    root_hash: str
    timestamp_ns: int
    signature: str | None = None
    public_key: str | None = None
    key_id: str | None = None


class InclusionProofOut(_Response):
    index: int
    tree_size: int
    leaf_hash: str
    path: list[str]
    root_hash: str


class ConsistencyProofOut(_Response):
    old_size: int
    new_size: int
    old_root: str
    new_root: str
    path: list[str]


class StatsOut(_Response):
    namespace: str
    entries: int
    classes: int
    storage_bytes: int
    dim: int | None
    threshold: float | None
    predictions: int = Field(description="served by this process since it started")
    abstentions: int
    corrections: int
    recent_judged: int = Field(
        description="recent predictions later corrected (or confirmed) by a correction"
    )
    recent_accuracy: float | None = Field(
        description="share of those the prediction had right; null when none"
    )


class NamespaceOut(_Response):
    name: str
    threshold: float | None
    vote: str
    encoder: str
    created_at_ns: int


class NamespaceList(_Response):
    namespaces: list[NamespaceOut]


class KeyOut(_Response):
    key_id: str
    scope: str
    namespace: str | None
    name: str | None
    created_at_ns: int
    revoked: bool


class KeyCreated(KeyOut):
    token: str = Field(description="the secret: shown once, stored only hashed")


class KeyList(_Response):
    keys: list[KeyOut]


class Health(_Response):
    status: str = Field(description="ok, or degraded when some namespaces are quarantined")
    version: str
    quarantined: int = Field(default=0, description="namespaces whose ledger could not be "
                             "opened (they answer 503; every other namespace serves)")
