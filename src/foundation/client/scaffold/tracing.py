"""Spans of a `foundation scaffold` run, and the W3C ``traceparent`` its API requests carry.

With ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``…_TRACES_ENDPOINT``) set, each step is a span under one root span,
exported over OTLP/HTTP through the PII guard (standard ``OTEL_*`` variables apply: service name, resource
attributes), and the API requests continue that trace. Without it, nothing is exported, but the requests
still carry a fresh ``traceparent`` so the run's ``traceId`` finds the server's spans and logs.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from foundation.observability import otlp_env

EXPORT_TIMEOUT_SECONDS = 5


class Tracer:
    def __init__(self, command: str) -> None:
        self.command = command
        self._provider: Any = None
        self._tracer: Any = None
        self._root: Any = None
        self._fallback_trace = secrets.token_hex(16)
        if otlp_env.export_configured("traces"):
            self._start()

    def _start(self) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        from foundation.observability.pii import PiiRedactingSpanExporter

        resource = Resource.create(
            {"service.name": os.environ.get("OTEL_SERVICE_NAME") or "foundation-scaffold"}
        )
        provider = TracerProvider(resource=resource)
        exporter = OTLPSpanExporter(endpoint=otlp_env.endpoint("traces"), timeout=EXPORT_TIMEOUT_SECONDS)
        # Exported together at the end of the run, off the command's path: a collector that is down delays
        # the exit by the export timeout at most, and never fails the command.
        processor = BatchSpanProcessor(
            PiiRedactingSpanExporter(exporter),
            schedule_delay_millis=60_000,
            export_timeout_millis=EXPORT_TIMEOUT_SECONDS * 1000,
        )
        provider.add_span_processor(processor)
        self._provider = provider
        self._tracer = provider.get_tracer("foundation.client.scaffold")
        self._root = self._tracer.start_span(f"foundation scaffold {self.command}")

    @property
    def exporting(self) -> bool:
        return self._tracer is not None

    @contextmanager
    def step(self, name: str, **attributes: Any) -> Iterator[Any]:
        if self._tracer is None:
            yield None
            return
        from opentelemetry import trace

        context = trace.set_span_in_context(self._root)
        with self._tracer.start_as_current_span(f"scaffold.{name}", context=context) as span:
            for key, value in attributes.items():
                span.set_attribute(key, value)
            yield span

    def trace_id(self) -> str:
        if self._root is not None:
            return format(self._root.get_span_context().trace_id, "032x")
        return self._fallback_trace

    def traceparent(self) -> str:
        """The header for a request made inside the current step (or a fresh one without export)."""
        if self._tracer is not None:
            from opentelemetry import trace

            current = trace.get_current_span().get_span_context()
            if current.is_valid:
                return f"00-{current.trace_id:032x}-{current.span_id:016x}-01"
        return f"00-{self._fallback_trace}-{secrets.token_hex(8)}-01"

    def finish(self, **attributes: Any) -> None:
        if self._root is None:
            return
        for key, value in attributes.items():
            self._root.set_attribute(key, value)
        self._root.end()
        self._provider.shutdown()  # flushes; a collector that is down costs at most the export timeout
