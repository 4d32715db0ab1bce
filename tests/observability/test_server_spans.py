"""Server spans made by ServerSpanMiddleware, checked through HTTP requests against the real app (and, for an
exception escaping the app, through the middleware's ASGI interface): shape, context continuation, naming,
errors, sampling, captured headers, span limits and annotations made through the tracing API."""

from __future__ import annotations

import secrets
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from foundation.app import create_app
from foundation.db import Database
from foundation.observability import tracing
from foundation.observability.server_spans import ServerSpanMiddleware
from foundation.settings import Settings
from tests.conftest import ALFA, AppClient

THEME = f"/api/v1/tenants/{ALFA}/themes/current"
THEME_ROUTE = "/api/v1/tenants/{tenantId}/themes/current"
TENANT = {"X-Tenant-Id": "tenant-alfa"}


def traced_provider() -> tuple[tracing.FoundationTracerProvider, InMemorySpanExporter]:
    provider = tracing.FoundationTracerProvider()
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return provider, memory


@pytest.fixture
def traced(
    make_settings: Callable[..., Settings],
) -> Callable[..., Any]:
    """``async with traced(setup=...) as (client, memory)``: the app with server and database spans recorded
    in memory. Environment variables must be set before entering (the provider reads them)."""

    @asynccontextmanager
    async def factory(
        setup: Callable[[FastAPI], None] | None = None,
    ) -> AsyncIterator[tuple[httpx.AsyncClient, InMemorySpanExporter]]:
        app = create_app(make_settings(rate_limit_enabled=False))
        if setup is not None:
            setup(app)
        provider, memory = traced_provider()
        tracing.instrument(app, app.state.services[Database].engine, provider)
        async with AppClient(app) as client:
            yield client, memory
        provider.shutdown()

    return factory


def traceparent() -> tuple[str, str, str]:
    trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, parent_id, f"00-{trace_id}-{parent_id}-01"


def server_spans(memory: InMemorySpanExporter) -> list[ReadableSpan]:
    return [span for span in memory.get_finished_spans() if span.kind is SpanKind.SERVER]


async def test_a_request_continues_the_incoming_trace_with_a_named_server_span(traced: Any) -> None:
    trace_id, parent_id, header = traceparent()
    async with traced() as (client, memory):
        response = await client.get(
            THEME, params={"v": "1"}, headers={**TENANT, "traceparent": header, "User-Agent": "ui/1.0"}
        )
    assert response.status_code == 200
    (span,) = server_spans(memory)
    context = span.get_span_context()
    assert context is not None
    assert format(context.trace_id, "032x") == trace_id
    assert span.parent is not None and format(span.parent.span_id, "016x") == parent_id
    assert span.parent.is_remote
    assert span.name == f"GET {THEME_ROUTE}"
    assert span.status.status_code is StatusCode.UNSET
    assert span.start_time is not None and span.end_time is not None and span.start_time <= span.end_time
    assert dict(span.attributes or {}) == {
        "http.request.method": "GET",
        "url.scheme": "http",
        "url.path": THEME,
        "url.query": "v=1",
        "network.protocol.version": "1.1",
        "server.address": "testserver",
        "client.address": "127.0.0.1",
        "user_agent.original": "ui/1.0",
        "http.route": THEME_ROUTE,
        "http.response.status_code": 200,
    }


async def test_database_spans_are_children_of_the_server_span(traced: Any) -> None:
    async with traced() as (client, memory):
        assert (await client.get(THEME, headers=TENANT)).status_code == 200  # first read: from the database
    (server,) = server_spans(memory)
    children = [span for span in memory.get_finished_spans() if span.kind is SpanKind.CLIENT]
    assert children, "no database span"
    server_context = server.get_span_context()
    assert server_context is not None
    for child in children:
        assert (child.attributes or {}).get("db.system")
        assert child.parent is not None and child.parent.span_id == server_context.span_id
        assert child.get_span_context().trace_id == server_context.trace_id  # type: ignore[union-attr]


