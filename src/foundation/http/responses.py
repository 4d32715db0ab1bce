"""JSON responses shared by every endpoint: canonical bytes (``json_encoding``) and the charset header."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.responses import JSONResponse

from foundation.http.json_encoding import dumps

JSON_MEDIA_TYPE = "application/json; charset=utf-8"


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
