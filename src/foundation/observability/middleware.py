"""Per-request telemetry: RED metrics by route template and one JSON access-log line per request."""

from __future__ import annotations

import time
from typing import Any

import structlog
from opentelemetry import trace

from foundation.observability import metrics

access_log = structlog.get_logger(component="foundation.access")

# Paths scraped or polled constantly; they are measured but not logged line by line.
QUIET_PATHS = frozenset({"/metrics", "/health", "/health/ready"})


def route_template(scope: dict[str, Any]) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


class TelemetryMiddleware:
    def __init__(self, app: Any, *, metrics_enabled: bool = True) -> None:
        self.app = app
        self.metrics_enabled = metrics_enabled

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_code = 500

        async def send_and_capture(message: dict[str, Any]) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_capture)
        finally:
            elapsed = time.perf_counter() - started
            route = route_template(scope)
            tenant = getattr((scope.get("state") or {}).get("tenant"), "slug", "none")
            if self.metrics_enabled:
                metrics.observe_request(scope["method"], route, status_code, tenant, elapsed)
            if scope.get("path") not in QUIET_PATHS:
                span_context = trace.get_current_span().get_span_context()
                access_log.info(
                    "request",
                    method=scope["method"],
                    route=route,
                    status=status_code,
                    duration_ms=round(elapsed * 1000, 2),
                    tenant=tenant,
                    trace_id=_trace_id(scope, span_context),
                    span_id=format(span_context.span_id, "016x") if span_context.is_valid else None,
                )


def _trace_id(scope: dict[str, Any], span_context: Any) -> str | None:
    if span_context.is_valid:
        return format(span_context.trace_id, "032x")
    return (scope.get("state") or {}).get("trace_id")