async def test_problem_trace_id_is_the_server_span_trace_id(traced: Any) -> None:
    async with traced() as (client, memory):
        response = await client.get(THEME, headers={"X-Tenant-Id": "tenant-beta"})  # header names another
    assert response.status_code == 400
    (span,) = server_spans(memory)
    assert response.json()["traceId"] == format(span.get_span_context().trace_id, "032x")  # type: ignore[union-attr]
    assert span.attributes is not None and span.attributes["http.response.status_code"] == 400
    assert span.status.status_code is StatusCode.UNSET  # a client error is not the server's


async def test_an_unrouted_request_is_named_by_its_method_alone(traced: Any) -> None:
    async with traced() as (client, memory):
        assert (await client.get("/no/such/route")).status_code == 404
        assert (await client.request("PURGE", "/no/such/route")).status_code == 404
    get, purge = server_spans(memory)
    assert get.name == "GET" and "http.route" not in (get.attributes or {})
    assert purge.name == "_OTHER"
    assert (purge.attributes or {})["http.request.method_original"] == "PURGE"


async def test_a_server_error_marks_the_span(traced: Any) -> None:
    def add_failing_route(app: FastAPI) -> None:
        async def fail() -> None:
            raise RuntimeError("boom")

        app.add_api_route("/test/fail", fail)

    async with traced(add_failing_route) as (client, memory):
        assert (await client.get("/test/fail")).status_code == 500
    (span,) = server_spans(memory)
    assert span.name == "GET /test/fail"
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == "500"


async def test_an_exception_escaping_the_app_is_recorded() -> None:
    provider, memory = traced_provider()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        raise ValueError("bad state")

    middleware = ServerSpanMiddleware(app, tracer_provider=provider)
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/x",
        "headers": [],
        "scheme": "http",
        "query_string": b"",
        "server": ("127.0.0.1", 8000),
    }
    with pytest.raises(ValueError):
        await middleware(scope, None, None)
    (span,) = server_spans(memory)
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == "ValueError"
    assert (span.attributes or {})["server.port"] == 8000
    (event,) = span.events
    assert event.name == "exception"
    assert (event.attributes or {})["exception.type"] == "ValueError"
    assert (event.attributes or {})["exception.escaped"] == "True"
    assert "bad state" in str((event.attributes or {})["exception.stacktrace"])


async def test_annotations_through_the_tracing_api_are_validated_like_sdk_spans() -> None:
    provider, memory = traced_provider()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        span = trace.get_current_span()
        assert span.is_recording()
        span.set_attribute("foundation.tenant", "tenant-alfa")
        span.set_attributes({"app.ids": ["a", "b"], "app.count": 3})
        span.add_event("cache.miss", {"key": "theme"})
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def send(message: dict[str, Any]) -> None:
        return None

    middleware = ServerSpanMiddleware(app, tracer_provider=provider)
    scope = {"type": "http", "method": "POST", "path": "/x", "headers": [(b"host", b"api.local:9000")]}
    await middleware(scope, None, send)
    (span,) = server_spans(memory)
    attributes = dict(span.attributes or {})
    assert attributes["foundation.tenant"] == "tenant-alfa"
    assert attributes["app.ids"] == ("a", "b")  # sequences are stored as tuples, as the SDK does
    assert attributes["app.count"] == 3
    assert attributes["server.address"] == "api.local" and attributes["server.port"] == 9000
    assert [event.name for event in span.events] == ["cache.miss"]
    assert trace.get_current_span() is trace.INVALID_SPAN  # the request's context was detached


