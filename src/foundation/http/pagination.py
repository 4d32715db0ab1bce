"""Pagination for list endpoints: ``page``, ``page_size`` (alias ``per_page``) and the response envelope."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel

from foundation.http.problems import Kinds, ProblemError, Violation

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


# async: FastAPI runs plain `def` dependencies in a thread pool, a hand-off per request.
async def pagination(
    page: Annotated[int, Query(ge=1, description="Page number, from 1.")] = 1,
    page_size: Annotated[
        int | None, Query(ge=1, le=MAX_PAGE_SIZE, description="Items per page (default 25).")
    ] = None,
    per_page: Annotated[int | None, Query(ge=1, le=MAX_PAGE_SIZE, description="Alias of page_size.")] = None,
) -> Page:
    if page_size is not None and per_page is not None and page_size != per_page:
        raise ProblemError(
            Kinds.pagination,
            "page_size and per_page were both given with different values.",
            violations=[Violation("per_page", "must equal page_size when both are given")],
        )
    return Page(page, page_size or per_page or DEFAULT_PAGE_SIZE)
