"""Idempotency-Key header rules and request fingerprints (IETF Idempotency-Key draft)."""

from __future__ import annotations

import hashlib
import re
from typing import Annotated, Any

from fastapi import Header

from foundation.http.responses import canonical_json
from foundation.problems import Kinds, ProblemError, Violation

# 1..255 visible ASCII characters (no spaces, no control characters).
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


# async: FastAPI runs plain `def` dependencies in a thread pool, a hand-off per request.
async def idempotency_key(
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Client-chosen key, 1..255 visible ASCII characters, unique per operation.",
        ),
    ] = None,
) -> str:
    if key is None:
        raise ProblemError(
            Kinds.idempotency_key_required,
            "The Idempotency-Key header is required.",
            violations=[Violation("Idempotency-Key", "header is required")],
        )
    if not is_valid_key(key):
        raise ProblemError(
            Kinds.idempotency_key_invalid,
            "The Idempotency-Key header must be 1..255 visible ASCII characters.",
            violations=[Violation("Idempotency-Key", "must be 1..255 visible ASCII characters")],
        )
    return key


def is_valid_key(key: str) -> bool:
    return _KEY.match(key) is not None


def fingerprint(payload: Any) -> str:
    """SHA-256 of the canonical JSON of the (validated, normalised) payload."""
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()
