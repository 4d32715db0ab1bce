"""JSON rendering shared by every endpoint: canonical bytes, RFC 3339 UTC datetimes, charset header."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from starlette.responses import JSONResponse

JSON_MEDIA_TYPE = "application/json; charset=utf-8"


def rfc3339(value: datetime) -> str:
    """UTC with millisecond precision and a ``Z`` suffix, e.g. ``2026-01-31T12:00:00.123Z``."""
    # isoformat pads the year to four digits (strftime's %Y gives "423" for year 423 on glibc: not RFC 3339).
    return value.astimezone(UTC).isoformat(timespec="milliseconds").removesuffix("+00:00") + "Z"


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 kept: the basis of fingerprints and ETags."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def dumps(value: Any) -> bytes:
    return canonical_json(value).encode("utf-8")


class JsonResponse(JSONResponse):
    """A JSONResponse subclass, so FastAPI documents the route's ``response_model`` as the body schema."""

    media_type = JSON_MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        if isinstance(content, bytes):
            return content
        return dumps(content)


def json_response(
    content: Any, *, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> JsonResponse:
    return JsonResponse(content, status_code=status_code, headers=dict(headers or {}))
