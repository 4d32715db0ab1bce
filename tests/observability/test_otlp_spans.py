"""The direct OTLP span encoder and its exporter.

The encoder must produce exactly the ExportTraceServiceRequest the SDK's own encoder produces for the
PII-scrubbed spans (both parsed and compared as protobuf messages), also when its per-attribute memo answers.
The exporter is checked against a real HTTP endpoint: standard OTEL_* variables, gzip, retries, failures.
"""

from __future__ import annotations

import asyncio
import gzip
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

from foundation.observability.otlp_encoding import MEMO_LIMIT, SpanRequestEncoder
from foundation.observability.otlp_spans import OtlpHttpSpanExporter
from foundation.observability.pii import REDACTED, scrub_span
from foundation.observability.provider import FoundationTracerProvider
from foundation.observability.server_spans import ServerSpanMiddleware
from tests.observability.servers import free_port

CPF = "123.456.789-09"
EMAIL = "maria.souza@banco.com.br"


def finished_spans() -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create({"service.name": "encoder-test", "deployment.environment": "test"}),
        span_limits=SpanLimits(max_span_attributes=12, max_events=2, max_links=1),
    )
    provider.add_span_processor(SimpleSpanProcessor(memory))
    server = provider.get_tracer(
        "foundation.test.server", "1.2.3", schema_url="https://opentelemetry.io/schemas/1.21.0"
    )
    db = provider.get_tracer("foundation.test.db")
    remote_parent = SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C,
        span_id=0xB7AD6B7169203331,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
        trace_state=TraceState([("vendor", "abc"), ("other", "x1")]),
    )
    linked = SpanContext(trace_id=7, span_id=9, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    attributes: dict[str, Any] = {
        "http.request.method": "GET",
        "http.route": "/api/v1/tenants/{tenantId}/themes/current",
        "http.response.status_code": 200,
        "url.query": f"cpf={CPF}&email={EMAIL}",
        "http.request.header.authorization": ("Bearer abc.def",),
        "negative": -42,
        "ratio": 0.25,
        "flag": True,
        "zero": 0,
        "empty": "",
        "numbers": (1, 2, 3),
        "flags": (True, False),
    }
    with server.start_as_current_span(
        f"GET lookup {EMAIL}",
        context=trace.set_span_in_context(trace.NonRecordingSpan(remote_parent)),
        kind=SpanKind.SERVER,
        attributes=attributes,
        links=[Link(linked, {"link.reason": f"retry of {CPF}"})],
    ) as span:
        span.set_attribute("over.the.limit", "dropped")
        span.add_event("validation", {"field": "slug", "detail": f"contato {EMAIL}"})
        span.add_event("second")
        span.add_event("third, dropped by the limit")
        with db.start_as_current_span("SELECT foundation", attributes={"db.system": "sqlite"}):
            pass
        span.set_status(Status(StatusCode.ERROR, f"failed for {CPF}"))
    with server.start_as_current_span("GET", kind=SpanKind.SERVER, attributes={"flag": 1, "ratio": 1}):
        pass
    provider.shutdown()
    return list(memory.get_finished_spans())


def sdk_request(spans: list[ReadableSpan]) -> ExportTraceServiceRequest:
    """The SDK encoder's request for the scrubbed spans; the dropped counts come from the originals, since
    a ReadableSpan rebuilt by ``scrub_span`` cannot carry them (the direct encoder keeps them)."""
    request = ExportTraceServiceRequest.FromString(
        encode_spans([scrub_span(s) for s in spans]).SerializeToString()
    )
    originals = {span.context.span_id.to_bytes(8, "big"): span for span in spans if span.context}
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for encoded in scope_spans.spans:
                original = originals[encoded.span_id]
                encoded.dropped_attributes_count = original.dropped_attributes
                encoded.dropped_events_count = original.dropped_events
                encoded.dropped_links_count = original.dropped_links
    return request


def test_encoding_equals_the_sdk_encoder_on_scrubbed_spans() -> None:
    spans = finished_spans()
    encoder = SpanRequestEncoder()
    first = ExportTraceServiceRequest.FromString(encoder.encode(spans))
    again = ExportTraceServiceRequest.FromString(encoder.encode(spans))  # memo answers this time
    expected = sdk_request(spans)
    assert first == expected
    assert again == expected
    assert len(first.resource_spans[0].scope_spans) == 2


def server_request_spans() -> list[ReadableSpan]:
    """Spans of ServerSpanMiddleware (encoded from their own fields): a continued trace with annotations,
    events over the limit and an escaping exception, a 500, and a plain root span."""
    memory = InMemorySpanExporter()
    provider = FoundationTracerProvider(resource=Resource.create({"service.name": "encoder-test"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.span_limits = SpanLimits(max_span_attributes=10, max_events=2)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        span = trace.get_current_span()
        if scope["path"] == "/boom":
            span.set_attributes({"app.owner": EMAIL, "app.count": 3, "app.ids": ["a", "b"], "app.over": "x"})
            span.add_event("validation", {"detail": f"contato {EMAIL}"})
            span.add_event("second")
            raise RuntimeError(f"failed for {CPF}")
        status = 500 if scope["path"] == "/fail" else 200
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    middleware = ServerSpanMiddleware(app, tracer_provider=provider)

    async def send(message: dict[str, Any]) -> None:
        return None

    async def run() -> None:
        base = {"type": "http", "method": "GET", "scheme": "http", "http_version": "1.1", "root_path": ""}
        parent = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        headers = [(b"host", b"api.local:9000"), (b"traceparent", parent), (b"tracestate", b"vendor=abc")]
        with pytest.raises(RuntimeError):
            await middleware(
                {**base, "path": "/boom", "query_string": f"cpf={CPF}".encode(), "headers": headers},
                None,
                send,
            )
        await middleware({**base, "path": "/fail", "query_string": b"", "headers": []}, None, send)
        await middleware(
            {**base, "path": "/ok", "query_string": b"", "headers": [(b"user-agent", b"ui/1")]}, None, send
        )

    asyncio.run(run())
    return list(memory.get_finished_spans())


def test_server_spans_encode_as_the_sdk_encoder_would() -> None:
    spans = server_request_spans()
    assert len(spans) == 3 and spans[0].dropped_attributes == 2 and spans[0].dropped_events == 1
    encoder = SpanRequestEncoder()
    first = ExportTraceServiceRequest.FromString(encoder.encode(spans))
    again = ExportTraceServiceRequest.FromString(encoder.encode(spans))
    assert first == sdk_request(spans)
    assert again == first
    encoded = encoder.encode(spans)
    assert CPF.encode() not in encoded and EMAIL.encode() not in encoded


def test_pii_is_masked_and_equal_values_of_different_types_stay_distinct() -> None:
    spans = finished_spans()
    encoded = SpanRequestEncoder().encode(spans)
    assert CPF.encode() not in encoded and EMAIL.encode() not in encoded and b"abc.def" not in encoded
    request = ExportTraceServiceRequest.FromString(encoded)
    server_spans = [s for scope in request.resource_spans[0].scope_spans for s in scope.spans if s.kind == 2]
    by_name = {span.name: span for span in server_spans}
    masked = by_name[f"GET lookup {REDACTED}"]
    values = {kv.key: kv.value for kv in masked.attributes}
    assert values["http.request.header.authorization"].string_value == REDACTED
    assert values["flag"].bool_value is True
    plain = {kv.key: kv.value for kv in by_name["GET"].attributes}
    assert plain["flag"].WhichOneof("value") == "int_value" and plain["flag"].int_value == 1
    assert plain["ratio"].WhichOneof("value") == "int_value"


def test_memo_stays_bounded_and_correct_past_its_limit() -> None:
    provider = TracerProvider()
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("bulk")
    for index in range(MEMO_LIMIT + 50):
        with tracer.start_as_current_span("bulk", attributes={"url.path": f"/items/{index}"}):
            pass
    spans = list(memory.get_finished_spans())
    encoder = SpanRequestEncoder()
    assert ExportTraceServiceRequest.FromString(encoder.encode(spans)) == sdk_request(spans)
    assert len(encoder._attributes) <= MEMO_LIMIT


class Receiver:
    """A local OTLP/HTTP endpoint that records requests and answers from a script of status codes."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def otel_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("ENDPOINT", "HEADERS", "TIMEOUT", "COMPRESSION", "CERTIFICATE"):
        monkeypatch.delenv(f"OTEL_EXPORTER_OTLP_{name}", raising=False)
        monkeypatch.delenv(f"OTEL_EXPORTER_OTLP_TRACES_{name}", raising=False)
    return monkeypatch


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver([])
    yield receiver
    receiver.close()


def test_export_sends_gzip_protobuf_with_the_configured_headers(
    otel_env: pytest.MonkeyPatch, receiver: Receiver
) -> None:
    otel_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
    otel_env.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-scope-orgid=iabank,authorization=Basic%20c2VjcmV0")
    otel_env.setenv("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip")
    exporter = OtlpHttpSpanExporter()
    spans = finished_spans()
    try:
        assert exporter.export(spans) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    [(path, headers, body)] = receiver.requests
    assert path == "/v1/traces"
    assert headers["content-type"] == "application/x-protobuf"
    assert headers["content-encoding"] == "gzip"
    assert headers["x-scope-orgid"] == "iabank" and headers["authorization"] == "Basic c2VjcmV0"
    assert ExportTraceServiceRequest.FromString(gzip.decompress(body)) == sdk_request(spans)


def test_retryable_answers_are_retried_and_others_fail_at_once(otel_env: pytest.MonkeyPatch) -> None:
    flaky = Receiver([503, 429])
    rejecting = Receiver([400])
    try:
        otel_env.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", flaky.url + "/v1/traces")
        exporter = OtlpHttpSpanExporter()
        assert exporter.export(finished_spans()) is SpanExportResult.SUCCESS
        assert len(flaky.requests) == 3
        exporter.shutdown()

        otel_env.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", rejecting.url + "/v1/traces")
        exporter = OtlpHttpSpanExporter()
        assert exporter.export(finished_spans()) is SpanExportResult.FAILURE
        assert len(rejecting.requests) == 1
        exporter.shutdown()
    finally:
        flaky.close()
        rejecting.close()


def test_a_dead_endpoint_fails_within_the_timeout(otel_env: pytest.MonkeyPatch) -> None:
    otel_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    otel_env.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "2")
    exporter = OtlpHttpSpanExporter()
    started = time.monotonic()
    assert exporter.export(finished_spans()) is SpanExportResult.FAILURE
    assert time.monotonic() - started < 2 + 3  # no retry sleeps past the deadline
    exporter.shutdown()
    assert exporter.export(finished_spans()) is SpanExportResult.FAILURE  # after shutdown: nothing sent
