from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    StringConstraints,
    model_validator,
)

from foundation.http.pagination import PageQuery, PaginationInfo
from foundation.success_metrics.scorecard import BY_CODE, WINDOW_DESCRIPTION, WINDOW_PATTERN, target_problem

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


# --- scorecard (api.md §3) -------------------------------------------------------------------------------


class Aggregate(StrEnum):
    p95 = "p95"
    latest = "latest"
    mean = "mean"
    sum = "sum"


class Status(StrEnum):
    met = "met"
    missed = "missed"
    no_data = "no_data"


class Target(BaseModel):
    aggregate: Aggregate
    op: Literal["<=", ">="]
    value: float
    unit: str = Field(description="min (SC-001), % (SC-002..SC-004) or incidents (SC-005).")


class CriterionOut(BaseModel):
    code: str = Field(pattern=r"^SC-00[1-5]$")
    title: str
    target: Target
    value: float | None = Field(
        description="The aggregate over the period, rounded to 6 decimals; null without samples."
    )
    samples: int = Field(ge=0, description="Samples in the period (the window; the quarter for SC-005).")
    status: Status
    lastCollectedAt: datetime | None = Field(description="Newest sample of the period.")


class Period(BaseModel):
    from_: datetime = Field(alias="from")
    to: datetime


class ScorecardOut(BaseModel):
    tenantId: uuid.UUID
    window: Period = Field(description="[to - window, to], both ends inclusive; `to` is the request time.")
    quarter: Period = Field(
        description="The calendar quarter (UTC) containing window.to, up to window.to: the period of SC-005."
    )
    criteria: Annotated[list[CriterionOut], Field(min_length=5, max_length=5)]


def _target_value_schema(code: str) -> dict[str, Any]:
    criterion = BY_CODE[code]
    lower = "exclusiveMinimum" if criterion.strict_minimum else "minimum"
    number = {"type": "number", lower: criterion.minimum, "maximum": criterion.maximum}
    return {"anyOf": [number, {"type": "null"}], "description": f"{criterion.unit}; null: the default again."}


class TargetIn(BaseModel):
    """One criterion's target for this tenant; the range depends on the code (documented per code)."""

    code: ScCode
    value: Annotated[float, Field(strict=True, allow_inf_nan=False)] | None = Field(
        description="The tenant's target; null drops it (the deployment default applies again)."
    )

    @model_validator(mode="after")
    def _in_range(self) -> TargetIn:
        if self.value is not None:
            problem = target_problem(self.code, self.value)
            if problem:
                raise ValueError(problem)
        return self

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: GetJsonSchemaHandler) -> dict[str, Any]:
        # Exactly what validation accepts: one alternative per group of codes sharing a range.
        groups = [["SC-001"], ["SC-002", "SC-003", "SC-004"], ["SC-005"]]
        return {
            "title": "TargetIn",
            "description": "SC-001: minutes, > 0; SC-002..SC-004: percent, 0..100; SC-005: incidents, >= 0.",
            "oneOf": [
                {
                    "type": "object",
                    "required": ["code", "value"],
                    "properties": {"code": {"enum": codes}, "value": _target_value_schema(codes[0])},
                }
                for codes in groups
            ],
        }


class TargetsIn(BaseModel):
    targets: Annotated[list[TargetIn], Field(min_length=1, max_length=5)] = Field(
        description="Applied in order: when a code appears more than once, its last item wins."
    )


class ScorecardQuery(BaseModel):
    # Immutable: one validated instance answers every request with the same query string (admission).
    model_config = ConfigDict(extra="ignore", frozen=True)

    # Documented, checked by the service: it answers a readable violation naming `window`.
    window: str | None = Field(
        None, description=WINDOW_DESCRIPTION, json_schema_extra={"pattern": WINDOW_PATTERN}
    )
