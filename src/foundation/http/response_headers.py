"""The headers every answer leaves with: security headers, ``Cache-Control: no-store`` unless the answer set
its own, the request's ``RateLimit-*`` and a charset on framework-built JSON."""

from __future__ import annotations

from typing import Any

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-origin"),
)
STRICT_CSP = b"default-src 'none'; frame-ancestors 'none'"
# The interactive docs page (foundation.docs_ui) runs Swagger UI from the API's own origin: scripts, styles
# and the OpenAPI document from 'self' only, no inline script; data: images are Swagger UI's inline SVG icons.
DOCS_CSP = (
    b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'; "
    b"script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'"
)
DOCS_PATHS = frozenset({"/docs"})

# Everything added to every response, per Content-Security-Policy, built once.
_ADDED = {
    csp: (*SECURITY_HEADERS, (b"content-security-policy", csp), (b"cache-control", b"no-store"))
    for csp in (STRICT_CSP, DOCS_CSP)
}
_ADDED_NAMES = frozenset(name for name, _ in _ADDED[STRICT_CSP])
_JSON = b"application/json"
_JSON_UTF8 = b"application/json; charset=utf-8"
RATELIMIT_STATE = "ratelimit_headers"  # request-state key: the budget's headers, encoded (admission sets it)


# Completed headers of immutable header tuples (the response cache's kept answers, sent again and again), by
# CSP and tuple: a kept answer's headers are completed once, not on every hit. Bounded: cleared when full.
_COMPLETED: dict[
    tuple[bytes, tuple[tuple[bytes, bytes], ...]], tuple[list[tuple[bytes, bytes]], frozenset[bytes]]
] = {}
COMPLETED_KEPT = 4096


def completed(scope: dict[str, Any], headers: Any) -> list[tuple[bytes, bytes]]:
    """``headers`` (an answer's) with everything above added; what the answer set itself wins (e.g. a
    cacheable response's own Cache-Control or a 429's RateLimit-Remaining)."""
    csp = DOCS_CSP if scope.get("path") in DOCS_PATHS else STRICT_CSP
    if isinstance(headers, tuple):
        memo_key = (csp, headers)
        found = _COMPLETED.get(memo_key)
        if found is None:
            if len(_COMPLETED) >= COMPLETED_KEPT:
                _COMPLETED.clear()
            found = _COMPLETED[memo_key] = _with_static_headers(headers, csp)
        fixed, present = found
        headers = list(fixed)
    else:
        headers, present = _with_static_headers(headers or (), csp)
    ratelimit = (scope.get("state") or {}).get(RATELIMIT_STATE)
    if ratelimit:
        headers += [item for item in ratelimit if item[0] not in present]
    return headers


def _with_static_headers(given: Any, csp: bytes) -> tuple[list[tuple[bytes, bytes]], frozenset[bytes]]:
    """Everything but the request's own ``RateLimit-*``; also the names the answer set itself."""
    headers = list(given)
    present = set()
    for index, (name, value) in enumerate(headers):
        lowered = name.lower()
        present.add(lowered)
        if value == _JSON and lowered == b"content-type":
            headers[index] = (
                name,
                _JSON_UTF8,
            )  # framework-built JSON (e.g. /openapi.json): the contract's charset
    added = _ADDED[csp]
    if present.isdisjoint(_ADDED_NAMES):
        headers += added
    else:
        headers += [item for item in added if item[0] not in present]
    return headers, frozenset(present)
