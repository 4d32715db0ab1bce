"""Pagination for list endpoints: ``page``, ``page_size`` (alias ``per_page``) and the response envelope."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from foundation.http.problem_kinds import Kinds, ProblemError, Violation

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100


class PaginationInfo(BaseModel):
    page: int
    perPage: int
    totalItems: int
    totalPages: int


@dataclass(frozen=True)
class Page:
    number: int
    size: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    def is_past_end(self, total_items: int) -> bool:
        return self.offset >= total_items

    def envelope(self, data: list[Any], total_items: int) -> dict[str, Any]:
        total_pages = (total_items + self.size - 1) // self.size
        return {
            "data": data,
            "pagination": {
                "page": self.number,
                "perPage": self.size,
                "totalItems": total_items,
                "totalPages": total_pages,
            },
        }


class PageQuery(BaseModel):
    """The query parameters of a list endpoint (endpoint declarations use it or a subclass as ``query``)."""

    # Immutable: one validated instance answers every request with the same query string (admission).
    model_config = ConfigDict(extra="ignore", frozen=True)

    page: int = Field(1, ge=1, description="Page number, from 1.")
    page_size: int | None = Field(None, ge=1, le=MAX_PAGE_SIZE, description="Items per page (default 25).")
    per_page: int | None = Field(None, ge=1, le=MAX_PAGE_SIZE, description="Alias of page_size.")

    def to_page(self) -> Page:
        if self.page_size is not None and self.per_page is not None and self.page_size != self.per_page:
            raise ProblemError(
                Kinds.pagination,
                "page_size and per_page were both given with different values.",
                violations=[Violation("per_page", "must equal page_size when both are given")],
            )
        return Page(self.page, self.page_size or self.per_page or DEFAULT_PAGE_SIZE)
