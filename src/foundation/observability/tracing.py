"""OpenTelemetry tracing configured only by the standard ``OTEL_*`` variables.

Server spans come from the ASGI instrumentation and database child spans from the SQLAlchemy one.
Spans are exported over OTLP/HTTP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or the traces-specific variable)
is set, through a bounded batch processor: a dead collector costs dropped spans (counted in
``foundation_otel_spans_dropped_total``), never request latency. Every exported span passes the PII guard
(:mod:`foundation.observability.otlp_spans` applies it while encoding).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from foundation.observability import metrics
from foundation.observability.otlp_spans import OtlpHttpSpanExporter
from foundation.observability.pii import PiiRedactingSpanExporter

DEFAULT_SERVICE_NAME = "iabank-foundation"
# Spans made per request by the ASGI instrumentation for every ``send``/``receive`` message: they double the
# span count (and the cost) of a request while saying nothing the server span does not.
# Searched in scheme://host/path (no query): anchored so `/api/v1/tenant-metrics/...` stays traced.
EXCLUDED_URLS = "/metrics$,/health$,/health/ready$"
EXCLUDED_ASGI_SPANS: list[Any] = ["receive", "send"]


class CountingExporter(SpanExporter):
    """Counts spans lost to export failures (collector down, timeouts)."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            result = self.inner.export(spans)
        except Exception:
            result = SpanExportResult.FAILURE
        if result is not SpanExportResult.SUCCESS:
            metrics.spans_dropped.labels("export_failed").inc(len(spans))
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


class CountingBatchSpanProcessor(BatchSpanProcessor):
    """A batch processor whose queue-full drops are counted instead of silently lost.

    The queue is bounded (``OTEL_BSP_MAX_QUEUE_SIZE``, default 2048); when it is full the SDK discards the
    oldest span. The SDK also logs a warning per dropped span from the request thread; that logger is
    raised to ERROR in :func:`build_tracer_provider` because the drops are counted here instead.
    """

    def on_end(self, span: ReadableSpan) -> None:
        if span.context is not None and span.context.trace_flags.sampled:
            queue = getattr(getattr(self, "_batch_processor", None), "_queue", None)
            if queue is not None and queue.maxlen is not None and len(queue) >= queue.maxlen:
                metrics.spans_dropped.labels("queue_full").inc()
        super().on_end(span)


def export_configured() -> bool:
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def build_tracer_provider(extra_exporter: SpanExporter | None = None) -> TracerProvider:
    """``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER[_ARG]``, ``OTEL_BSP_*`` and
    ``OTEL_EXPORTER_OTLP_*`` are honoured; the service name defaults to ``iabank-foundation``."""
    named = "service.name" in OTELResourceDetector().detect().attributes
    resource = Resource.create({} if named else {"service.name": DEFAULT_SERVICE_NAME})
    provider = TracerProvider(resource=resource)
    logging.getLogger("opentelemetry.sdk._shared_internal").setLevel(logging.ERROR)
    exporters: list[SpanExporter] = []
    if export_configured():
        exporters.append(OtlpHttpSpanExporter())  # applies the PII guard while encoding
    if extra_exporter is not None:
        exporters.append(PiiRedactingSpanExporter(extra_exporter))
    for exporter in exporters:
        provider.add_span_processor(CountingBatchSpanProcessor(CountingExporter(exporter)))
    return provider


def instrument(app: Any, engine: Any, provider: TracerProvider) -> None:
    """Server spans from the ASGI instrumentation, database child spans from the SQLAlchemy one.

    The ASGI middleware is added directly rather than through ``FastAPIInstrumentor``: the latter names each
    span by walking every route before the request runs (13 % of a cached read's CPU under load), while the
    route is known anyway once the app has matched it — :class:`SpanNamingMiddleware` renames the span then.
    """
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    app.add_middleware(SpanNamingMiddleware)
    app.add_middleware(
        OpenTelemetryMiddleware,
        tracer_provider=provider,
        excluded_urls=EXCLUDED_URLS,
        exclude_spans=EXCLUDED_ASGI_SPANS,
        default_span_details=method_span_details,
    )
    # _instrument() rather than instrument(): the public call is once-per-process, and every app (tests create
    # many) has its own engine to trace.
    SQLAlchemyInstrumentor()._instrument(engine=engine.sync_engine, tracer_provider=provider)


def method_span_details(scope: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The span's provisional name: the method alone, as semantic conventions name an unrouted request."""
    return str(scope.get("method") or "HTTP"), {}


class SpanNamingMiddleware:
    """Names the server span ``{method} {route template}`` and sets ``http.route`` once the app has routed.

    Runs just inside the ASGI instrumentation; the route (set by the router or by the response cache) is in
    the scope by the time the response starts, and the span is still open then.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_naming_span(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                template = getattr(scope.get("route"), "path", None)
                span = trace.get_current_span()
                if template and span.is_recording():
                    span.update_name(f"{scope['method']} {template}")
                    span.set_attribute("http.route", template)
            await send(message)

        await self.app(scope, receive, send_naming_span)


def shutdown(provider: TracerProvider | None) -> None:
    if provider is not None:
        provider.shutdown()


def current_trace_id() -> str | None:
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None
