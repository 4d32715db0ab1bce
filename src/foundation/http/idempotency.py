"""Idempotency-Key header rules and request fingerprints (IETF Idempotency-Key draft)."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from foundation.http.json_encoding import canonical_json

# 1..255 visible ASCII characters (no spaces, no control characters).
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def is_valid_key(key: str) -> bool:
    return _KEY.match(key) is not None


def fingerprint(payload: Any) -> str:
    """SHA-256 of the canonical JSON of the (validated, normalised) payload."""
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()
