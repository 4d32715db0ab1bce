"""The request guard: header and body sizes (431, 413), JSON content type (415), NUL characters and JSON
nesting depth (400), checked before any handler parses anything."""

from __future__ import annotations

import re
from typing import Any

from foundation.asgi import first_header, header_block_size, header_map
from foundation.http.problem_kinds import Kinds, ProblemError, Violation

Scope = dict[str, Any]
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def json_depth_exceeds(body: bytes, limit: int) -> bool:
    """Cheap scan of bracket nesting outside strings; the JSON parser never sees deeper documents."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False  # not enough opening brackets to nest that deep (counted in C, not byte by byte)
    depth = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


# U+0000 is valid JSON but no database text type stores it (PostgreSQL rejects it outright), so it is refused
# at the door on every backend alike: 400, never a 500 from the driver.
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000", re.IGNORECASE)


def contains_nul_escape(body: bytes) -> bool:
    """True when a JSON string holds ``\\u0000`` (an escaped backslash before ``u0000`` does not count)."""
    if b"\x00" in body:
        return True
    # The regex (a look-behind at every position) only runs on bodies that hold the escape at all.
    return (b"\\u0000" in body or b"\\U0000" in body) and _NUL_ESCAPE.search(body) is not None


def _nul_problem(field: str, where: str) -> ProblemError:
    return ProblemError(
        Kinds.validation,
        f"NUL characters (U+0000) are not accepted in {where}.",
        violations=[Violation(field, "must not contain NUL (U+0000) characters")],
    )


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class RequestGuard:
    """Sizes, content type, NUL characters and JSON depth, checked before anything parses the request."""

    def __init__(self, *, max_body_bytes: int, max_header_bytes: int, max_json_depth: int) -> None:
        self.max_body = max_body_bytes
        self.max_headers = max_header_bytes
        self.max_depth = max_json_depth

    def check_head(self, scope: Scope) -> ProblemError | None:
        """Header block size, NUL in the query string, a declared body over the limit."""
        headers = scope.get("headers") or []
        if header_block_size(headers) > self.max_headers:
            return ProblemError(Kinds.headers_too_large, f"Request headers exceed {self.max_headers} bytes.")
        if b"%00" in (scope.get("query_string") or b""):
            return _nul_problem("query", "query parameters")
        declared = first_header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            return self._too_large()
        return None

    async def read_body(self, scope: Scope, receive: Any) -> tuple[bytes | None, ProblemError | None]:
        """The whole body, or the problem with it; ``(None, None)`` when the client went away meanwhile."""
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None, None
            body.extend(message.get("body", b""))
            if len(body) > self.max_body:
                return None, self._too_large()
            if not message.get("more_body", False):
                break
        problem = self._check_body(header_map(scope.get("headers") or []), bytes(body)) if body else None
        return bytes(body), problem

    def _check_body(self, first: dict[bytes, bytes], body: bytes) -> ProblemError | None:
        """A JSON media type, no NUL character, nesting within the limit."""
        if not _is_json(first.get(b"content-type", b"").decode("latin-1")):
            return ProblemError(
                Kinds.unsupported_media_type,
                "The request body must be JSON (Content-Type: application/json).",
                violations=[Violation("Content-Type", "must be application/json")],
            )
        if contains_nul_escape(body):
            return _nul_problem("body", "JSON strings")
        if json_depth_exceeds(body, self.max_depth):
            return ProblemError(
                Kinds.validation,
                f"JSON nesting deeper than {self.max_depth} levels.",
                violations=[Violation("body", f"nesting depth must be at most {self.max_depth}")],
            )
        return None

    def _too_large(self) -> ProblemError:
        return ProblemError(Kinds.payload_too_large, f"The request body exceeds {self.max_body} bytes.")


def replay_body(body: bytes, original_receive: Any) -> Any:
    """Hands the buffered body to the app once, then defers to the server (e.g. for disconnects)."""
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await original_receive()

    return receive
