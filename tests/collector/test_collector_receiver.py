"""OTLP/HTTP receiver: SDK protobuf exports, hand-built OTLP JSON, gzip, logs, errors, PII guard."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from foundation.ops.collector.server import RunningCollector

pytestmark = pytest.mark.integration

TRACE_ID = "5b8efff798038103d269b633813fc60c"
SPAN_ID = "eee19b7ec3c1b174"
PARENT_ID = "eee19b7ec3c1b173"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def otlp_json_traces(
    name: str = "GET /api/v1/tenants/{tenantId}", extra: dict[str, str] | None = None
) -> dict:
    attributes = [
        {"key": "http.route", "value": {"stringValue": "/api/v1/tenants/{tenantId}"}},
        {"key": "http.response.status_code", "value": {"intValue": "200"}},
    ] + [{"key": k, "value": {"stringValue": v}} for k, v in (extra or {}).items()]
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-svc"}}]},
                "scopeSpans": [
                    {
                        "scope": {"name": "manual"},
                        "spans": [
                            {
                                "traceId": TRACE_ID,
                                "spanId": SPAN_ID,
                                "parentSpanId": PARENT_ID,
                                "name": name,
                                "kind": 2,
                                "startTimeUnixNano": "1544712660000000000",
                                "endTimeUnixNano": "1544712661000000000",
                                "attributes": attributes,
                                "events": [
                                    {
                                        "timeUnixNano": "1544712660500000000",
                                        "name": "lookup",
                                        "attributes": [
                                            {"key": "note", "value": {"stringValue": "mail ana@example.com"}}
                                        ],
                                    }
                                ],
                                "status": {"code": 1},
                                "unknownFutureField": True,
                            }
                        ],
                    }
                ],
            }
        ]
    }


def stats(collector: RunningCollector) -> dict[str, Any]:
    return httpx.get(f"{collector.url}/stats").json()


def test_health(collector: RunningCollector) -> None:
    assert httpx.get(f"{collector.url}/health").json() == {"status": "ok"}
    body = stats(collector)
    assert body["dataDir"] == str(collector.data_dir)
    assert (body["spans"], body["metrics"], body["logs"], body["errors"]) == (0, 0, 0, 0)


def test_sdk_protobuf_export(collector: RunningCollector) -> None:
    exporter = OTLPSpanExporter(endpoint=f"{collector.url}/v1/traces", timeout=10)
    provider = TracerProvider(resource=Resource.create({"service.name": "sdk-svc"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests")
    with tracer.start_as_current_span("parent") as parent, tracer.start_as_current_span("child") as child:
        child.set_attribute("tenant", "tenant-alfa")
        child.add_event("step", {"n": 1})
    provider.shutdown()

    assert stats(collector)["spans"] == 2
    assert stats(collector)["services"] == {"sdk-svc": 2}
    spans = {span["name"]: span for span in read_jsonl(collector.data_dir / "spans.jsonl")}
    trace_hex = format(parent.get_span_context().trace_id, "032x")
    assert spans["child"]["traceId"] == trace_hex
    assert spans["child"]["spanId"] == format(child.get_span_context().span_id, "016x")
    assert spans["child"]["parentSpanId"] == format(parent.get_span_context().span_id, "016x")
    assert spans["parent"]["parentSpanId"] == ""
    assert spans["child"]["attributes"] == {"tenant": "tenant-alfa"}
    assert spans["child"]["events"][0]["name"] == "step"
    assert spans["child"]["resource"]["service.name"] == "sdk-svc"
    assert spans["child"]["scope"] == "tests"
    assert spans["child"]["endTimeUnixNano"] >= spans["child"]["startTimeUnixNano"] > 0


def test_json_export_with_hex_ids(collector: RunningCollector) -> None:
    response = httpx.post(f"{collector.url}/v1/traces", json=otlp_json_traces())
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {}
    (span,) = read_jsonl(collector.data_dir / "spans.jsonl")
    assert (span["traceId"], span["spanId"], span["parentSpanId"]) == (TRACE_ID, SPAN_ID, PARENT_ID)
    assert span["kind"] == "SPAN_KIND_SERVER"
    assert span["startTimeUnixNano"] == 1544712660000000000
    assert span["attributes"]["http.response.status_code"] == 200
    assert span["status"]["code"] == "STATUS_CODE_OK"
    assert span["resource"] == {"service.name": "json-svc"}


def test_gzip_protobuf_body_and_protobuf_response(collector: RunningCollector) -> None:
    from google.protobuf import json_format
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from foundation.ops.collector.decode import _hex_ids_to_base64

    request = json_format.ParseDict(
        _hex_ids_to_base64(otlp_json_traces()), ExportTraceServiceRequest(), ignore_unknown_fields=True
    )
    response = httpx.post(
        f"{collector.url}/v1/traces",
        content=gzip.compress(request.SerializeToString()),
        headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-protobuf"
    ExportTraceServiceResponse().ParseFromString(response.content)
    gz_json = httpx.post(
        f"{collector.url}/v1/traces",
        content=gzip.compress(json.dumps(otlp_json_traces()).encode()),
        headers={"Content-Type": "application/json; charset=utf-8", "Content-Encoding": "gzip"},
    )
    assert gz_json.status_code == 200
    assert stats(collector)["spans"] == 2


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        ("application/x-protobuf", b"\xff\xff\xff garbage", 400),
        ("application/json", b"{not json", 400),
        ("application/json", b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}', 400),
        ("application/json", b"[]", 400),
        ("text/plain", b"hello", 415),
    ],
)
def test_bad_payloads(collector: RunningCollector, content_type: str, body: bytes, expected: int) -> None:
    response = httpx.post(f"{collector.url}/v1/traces", content=body, headers={"Content-Type": content_type})
    assert response.status_code == expected
    assert stats(collector)["errors"] == 1
    assert stats(collector)["spans"] == 0


def test_bad_gzip_is_400(collector: RunningCollector) -> None:
    response = httpx.post(
        f"{collector.url}/v1/logs",
        content=b"not gzip",
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert response.status_code == 400
    assert "gzip" in response.json()["message"]


def test_logs_json_and_protobuf(collector: RunningCollector) -> None:
    from google.protobuf import json_format
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    document = {
        "resourceLogs": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "api"}}]},
                "scopeLogs": [
                    {
                        "scope": {"name": "structlog"},
                        "logRecords": [
                            {
                                "timeUnixNano": "1544712660300000000",
                                "severityNumber": 9,
                                "severityText": "INFO",
                                "body": {"stringValue": "user 123.456.789-09 logged in"},
                                "attributes": [{"key": "tenant", "value": {"stringValue": "tenant-alfa"}}],
                                "traceId": TRACE_ID,
                                "spanId": SPAN_ID,
                            }
                        ],
                    }
                ],
            }
        ]
    }
    assert httpx.post(f"{collector.url}/v1/logs", json=document).status_code == 200
    from foundation.ops.collector.decode import _hex_ids_to_base64

    proto = json_format.ParseDict(_hex_ids_to_base64(document), ExportLogsServiceRequest())
    response = httpx.post(
        f"{collector.url}/v1/logs",
        content=proto.SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
    )
    assert response.status_code == 200
    records = read_jsonl(collector.data_dir / "logs.jsonl")
    assert len(records) == 2 and stats(collector)["logs"] == 2
    for record in records:
        assert record["body"] == "user [REDACTED] logged in"
        assert record["traceId"] == TRACE_ID and record["spanId"] == SPAN_ID
        assert record["severityText"] == "INFO"
        assert record["attributes"] == {"tenant": "tenant-alfa"}


def test_pii_never_reaches_the_files(collector: RunningCollector) -> None:
    secrets = {
        "customer.cpf": "123.456.789-09",
        "customer.email": "ana.souza@example.com",
        "customer.phone": "+55 11 91234-5678",
        "http.request.header.authorization": "Bearer abc.def.ghi",
        "order.id": "ORD-2024-000123",
    }
    response = httpx.post(
        f"{collector.url}/v1/traces", json=otlp_json_traces("lookup 12.345.678/0001-95", secrets)
    )
    assert response.status_code == 200
    raw = "".join(path.read_text() for path in collector.data_dir.iterdir())
    for value in (
        "123.456.789-09",
        "ana.souza@example.com",
        "91234-5678",
        "abc.def.ghi",
        "12.345.678/0001-95",
    ):
        assert value not in raw
    (span,) = read_jsonl(collector.data_dir / "spans.jsonl")
    assert span["attributes"]["order.id"] == "ORD-2024-000123"
    assert span["attributes"]["customer.cpf"] == "[REDACTED]"
    assert span["events"][0]["attributes"]["note"] == "mail [REDACTED]"
    assert span["name"] == "lookup [REDACTED]"
