from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

SEMVER = re.compile(
    r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"(?:-((?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
MAX_TOKENS_PER_CATEGORY = 2000

TOKEN_NAME = r"^[A-Za-z0-9]+(?:[.-][A-Za-z0-9]+)*$"  # noqa: S105  # design-token name pattern
TokenName = Annotated[str, StringConstraints(pattern=TOKEN_NAME, max_length=128)]
TokenValue = Annotated[str, StringConstraints(min_length=1, max_length=256)]


def _tokens_schema(schema: dict[str, Any]) -> None:
    """Document the name rule with ``propertyNames`` (pydantic emits ``patternProperties``, which lets any
    other name through as far as the schema is concerned)."""
    value_schema = schema.pop("patternProperties", {}).get(TOKEN_NAME, {"type": "string"})
    schema["propertyNames"] = {"type": "string", "pattern": TOKEN_NAME, "maxLength": 128}
    schema["additionalProperties"] = value_schema


Tokens = Annotated[
    dict[TokenName, TokenValue], Field(max_length=MAX_TOKENS_PER_CATEGORY, json_schema_extra=_tokens_schema)
]


class ThemeCategories(BaseModel):
    model_config = ConfigDict(extra="forbid")

    foundation: Tokens = Field(default_factory=dict)
    semantic: Tokens = Field(default_factory=dict)
    component: Tokens = Field(default_factory=dict)


class ThemePublishRequest(BaseModel):
    categories: ThemeCategories
    wcagReport: dict[str, Any] | None = Field(
        default=None, description="Ignored: the server computes and stores its own contrast report."
    )
    makeCurrent: StrictBool = Field(
        default=False, description="Make this version the tenant's current theme."
    )


class WcagCategoryReport(BaseModel):
    status: str
    contrastRatio: float | None
    checkedPairs: int


class WcagReport(BaseModel):
    status: str = Field(pattern="^(pass|fail)$")
    contrastRatio: float | None
    threshold: float
    categories: dict[str, WcagCategoryReport]
    checkedPairs: list[dict[str, Any]]
    failures: list[dict[str, Any]]
    skipped: list[dict[str, Any]]


class ThemeResponse(BaseModel):
    tenantId: str = Field(json_schema_extra={"format": "uuid"})
    version: str
    generatedAt: str = Field(json_schema_extra={"format": "date-time"})
    categories: dict[str, dict[str, str]]
    wcagReport: WcagReport


class ThemePublishResponse(ThemeResponse):
    current: bool = Field(description="Whether this version is the tenant's current theme.")
    warnings: list[str] = Field(default_factory=list)


class CssQuery(BaseModel):
    """The query parameters of ``GET …/themes/current.css``."""

    # Immutable: one validated instance answers every request with the same query string (admission).
    model_config = ConfigDict(extra="ignore", frozen=True)

    root: bool = Field(
        False,
        description="Also declare the properties on `:root` (a page serving one tenant): 1/0, true/false, "
        "on/off, yes/no.",
    )
