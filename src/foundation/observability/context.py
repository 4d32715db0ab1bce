"""Per-request context: the trace id every Problem body and log line reports.

When OpenTelemetry is active the current server span's trace id is used. Otherwise the incoming W3C
``traceparent`` is honoured (malformed ones ignored) or a fresh id is generated, so ``traceId`` is always
32 lower-hex and equal to the incoming trace when there is one.
"""

from __future__ import annotations

import re
import secrets

from opentelemetry import trace
from starlette.types import Scope

from foundation.asgi import header_text

_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")


def parse_traceparent(value: str | None) -> str | None:
    if not value:
        return None
    match = _TRACEPARENT.match(value.strip().lower())
    if not match or match.group(1) == "0" * 32 or match.group(2) == "0" * 16:
        return None
    return match.group(1)


def trace_id_of(scope: Scope) -> str:
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        return format(span_context.trace_id, "032x")
    state = scope.setdefault("state", {})
    trace_id = state.get("trace_id")
    if trace_id is None:
        trace_id = parse_traceparent(header_text(scope, b"traceparent")) or secrets.token_hex(16)
        state["trace_id"] = trace_id
    return str(trace_id)
