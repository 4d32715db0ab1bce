"""OpenTelemetry tracing configured only by the standard ``OTEL_*`` variables.

Server spans come from our ASGI middleware (:mod:`foundation.observability.server_spans`) and database child
spans from the SQLAlchemy instrumentation.
Spans are exported over OTLP/HTTP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or the traces-specific variable)
is set, through a bounded batch processor: a dead collector costs dropped spans (counted in
``foundation_otel_spans_dropped_total``), never request latency. Every exported span passes the PII guard
(:mod:`foundation.observability.otlp_spans` applies it while encoding).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from foundation.observability import metrics, otlp_env
from foundation.observability.otlp_spans import OtlpHttpSpanExporter
from foundation.observability.pii import PiiRedactingSpanExporter
from foundation.observability.provider import FoundationTracerProvider

DEFAULT_SERVICE_NAME = "iabank-foundation"


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

    def __init__(self, exporter: SpanExporter) -> None:
        super().__init__(exporter)
        # The SDK's bounded deque (a private attribute: without it drops are still bounded, just not counted).
        self._bounded_queue = getattr(getattr(self, "_batch_processor", None), "_queue", None)
        self._queue_full_drops = metrics.spans_dropped.labels("queue_full")

    def on_end(self, span: ReadableSpan) -> None:
        queue = self._bounded_queue
        full = queue is not None and len(queue) == queue.maxlen
        if full and span.context is not None and span.context.trace_flags.sampled:
            self._queue_full_drops.inc()
        super().on_end(span)


export_configured = otlp_env.export_configured


def build_tracer_provider(extra_exporter: SpanExporter | None = None) -> FoundationTracerProvider:
    """``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER[_ARG]``, ``OTEL_BSP_*`` and
    ``OTEL_EXPORTER_OTLP_*`` are honoured; the service name defaults to ``iabank-foundation``."""
    named = "service.name" in OTELResourceDetector().detect().attributes
    resource = Resource.create({} if named else {"service.name": DEFAULT_SERVICE_NAME})
    provider = FoundationTracerProvider(resource=resource)
    logging.getLogger("opentelemetry.sdk._shared_internal").setLevel(logging.ERROR)
    exporters: list[SpanExporter] = []
    if export_configured():
        exporters.append(OtlpHttpSpanExporter())  # applies the PII guard while encoding
    if extra_exporter is not None:
        exporters.append(PiiRedactingSpanExporter(extra_exporter))
    for exporter in exporters:
        provider.add_span_processor(CountingBatchSpanProcessor(CountingExporter(exporter)))
    return provider


def instrument(app: Any, engine: Any, provider: FoundationTracerProvider) -> None:
    """Server spans from :class:`~foundation.observability.server_spans.ServerSpanMiddleware` (outermost),
    database child spans from the SQLAlchemy instrumentation."""
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    from foundation.observability.server_spans import ServerSpanMiddleware

    app.add_middleware(ServerSpanMiddleware, tracer_provider=provider)
    # _instrument() rather than instrument(): the public call is once-per-process, and every app (tests create
    # many) has its own engine to trace.
    SQLAlchemyInstrumentor()._instrument(engine=engine.sync_engine, tracer_provider=provider)


def shutdown(provider: TracerProvider | None) -> None:
    if provider is not None:
        provider.shutdown()
