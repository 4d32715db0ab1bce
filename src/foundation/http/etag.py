"""Weak ETags derived from the canonical JSON of a representation, and If-None-Match matching."""

from __future__ import annotations

import hashlib
from typing import Any

from foundation.http.responses import canonical_json

CONDITIONAL_CACHE_CONTROL = "private, no-cache"


def weak_etag(representation: Any) -> str:
    return weak_etag_of_canonical(canonical_json(representation).encode("utf-8"))


def weak_etag_of_canonical(document: bytes) -> str:
    """The ETag of a representation already rendered by ``canonical_json`` (saves rendering it twice)."""
    return f'W/"{hashlib.sha256(document).hexdigest()[:32]}"'


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
