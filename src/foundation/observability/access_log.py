"""The access-log line of each request, written straight to the log's writer when structlog's processor
chain would not change it: ~7 µs per line instead of ~31 µs, a third of a cached read's CPU at the default
INFO level (docs/benchmarks.md, ``bench/stack_inprocess.py``).

The line is the one structlog renders: same keys in the same order, the same timestamp format, the same
writer (structlog's own ``PrintLogger``, so lines never interleave). The PII guard still decides what may be
written as is: the short path is taken only while every field of the line is one the guard passes unchanged
(``pii.SAFE_LOG_FIELDS``) and the constant texts come out of it unchanged; otherwise, with console logs
(``FOUNDATION_LOG_JSON=false``) or with ``FOUNDATION_LOG_ACCESS_SHORT_PATH=false``, the line goes through
structlog. This service binds no structlog context variables, which the chain would merge into the line.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

import structlog

from foundation.observability import pii

COMPONENT = "foundation.access"
EVENT = "request"
FIELDS = ("method", "route", "status", "duration_ms", "tenant", "trace_id", "span_id")

_chain = structlog.get_logger(component=COMPONENT)
_encode = json.JSONEncoder().encode  # what structlog's JSONRenderer calls, without the per-call set-up
_writer = structlog.PrintLogger(file=sys.stdout)
_short_path = False


def configure(*, json_lines: bool, short_path: bool, info_enabled: bool) -> None:
    """Called by ``logging.configure_logging`` (after structlog's own configuration): whether lines may skip
    the chain, and the writer and chain of this configuration."""
    global _short_path, _writer, _chain
    _chain = structlog.get_logger(
        component=COMPONENT
    )  # a new proxy: the old one cached the old configuration
    _writer = structlog.PrintLogger(file=sys.stdout)
    _short_path = json_lines and short_path and info_enabled and guard_passes_unchanged()


def guard_passes_unchanged() -> bool:
    """The PII guard leaves every field of the access line as it is (checked, not assumed)."""
    constants_clean = all(pii.redact_text(text) == text for text in (COMPONENT, EVENT))
    return constants_clean and {*FIELDS, "level", "timestamp"} <= pii.SAFE_LOG_FIELDS


def write(
    method: str, route: str, status: int, duration_ms: float, tenant: str, trace_id: str, span_id: str | None
) -> None:
    if not _short_path:
        _chain.info(
            EVENT,
            method=method,
            route=route,
            status=status,
            duration_ms=duration_ms,
            tenant=tenant,
            trace_id=trace_id,
            span_id=span_id,
        )
        return
    line: dict[str, Any] = {
        "component": COMPONENT,
        "method": method,
        "route": route,
        "status": status,
        "duration_ms": duration_ms,
        "tenant": tenant,
        "trace_id": trace_id,
        "span_id": span_id,
        "event": EVENT,
        "level": "info",
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }
    _writer.msg(_encode(line))
