"""The tracer provider of the API: the SDK's, taking finished server spans made outside its tracers."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, SpanProcessor, TracerProvider


class FoundationTracerProvider(TracerProvider):
    """The SDK's provider, which also takes finished spans made outside its tracers.

    The server spans (:mod:`foundation.observability.server_spans`) are recorded without the SDK's mutable
    span and reach the same span processors, with the same resource, sampler, id generator and limits, here.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.span_limits = SpanLimits()  # the OTEL_SPAN_* / OTEL_ATTRIBUTE_* limits, as the SDK reads them
        self._processors: list[SpanProcessor] = []

    def add_span_processor(self, span_processor: SpanProcessor) -> None:
        super().add_span_processor(span_processor)
        self._processors.append(span_processor)

    def emit(self, span: ReadableSpan) -> None:
        for processor in self._processors:
            processor.on_end(span)
