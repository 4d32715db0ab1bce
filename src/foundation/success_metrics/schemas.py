from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    Field,
    StringConstraints,
)

from foundation.http.pagination import PageQuery, PaginationInfo

ScCode = Annotated[str, StringConstraints(pattern=r"^SC-00[1-5]$", strict=True)]
FeatureSlug = Annotated[
    str, StringConstraints(pattern=r"^[a-z0-9-]+$", min_length=1, max_length=64, strict=True)
]


# RFC 3339 date-time with an offset; anything else (dates, numbers pydantic would read as Unix time) fails.
RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def _rfc3339_string(value: object) -> object:
    if not isinstance(value, str) or not RFC3339.fullmatch(value):
        raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2026-01-31T12:00:00Z")
    return value


def _in_utc_range(value: datetime) -> datetime:
    """An offset can push a date past year 1 or 9999 in UTC; that is invalid input, not a server error."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range once converted to UTC") from None


Rfc3339 = Annotated[AwareDatetime, BeforeValidator(_rfc3339_string), AfterValidator(_in_utc_range)]


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


class SampleQuery(PageQuery):
    code: ScCode | None = Field(None, description="SC-001..SC-005")
    since: Rfc3339 | None = Field(None, description="RFC 3339 with an offset, inclusive.")
