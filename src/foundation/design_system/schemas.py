from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from foundation.http.pagination import PageQuery, PaginationInfo

Text200 = Annotated[str, StringConstraints(min_length=1, max_length=200, strict=True)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=100, strict=True)]
Url = Annotated[
    str, StringConstraints(min_length=1, max_length=2048, pattern=r"^https?://[!-~]+$", strict=True)
]
TenantIdentifier = Annotated[str, StringConstraints(min_length=1, max_length=64, strict=True)]


class AxeStatus(StrEnum):
    pass_ = "pass"  # noqa: S105  # an axe verdict, not a password
    fail = "fail"
    warn = "warn"


class StoryIn(BaseModel):
    tenantId: TenantIdentifier | None = Field(description="Tenant UUID or slug; null for a global story.")
    componentId: Text200
    storyId: Text200
    tags: Annotated[list[Tag], Field(max_length=50)] = Field(default_factory=list)
    coveragePercent: Annotated[float, Field(ge=0, le=100, strict=True, allow_inf_nan=False)]
    axeStatus: AxeStatus
    chromaticBuild: Text200
    storybookUrl: Url


class StoriesIn(BaseModel):
    stories: Annotated[list[StoryIn], Field(min_length=1, max_length=500)]


class UpsertResult(BaseModel):
    upserted: int


class StoryOut(BaseModel):
    id: uuid.UUID
    tenantId: uuid.UUID | None
    componentId: str
    storyId: str
    tags: list[str]
    coveragePercent: float
    axeStatus: AxeStatus
    chromaticBuild: str
    storybookUrl: str
    updatedAt: str = Field(json_schema_extra={"format": "date-time"})


class StoryPage(BaseModel):
    data: list[StoryOut]
    pagination: PaginationInfo


class StoryQuery(PageQuery):
    componentId: str | None = Field(None, max_length=200, description="Exact component id.")
    tag: str | None = Field(None, max_length=100, description="Exact member of `tags`.")
