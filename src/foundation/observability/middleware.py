"""Per-request telemetry: RED metrics by route template and one JSON access-log line per request.

``record_request`` is called by the request envelope (http/middleware.py) when a request ends, whichever layer
answered it. The server span (observability/server_spans.py) wraps the envelope, so the span is current while
the access line is written: its ``trace_id``/``span_id`` are the span's. Scrape and probe paths are measured
but neither logged line by line nor traced (their database calls would otherwise be orphan root spans).
"""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry import trace

from foundation.observability import access_log, metrics
from foundation.observability import logging as logging_config
from foundation.observability.context import trace_id_of

# Paths scraped or polled constantly; they are measured but not logged line by line.
QUIET_PATHS = frozenset({"/metrics", "/health", "/health/ready"})
UNMATCHED = "unmatched"
# Methods named as-is; anything else is "_OTHER" (HTTP semantic conventions), so a client inventing
# methods cannot grow the metric label set or span names.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"})


def method_label(method: str) -> str:
    return method if method in KNOWN_METHODS else "_OTHER"


def route_template(scope: dict[str, Any]) -> str:
    """The matched route's template; never the raw path, whose ids would explode the label set."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else UNMATCHED


def tenant_label(scope: dict[str, Any]) -> str:
    return str(getattr((scope.get("state") or {}).get("tenant"), "slug", None) or "none")


def record_request(scope: dict[str, Any], status_code: int, elapsed: float, *, metrics_enabled: bool) -> None:
    """RED metrics and the access-log line of one request."""
    route = route_template(scope)
    tenant = tenant_label(scope)
    if metrics_enabled:
        metrics.observe_request(method_label(scope["method"]), route, status_code, tenant, elapsed)
    if scope.get("path") in QUIET_PATHS or not logging_config.enabled_for(logging.INFO):
        return
    span_context = trace.get_current_span().get_span_context()
    access_log.write(
        scope["method"],
        route,
        status_code,
        round(elapsed * 1000, 2),
        tenant,
        trace_id_of(scope),
        format(span_context.span_id, "016x") if span_context.is_valid else None,
    )
