from __future__ import annotations

import json
import re
import uuid
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from foundation.http.json_encoding import rfc3339
from foundation.http.pagination import PageQuery, PaginationInfo
from foundation.success_metrics.schemas import Rfc3339

FEATURE_SLUG = r"^[a-z0-9-]+$"
MAX_METADATA_BYTES = 16 * 1024
MAX_FEATURE_SLUG = 64

FeatureSlug = Annotated[
    str, StringConstraints(pattern=FEATURE_SLUG, min_length=1, max_length=MAX_FEATURE_SLUG, strict=True)
]
Checksum = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$", strict=True)]
CommitHash = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{40}$", strict=True)]
ScReference = Annotated[str, StringConstraints(pattern=r"^@SC-00[1-5]$", strict=True)]
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")


def _json_integer(value: object) -> object:
    """JSON Schema integers: ``1000`` and ``1000.0`` are one number; ``1.5``, strings and booleans are not."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


DurationMs = Annotated[StrictInt, Field(ge=0, le=86_400_000), BeforeValidator(_json_integer)]


class SliceName(StrEnum):
    app = "app"
    pages = "pages"
    features = "features"
    entities = "entities"
    shared = "shared"


# The validator's rules (relative, no drive letter, no ".." segment, no control characters) as one regular
# expression without look-arounds, for the OpenAPI document (tests check both agree).
_NC = r"[^/\\\x00-\x1f]"
_ND = r"[^./\\\x00-\x1f]"
_SEGMENT = rf"(?:{_ND}{_NC}*|\.(?:{_ND}{_NC}*)?|\.\.{_NC}+)"
_FIRST = (
    rf"(?:[^A-Za-z./\\\x00-\x1f]{_NC}*|[A-Za-z](?:[^:/\\\x00-\x1f]{_NC}*)?|\.(?:{_ND}{_NC}*)?|\.\.{_NC}+)"
)
RELATIVE_PATH = rf"^{_FIRST}(?:[/\\]{_SEGMENT}?)*$"


class ScaffoldFile(BaseModel):
    path: Annotated[
        str,
        StringConstraints(min_length=1, max_length=512, strict=True),
        Field(json_schema_extra={"pattern": RELATIVE_PATH}),
    ]
    checksum: Checksum

    @field_validator("path")
    @classmethod
    def _relative_without_parent(cls, value: str) -> str:
        if value.startswith(("/", "\\")) or _WINDOWS_DRIVE.match(value):
            raise ValueError("must be a relative path")
        if ".." in re.split(r"[\\/]", value):
            raise ValueError('must not contain ".." segments')
        if any(ord(ch) < 0x20 for ch in value):
            raise ValueError("must not contain control characters")
        return value


class ScaffoldSlice(BaseModel):
    slice: SliceName
    files: Annotated[list[ScaffoldFile], Field(min_length=1, max_length=1000)]


class ScaffoldRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    featureSlug: FeatureSlug
    initiatedBy: uuid.UUID
    slices: Annotated[list[ScaffoldSlice], Field(min_length=1, max_length=5)]
    lintCommitHash: CommitHash
    scReferences: Annotated[list[ScReference], Field(min_length=1, max_length=50)]
    durationMs: DurationMs | None = None
    startedAt: Rfc3339 | None = Field(
        default=None,
        description="When the scaffolding started on the developer's machine (RFC 3339 with an offset); "
        "at most 5 minutes after and 24 hours before the server's receipt time. Becomes `initiatedAt`.",
    )
    metadata: dict[str, Any] = Field(
        default_factory=dict, description="Free JSON object, ≤16 KiB serialised."
    )

    @field_validator("metadata")
    @classmethod
    def _metadata_size(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(json.dumps(value, separators=(",", ":")).encode("utf-8")) > MAX_METADATA_BYTES:
            raise ValueError("must be at most 16 KiB when serialised")
        return value

    def normalised(self) -> dict[str, Any]:
        """The payload the fingerprint is computed over (unknown fields already dropped).

        ``startedAt`` is left out when absent, so requests from clients that never send it keep the
        fingerprint they had before the field existed; when given it is UTC at millisecond precision (the
        precision of the representation), so equivalent spellings of one instant are one payload.
        """
        payload = self.model_dump(mode="json", exclude={"startedAt"})
        if self.startedAt is not None:
            payload["startedAt"] = rfc3339(self.startedAt)
        return payload


class SuccessMetric(BaseModel):
    code: str = Field(pattern=r"^SC-00[1-5]$")
    value: float
    collectedAt: str = Field(json_schema_extra={"format": "date-time"})
    source: str
    featureSlug: str | None = None


class EventType(StrEnum):
    linted = "linted"
    tested = "tested"
    published = "published"
    failed = "failed"


class FailedStage(StrEnum):
    lint = "lint"
    test = "test"
    publish = "publish"


MAX_PIPELINE_URL = 512
MAX_EVENT_DETAIL = 1024


# An absolute http(s) URL whose authority has no user info (no credentials in stored URLs) and no IPv6
# literal; no whitespace or control characters anywhere. One expression for the validator and the document.
PIPELINE_URL = (
    r"^[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z0-9][^\s\x00-\x1f\x7f/?#@\[\]]*(?:[/?#][^\s\x00-\x1f\x7f]*)?$"
)
PipelineUrl = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_PIPELINE_URL, pattern=PIPELINE_URL, strict=True)
]


class ScaffoldEventRequest(BaseModel):
    """A lifecycle event reported by CI (api.md §3)."""

    model_config = ConfigDict(
        extra="ignore",
        # `stage` (when not null) only with `type: failed`, stated in the document too.
        json_schema_extra={
            "if": {"required": ["stage"], "properties": {"stage": {"not": {"type": "null"}}}},
            "then": {"properties": {"type": {"const": "failed"}}},
        },
    )

    type: EventType
    occurredAt: Rfc3339 | None = Field(
        default=None,
        description="When it happened (RFC 3339 with an offset; default: receipt). Not before the "
        "registration's `initiatedAt`, not more than 5 minutes after the server's time.",
    )
    commitHash: CommitHash | None = None
    pipelineUrl: PipelineUrl | None = None
    stage: FailedStage | None = Field(default=None, description="Only with `type: failed`.")
    detail: Annotated[str, StringConstraints(max_length=MAX_EVENT_DETAIL, strict=True)] | None = None

    @field_validator("stage")
    @classmethod
    def _stage_only_with_failed(cls, value: FailedStage | None, info: ValidationInfo) -> FailedStage | None:
        if value is not None and info.data.get("type", EventType.failed) is not EventType.failed:
            raise ValueError("is only allowed with type failed")
        return value

    def normalised(self) -> dict[str, Any]:
        """The event's fingerprint payload: absent fields left out, ``occurredAt`` in UTC milliseconds."""
        payload = self.model_dump(mode="json", exclude_none=True, exclude={"occurredAt"})
        if self.occurredAt is not None:
            payload["occurredAt"] = rfc3339(self.occurredAt)
        return payload