async def test_always_off_sampling_records_nothing_but_keeps_trace_ids(
    traced: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    trace_id, _, header = traceparent()
    async with traced() as (client, memory):
        response = await client.get(THEME, headers={"X-Tenant-Id": "tenant-beta", "traceparent": header})
        fresh = await client.get(THEME, headers={"X-Tenant-Id": "tenant-beta"})
    assert response.status_code == 400 and response.json()["traceId"] == trace_id
    assert len(fresh.json()["traceId"]) == 32 and fresh.json()["traceId"] != trace_id
    assert memory.get_finished_spans() == ()


async def test_root_spans_follow_a_configured_ratio_sampler(
    traced: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only the SDK's always-on samplers are decided without being asked; any other one is consulted.
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0")
    async with traced() as (client, memory):
        response = await client.get(THEME, headers=TENANT)
    assert response.status_code == 200 and len(response.headers.get("etag", "")) > 0
    assert memory.get_finished_spans() == ()


async def test_a_root_span_is_sampled_and_has_no_parent(traced: Any) -> None:
    async with traced() as (client, memory):
        await client.get(THEME, headers=TENANT)
    (span,) = server_spans(memory)
    context = span.get_span_context()
    assert context is not None and context.trace_flags.sampled and not context.trace_state
    assert span.parent is None


async def test_client_attributes_belong_to_each_request(traced: Any) -> None:
    # Attributes that repeat per client are computed once per combination; each request still gets its own.
    async with traced() as (client, memory):
        for agent, host in (
            ("ui/1.0", "a.local"),
            ("cli/2", "a.local"),
            ("ui/1.0", "b.local:81"),
            ("ui/1.0", "a.local"),
        ):
            await client.get(THEME, headers={**TENANT, "User-Agent": agent, "Host": host})
    seen = [
        (attributes["user_agent.original"], attributes["server.address"], attributes.get("server.port"))
        for attributes in (dict(span.attributes or {}) for span in server_spans(memory))
    ]
    assert seen == [
        ("ui/1.0", "a.local", None),
        ("cli/2", "a.local", None),
        ("ui/1.0", "b.local", 81),
        ("ui/1.0", "a.local", None),
    ]


async def test_probe_and_scrape_paths_are_not_traced(traced: Any) -> None:
    async with traced() as (client, memory):
        for path in ("/health", "/health/ready", "/metrics"):
            assert (await client.get(path)).status_code == 200
    assert memory.get_finished_spans() == ()


async def test_captured_headers_follow_the_standard_variables(
    traced: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST", "x-tenant-id,Authori.*")
    monkeypatch.setenv("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE", "etag")
    monkeypatch.setenv("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS", "authorization")
    async with traced() as (client, memory):
        response = await client.get(THEME, headers={**TENANT, "Authorization": "Bearer abc"})
    (span,) = server_spans(memory)
    attributes = dict(span.attributes or {})
    assert attributes["http.request.header.x_tenant_id"] == ("tenant-alfa",)
    assert attributes["http.request.header.authorization"] == ("[REDACTED]",)
    assert attributes["http.response.header.etag"] == (response.headers["etag"],)
    assert not any(key.startswith("http.request.header.user") for key in attributes)


async def test_span_limits_from_the_environment_apply(traced: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "12")
    async with traced() as (client, memory):
        assert (await client.get(THEME, headers=TENANT)).status_code == 200
    (span,) = server_spans(memory)
    assert (span.attributes or {})["url.path"] == THEME[:12]
    assert (span.attributes or {})["http.response.status_code"] == 200


async def test_tracestate_is_carried_into_the_span_context(traced: Any) -> None:
    _, _, header = traceparent()
    async with traced() as (client, memory):
        await client.get(THEME, headers={**TENANT, "traceparent": header, "tracestate": "vendor=abc"})
    (span,) = server_spans(memory)
    context = span.get_span_context()
    assert context is not None and dict(context.trace_state) == {"vendor": "abc"}


def test_spans_dropped_on_a_full_queue_are_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
    from prometheus_client import REGISTRY

    release = threading.Event()

    class StuckExporter(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            release.wait(10)
            return SpanExportResult.SUCCESS

    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "4")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "4")
    provider = tracing.FoundationTracerProvider()
    provider.add_span_processor(tracing.CountingBatchSpanProcessor(StuckExporter()))

    def dropped() -> float:
        labels = {"reason": "queue_full"}
        return REGISTRY.get_sample_value("foundation_otel_spans_dropped_total", labels) or 0.0

    before = dropped()
    tracer = provider.get_tracer("test")
    try:
        for _ in range(40):  # the first batch blocks the exporter; the queue holds 4 more
            tracer.start_span("x").end()
        assert dropped() - before >= 40 - 4 - 4
    finally:
        release.set()
        provider.shutdown()
