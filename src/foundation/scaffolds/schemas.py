from __future__ import annotations

import json
import re
import uuid
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    field_validator,
)

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
        """The payload the fingerprint is computed over (unknown fields already dropped)."""
        return self.model_dump(mode="json")


class SuccessMetric(BaseModel):
    code: str = Field(pattern=r"^SC-00[1-5]$")
    value: float
    collectedAt: str = Field(json_schema_extra={"format": "date-time"})
    source: str
    featureSlug: str | None = None


class ScaffoldResponse(BaseModel):
    scaffoldId: uuid.UUID
    tenantId: uuid.UUID
    featureSlug: str
    status: str = Field(pattern="^(initiated|linted|tested|published)$")
    recordedAt: str = Field(json_schema_extra={"format": "date-time"})
    metrics: list[SuccessMetric]
