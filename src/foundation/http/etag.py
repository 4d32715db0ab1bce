"""If-None-Match matching and conditional answers for the weak ETags of ``json_encoding``."""

from __future__ import annotations

from starlette.responses import Response
from starlette.types import Scope

from foundation.asgi import header_text
from foundation.http.responses import JsonResponse

CONDITIONAL_CACHE_CONTROL = "private, no-cache"


def _opaque(tag: str) -> str:
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


def if_none_match_matches(header: str | None, etag: str) -> bool:
    """Weak comparison (RFC 9110 §13.1.2) over a comma list; ``*`` matches any current representation."""
    if header is None:
        return False
    wanted = _opaque(etag)
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*" or (candidate and _opaque(candidate) == wanted):
            return True
    return False


def is_wildcard(header: str | None) -> bool:
    return header is not None and any(part.strip() == "*" for part in header.split(","))


def conditional_response(
    scope: Scope,
    body: bytes,
    etag: str,
    *,
    media_type: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """200 with ``body``, or 304 when the request's ``If-None-Match`` matches ``etag``; both revalidated
    on every use (``Cache-Control: private, no-cache``)."""
    all_headers = {"ETag": etag, "Cache-Control": CONDITIONAL_CACHE_CONTROL, **(headers or {})}
    if if_none_match_matches(header_text(scope, b"if-none-match"), etag):
        return Response(status_code=304, headers=all_headers)
    if media_type is not None:
        return Response(body, headers=all_headers, media_type=media_type)
    return JsonResponse(body, headers=all_headers)
