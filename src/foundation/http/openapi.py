"""OpenAPI 3.1 building blocks shared by every route: Problem Details, success headers, problem responses.

Routes declare their own success headers and problem statuses with these helpers; the document itself is
assembled in ``admission/openapi.py`` from the routes and their endpoint declarations.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

PROBLEM_REF = {"$ref": "#/components/schemas/ProblemDetails"}

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "ProblemDetails",
    "description": "RFC 9457 Problem Details.",
    "required": ["type", "title", "status", "detail", "instance", "traceId"],
    "properties": {
        "type": {"type": "string", "description": "https://iabank.local/problems/foundation/<kind>"},
        "title": {"type": "string", "description": "Stable snake_case code."},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string", "description": "Request path (relative reference)."},
        "traceId": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
        "violations": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
    "additionalProperties": True,
}

_INT_HEADER = {"schema": {"type": "integer", "minimum": 0}}
RATE_LIMIT_HEADERS: dict[str, Any] = {
    "RateLimit-Limit": {"description": "Requests allowed in the window.", **_INT_HEADER},
    "RateLimit-Remaining": {"description": "Requests left in the window.", **_INT_HEADER},
    "RateLimit-Reset": {"description": "Seconds until the window resets.", **_INT_HEADER},
}
ETAG_HEADER = {"ETag": {"description": 'Weak entity tag W/"<32 hex>".', "schema": {"type": "string"}}}
LOCATION_HEADER = {"Location": {"description": "Path of the registration.", "schema": {"type": "string"}}}


def success_headers(
    *, etag: bool = False, location: bool = False, extra: dict[str, Any] | None = None
) -> dict:
    headers: dict[str, Any] = dict(RATE_LIMIT_HEADERS)
    if etag:
        headers.update(ETAG_HEADER)
    if location:
        headers.update(LOCATION_HEADER)
    headers.update(extra or {})
    return headers


def problem(status: int, description: str | None = None, headers: dict[str, Any] | None = None) -> dict:
    response: dict[str, Any] = {
        "description": description or HTTPStatus(status).phrase,
        "content": {"application/problem+json": {"schema": PROBLEM_REF}},
    }
    if headers:
        response["headers"] = headers
    return response


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        if status == 429:
            retry = {"Retry-After": {"description": "Seconds to wait.", **_INT_HEADER}}
            responses[status] = problem(status, "Rate limit exceeded", {**RATE_LIMIT_HEADERS, **retry})
        else:
            responses[status] = problem(status)
    return responses


def conditional_get_responses() -> dict[int | str, dict[str, Any]]:
    return {
        304: {"description": "Not modified (If-None-Match matched).", "headers": success_headers(etag=True)}
    }