class ScaffoldEvent(BaseModel):
    type: EventType
    occurredAt: str = Field(json_schema_extra={"format": "date-time"})
    recordedAt: str = Field(
        json_schema_extra={"format": "date-time"}, description="When the server received it."
    )
    commitHash: str | None = None
    pipelineUrl: str | None = None
    stage: FailedStage | None = None
    detail: str | None = None


class ScaffoldResponse(BaseModel):
    scaffoldId: uuid.UUID
    tenantId: uuid.UUID
    featureSlug: str
    status: str = Field(pattern="^(initiated|linted|tested|published)$")
    recordedAt: str = Field(json_schema_extra={"format": "date-time"})
    initiatedAt: str = Field(
        json_schema_extra={"format": "date-time"}, description="`startedAt` when given, else `recordedAt`."
    )
    events: list[ScaffoldEvent] = Field(description="Lifecycle events, oldest first (by `occurredAt`).")
    leadTimeMinutes: float | None = Field(
        description="Minutes from `initiatedAt` to the `published` event; null until published."
    )
    metrics: list[SuccessMetric]


class ScaffoldPage(BaseModel):
    data: list[ScaffoldResponse]
    pagination: PaginationInfo


class ScaffoldQuery(PageQuery):
    status: Literal["initiated", "linted", "tested", "published"] | None = Field(
        None, description="Only registrations in this status."
    )
