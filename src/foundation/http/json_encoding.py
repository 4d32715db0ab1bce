"""The project's JSON text: canonical bytes (fingerprints, bodies), the weak ETags derived from them, and
RFC 3339 UTC datetimes.

No web framework here, so services and the schemas the CLI verbs load use these without importing Starlette;
the response classes built on them live in ``responses``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any


def rfc3339(value: datetime) -> str:
    """UTC with millisecond precision and a ``Z`` suffix, e.g. ``2026-01-31T12:00:00.123Z``."""
    # isoformat pads the year to four digits (strftime's %Y gives "423" for year 423 on glibc: not RFC 3339).
    return value.astimezone(UTC).isoformat(timespec="milliseconds").removesuffix("+00:00") + "Z"


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 kept: the basis of fingerprints and ETags."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def dumps(value: Any) -> bytes:
    return canonical_json(value).encode("utf-8")


def weak_etag(representation: Any) -> str:
    return weak_etag_of_canonical(canonical_json(representation).encode("utf-8"))


def weak_etag_of_canonical(document: bytes) -> str:
    """The ETag of a representation already rendered by ``canonical_json`` (saves rendering it twice)."""
    return f'W/"{hashlib.sha256(document).hexdigest()[:32]}"'
