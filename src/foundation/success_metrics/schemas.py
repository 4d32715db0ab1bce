from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    Field,
    StringConstraints,
)

from foundation.http.pagination import PaginationInfo

ScCode = Annotated[str, StringConstraints(pattern=r"^SC-00[1-5]$", strict=True)]
FeatureSlug = Annotated[
    str, StringConstraints(pattern=r"^[a-z0-9-]+$", min_length=1, max_length=64, strict=True)
]


def _rfc3339_string(value: object) -> object:
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 date-time string")
    return value


Rfc3339 = Annotated[AwareDatetime, BeforeValidator(_rfc3339_string)]


class Source(StrEnum):
    ci = "ci"
    chromatic = "chromatic"
    lighthouse = "lighthouse"
    manual = "manual"


class SampleIn(BaseModel):
    code: ScCode
    value: Annotated[float, Field(ge=-1e12, le=1e12, strict=True, allow_inf_nan=False)]
    collectedAt: Rfc3339 = Field(description="RFC 3339 with an offset; stored in UTC.")
    source: Source
    featureSlug: FeatureSlug | None = None


class SamplesIn(BaseModel):
    samples: Annotated[list[SampleIn], Field(min_length=1, max_length=500)]


class IngestResult(BaseModel):
    accepted: int
    duplicates: int


class SampleOut(BaseModel):
    code: str
    value: float
    collectedAt: datetime
    source: Source
    featureSlug: str | None = None


class SamplePage(BaseModel):
    data: list[SampleOut]
    pagination: PaginationInfo
