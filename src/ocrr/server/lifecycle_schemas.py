"""Wire models of the namespace lifecycle routes: uploads of fit examples, the changes
between two ledger sizes, relabels, retirements and the vote setting.

Kept apart from :mod:`ocrr.server.schemas` (the classification and audit models) so that
each concern's models sit beside its routes (:mod:`ocrr.server.routes.lifecycle`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from ocrr.server.schemas import Label, Name, Short, Text, _integer, _Request, _Response

UPLOAD_PATTERN = "^[A-Za-z0-9_.-]{1,64}$"
CHUNK_MAX = 10_000_000


ChunkNumber = Annotated[int, Field(ge=0, le=CHUNK_MAX), BeforeValidator(_integer)]


class ExampleItem(_Request):
    text: Text
    label: Label


class ExampleBatchRequest(_Request):
    """A chunk of fit examples as JSON (CSV and JSON lines bodies carry the same rows)."""

    items: list[ExampleItem] = Field(min_length=1)
    upload: str | None = Field(default=None, pattern=UPLOAD_PATTERN,
                               description="the upload this chunk belongs to")
    chunk: ChunkNumber | None = Field(default=None,
                                      description="the chunk's number within the upload")
    actor: Name | None = None


class UploadReceipt(_Response):
    """A chunk of fit examples the ledger holds (durable when this answer is sent)."""

    upload: str | None
    chunk: int | None
    rows: int = Field(description="examples in this chunk")
    first_seq: int | None
    last_seq: int | None
    duplicate: bool = Field(description="the chunk had been received before: nothing added")
    ledger_size: int
    upload_rows: int | None = Field(description="examples received so far in this upload")


class UploadStatus(_Response):
    upload: str
    chunks: list[int] = Field(description="the chunk numbers received, in order")
    rows: int
    first_seq: int | None
    last_seq: int | None
    ledger_size: int




class RelabelRequest(_Request):
    old: Label = Field(description="the label to rename")
    new: Label = Field(description="its new name (an existing label: the classes merge)")
    reason: Short | None = None
    actor: Name | None = None


class RetireRequest(_Request):
    label: Label
    reason: Short | None = None
    actor: Name | None = None


K = Annotated[int, Field(ge=1, le=1000), BeforeValidator(_integer)]


class HybridSetting(_Request):
    """The hybrid rule (``HybridVote``); a parameter left out keeps its default."""

    rule: Literal["hybrid"]
    k: K | None = Field(default=None, description="neighbours read (20)")
    mix: float | None = Field(default=None, ge=0, le=1, description="neighbour share (0.4)")
    tau: float | None = Field(default=None, gt=0, le=100)
    temperature: float | None = Field(default=None, gt=0, le=1000)
    shrinkage: float | None = Field(default=None, gt=0, le=1)
    head: bool | None = None
    head_lr: float | None = Field(default=None, ge=0, le=100)
    actor: Name | None = None


class BandSetting(_Request):
    """The paper's band rule or an ablation (``BandVote``)."""

    rule: Literal["band", "band_no_recency", "band_count_only", "sumsim"]
    k: K | None = Field(default=None, description="neighbours read (5)")
    margin: float | None = Field(default=None, ge=0, le=2, description="the band (0.05)")
    actor: Name | None = None


VoteSettingRequest = Annotated[HybridSetting | BandSetting, Field(discriminator="rule")]


def vote_params(body: HybridSetting | BandSetting) -> dict[str, Any]:
    """The rule's parameters a request gives (the others keep their defaults)."""
    return body.model_dump(exclude={"rule", "actor"}, exclude_none=True)


class VoteSettingOut(_Response):
    rule: str
    params: dict[str, Any]
    seq: int | None = Field(description="the setting entry (null: the default, not recorded)")


class ChangeRecord(_Response):
    seq: int
    label: str
    actor: str | None = None
    reason: str | None = None
    created_at_ns: int
    revokes: int | None = None
    from_label: str | None = Field(default=None, alias="from")
    examples: int | None = None
    value: str | None = None


class ChangesOut(_Response):
    start: int
    stop: int
    new_classes: list[str]
    examples: dict[str, int] = Field(description="fit examples per label")
    corrections: dict[str, int] = Field(description="other examples per label")
    revocations: list[ChangeRecord]
    relabels: list[ChangeRecord]
    retirements: list[ChangeRecord]
    erasures: list[ChangeRecord]
    settings: list[ChangeRecord]

