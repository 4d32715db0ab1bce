"""Which request and response headers a server span records, from the standard instrumentation variables:
``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST`` / ``..._RESPONSE`` (header-name regexes) and
``..._SANITIZE_FIELDS`` (names whose values are replaced)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

CAPTURE_REQUEST = "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST"
CAPTURE_RESPONSE = "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE"
SANITIZE_FIELDS = "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS"
SANITIZED = "[REDACTED]"


def _pattern(variable: str) -> re.Pattern[str] | None:
    """A comma-separated list of header-name regexes from the environment, matched in full, any case."""
    items = [item.strip() for item in os.environ.get(variable, "").split(",") if item.strip()]
    return re.compile("|".join(f"(?:{item})" for item in items), re.IGNORECASE) if items else None


class HeaderCapture:
    """Which request/response headers become ``http.{request|response}.header.<name>`` attributes."""

    def __init__(self) -> None:
        self.request = _pattern(CAPTURE_REQUEST)
        self.response = _pattern(CAPTURE_RESPONSE)
        self.sanitize = _pattern(SANITIZE_FIELDS)

    def attributes(
        self, pattern: re.Pattern[str], prefix: str, headers: Iterable[tuple[bytes, bytes]]
    ) -> dict[str, tuple[str, ...]]:
        captured: dict[str, list[str]] = {}
        for raw_name, raw_value in headers:
            name = raw_name.decode("latin-1").lower()
            if not pattern.fullmatch(name):
                continue
            value = raw_value.decode("latin-1")
            if self.sanitize is not None and self.sanitize.search(name):
                value = SANITIZED
            captured.setdefault(f"{prefix}{name.replace('-', '_')}", []).append(value)
        return {key: tuple(values) for key, values in captured.items()}
