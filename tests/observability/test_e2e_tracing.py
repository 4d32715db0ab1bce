"""End to end: `foundation serve` exporting OTLP/HTTP to the embedded collector.

One server and one collector for the module; each test marks its requests with its own trace ids and
waits (collector /stats polled with a deadline) for exactly those spans.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from foundation.ops.collector.server import RunningCollector, collector_in_thread
from tests.observability.servers import (
    ALFA,
    BETA,
    THEME_ROUTE,
    Server,
    poll,
    running_server,
    seeded_database,
    server_env,
    wait_for_spans,
)

pytestmark = pytest.mark.integration

CPF = "123.456.789-09"
CPF_DIGITS = "12345678909"
EMAIL = "joao.silva@example.com"
TOKEN = "s3cr3tT0kenValue9f8e7d6c5b4a"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJqb2FvIn0.c2lnbmF0dXJlLXZhbHVl"
FORBIDDEN = (CPF, CPF_DIGITS, EMAIL, "joao.silva%40example.com", TOKEN, JWT)


@dataclass
class Stack:
    server: Server
    collector: RunningCollector


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("e2e")
    database_url = seeded_database(root / "db")
    with collector_in_thread(root / "collector") as collector:
        env = server_env(
            database_url,
            root / "var",
            OTEL_EXPORTER_OTLP_ENDPOINT=collector.url,
            OTEL_BSP_SCHEDULE_DELAY="200",
            OTEL_SERVICE_NAME="foundation-e2e",
            # Capture every request header as a span attribute: the PII guard, not the instrumentation's
            # defaults, must be what keeps the values out.
            OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST=".*",
        )
        with running_server(env, root / "logs") as server:
            yield Stack(server, collector)


def traceparent() -> tuple[str, str, str]:
    trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, parent_id, f"00-{trace_id}-{parent_id}-01"


def server_span(spans: list[dict[str, Any]], trace_id: str) -> dict[str, Any] | None:
    for span in spans:
        if span["traceId"] == trace_id and span["kind"] == "SPAN_KIND_SERVER":
            return span
    return None


def descends_from(span: dict[str, Any], ancestor_id: str, by_id: dict[str, dict[str, Any]]) -> bool:
    current: dict[str, Any] | None = span
    for _ in range(32):
        if current is None:
            return False
        if current.get("parentSpanId") == ancestor_id:
            return True
        current = by_id.get(current.get("parentSpanId") or "")
    return False


def db_children(spans: list[dict[str, Any]], trace_id: str) -> list[dict[str, Any]]:
    server = server_span(spans, trace_id)
    if server is None:
        return []
    by_id = {span["spanId"]: span for span in spans if span["traceId"] == trace_id}
    return [
        span
        for span in by_id.values()
        if "db.system" in span["attributes"] and descends_from(span, server["spanId"], by_id)
    ]


def test_traceparent_continued_with_database_child_span(stack: Stack) -> None:
    trace_id, parent_id, header = traceparent()
    response = httpx.get(
        f"{stack.server.url}/api/v1/tenants/{ALFA}/themes/current",
        headers={"X-Tenant-Id": "tenant-alfa", "traceparent": header},
    )
    assert response.status_code == 200, response.text

    spans = wait_for_spans(
        stack.collector.url, stack.collector.data_dir, lambda s: bool(db_children(s, trace_id))
    )
    server = server_span(spans, trace_id)
    assert server is not None
    assert server["parentSpanId"] == parent_id
    assert server["attributes"]["http.route"] == THEME_ROUTE
    assert server["resource"]["service.name"] == "foundation-e2e"
    children = db_children(spans, trace_id)
    assert any(child["kind"] == "SPAN_KIND_CLIENT" for child in children)
    assert {child["attributes"]["db.system"] for child in children} == {"sqlite"}
    # Probes and scrapes are neither traced nor leave orphan database spans.
    httpx.get(f"{stack.server.url}/metrics").raise_for_status()
    httpx.get(f"{stack.server.url}/health/ready").raise_for_status()


def test_problem_trace_id_and_access_log_match_the_server_span(stack: Stack) -> None:
    response = httpx.get(
        f"{stack.server.url}/api/v1/tenants/{ALFA}/themes/current", headers={"X-Tenant-Id": "tenant-beta"}
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    trace_id = response.json()["traceId"]

    spans = wait_for_spans(
        stack.collector.url, stack.collector.data_dir, lambda s: server_span(s, trace_id) is not None
    )
    server = server_span(spans, trace_id)
    assert server is not None and server["attributes"]["http.response.status_code"] == 400

    line = poll(
        lambda: next((r for r in stack.server.access_lines() if r.get("trace_id") == trace_id), None),
        10,
        "the access-log line",
    )
    assert line["span_id"] == server["spanId"]
    assert line["route"] == THEME_ROUTE and line["status"] == 400 and line["method"] == "GET"
    assert line["tenant"] == "none" and line["level"] == "info"
    assert {"timestamp", "duration_ms"} <= line.keys()


def test_unknown_tenant_problem_with_traceparent_keeps_the_incoming_trace(stack: Stack) -> None:
    trace_id, _, header = traceparent()
    unknown = "00000000-0000-0000-0000-0000000000ff"
    response = httpx.get(
        f"{stack.server.url}/api/v1/tenants/{unknown}/themes/current",
        headers={"X-Tenant-Id": unknown, "traceparent": header},
    )
    assert response.status_code == 404, response.text
    assert response.json()["title"] == "tenant_not_found"
    assert response.json()["traceId"] == trace_id
    wait_for_spans(
        stack.collector.url, stack.collector.data_dir, lambda s: server_span(s, trace_id) is not None
    )


def scaffold_body(slug: str) -> dict[str, Any]:
    return {
        "featureSlug": slug,
        "initiatedBy": "8c9f8a0e-3c1e-4c7e-9b58-1f9f0b7d2a11",
        "slices": [
            {"slice": "features", "files": [{"path": f"src/features/{slug}/index.ts", "checksum": "a" * 64}]}
        ],
        "lintCommitHash": "b" * 40,
        "scReferences": ["@SC-001"],
        "durationMs": 120000,
        "metadata": {"owner": f"{EMAIL} cpf {CPF}", "note": f"Bearer {TOKEN}", "cpf": CPF_DIGITS, "jwt": JWT},
    }


def test_pii_in_headers_query_and_body_never_leaves_the_process(stack: Stack) -> None:
    pii_headers = {
        "Authorization": f"Bearer {JWT}",
        "X-Customer": f"{CPF} {EMAIL}",
        "X-Debug-Token": f"Bearer {TOKEN}",
        "User-Agent": f"probe/1.0 ({EMAIL})",
    }
    query = {"cpf": CPF, "email": EMAIL, "auth": f"Bearer {TOKEN}", "doc": CPF_DIGITS, "jwt": JWT}
    trace_ids = []
    base = f"{stack.server.url}/api/v1/tenants/{ALFA}"
    with httpx.Client() as client:
        requests: list[tuple[str, str, dict[str, Any]]] = [
            ("GET", f"{base}/themes/current", {}),
            ("POST", f"{base}/features/scaffold", {"json": scaffold_body("pii-probe")}),
            # An invalid body: the validation Problem must not echo the values into telemetry either.
            ("POST", f"{base}/features/scaffold", {"json": {**scaffold_body("Bad Slug"), "slices": CPF}}),
            # A path the router does not know, carrying the values in the path itself.
            ("GET", f"{stack.server.url}/nowhere/{EMAIL}/{CPF}", {}),
        ]
        for method, url, extra in requests:
            trace_id, _, header = traceparent()
            trace_ids.append(trace_id)
            headers = {
                **pii_headers,
                "traceparent": header,
                "X-Tenant-Id": "tenant-alfa",
                "Idempotency-Key": secrets.token_hex(8),
            }
            response = client.request(method, url, params=query, headers=headers, **extra)
            assert response.status_code < 500, response.text

    spans = wait_for_spans(
        stack.collector.url,
        stack.collector.data_dir,
        lambda s: all(server_span(s, t) is not None for t in trace_ids),
    )
    poll(
        lambda: set(trace_ids) <= {r.get("trace_id") for r in stack.server.access_lines()},
        10,
        "access-log lines",
    )
    # The values did reach the span (captured header, URL) and were masked there.
    first = server_span(spans, trace_ids[0])
    assert first is not None
    flat = json.dumps(first["attributes"])
    assert "[REDACTED]" in flat
    assert first["attributes"]["http.request.header.authorization"] in ("[REDACTED]", ["[REDACTED]"])

    leaks: list[str] = []
    sources = [p for p in Path(stack.collector.data_dir).rglob("*") if p.is_file()]
    sources += [stack.server.stdout, stack.server.stderr]
    for path in sources:
        text = path.read_text(errors="replace")
        leaks += [f"{path.name}: {value}" for value in FORBIDDEN if value in text]
    assert not leaks, leaks


def test_other_tenant_spans_carry_the_route_template(stack: Stack) -> None:
    trace_id, _, header = traceparent()
    response = httpx.get(
        f"{stack.server.url}/api/v1/tenants/{BETA}/themes/current",
        headers={"X-Tenant-Id": "tenant-beta", "traceparent": header},
    )
    assert response.status_code == 200
    spans = wait_for_spans(
        stack.collector.url, stack.collector.data_dir, lambda s: server_span(s, trace_id) is not None
    )
    server = server_span(spans, trace_id)
    assert server is not None and server["name"] == f"GET {THEME_ROUTE}"
