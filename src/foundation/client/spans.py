"""Send bootstrap spans over OTLP/HTTP and report exactly what the endpoint acknowledged.

The spans are built with the OpenTelemetry SDK but POSTed with httpx ourselves, so the HTTP status,
the error text and any ``partial_success.rejected_spans`` are visible: a failed export is never reported
as exported (a known pain of the previous tooling).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON

from foundation.observability import otlp_env
from foundation.observability.pii import PiiRedactingSpanExporter

SPAN_NAME = "FOUNDATION-TENANT-BOOTSTRAP"
DEFAULT_ENDPOINT = otlp_env.DEFAULT_ENDPOINT
DEFAULT_SERVICE = "foundation-cli"
TRACES_PATH = "/v1/traces"

__all__ = [
    "DEFAULT_ENDPOINT",
    "SPAN_NAME",
    "parse_resource",
    "resolve_traces_endpoint",
    "send_bootstrap_spans",
]


def resolve_traces_endpoint(endpoint: str | None = None) -> str:
    """Full ``/v1/traces`` URL from a flag value, a base URL or the standard OTEL_* variables."""
    return otlp_env.endpoint("traces", endpoint)


def parse_resource(text: str | None) -> dict[str, str]:
    """``k=v,k2=v2`` → dict; raises ValueError on an item without ``=``."""
    result: dict[str, str] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"invalid resource attribute {item.strip()!r}: expected key=value")
        result[key.strip()] = value.strip()
    return result


def _build_request_body(
    tenant: str, feature: str, service: str, resource: Mapping[str, str], count: int
) -> tuple[bytes, list[str]]:
    attributes: dict[str, str] = {**resource, "service.name": service}
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create(attributes), sampler=ALWAYS_ON)
    provider.add_span_processor(SimpleSpanProcessor(PiiRedactingSpanExporter(memory)))
    tracer = provider.get_tracer("foundation.cli.otel")
    for _ in range(count):
        with tracer.start_as_current_span(SPAN_NAME, attributes={"tenant": tenant, "feature": feature}):
            pass
    provider.shutdown()
    spans = memory.get_finished_spans()
    trace_ids = [format(span.context.trace_id, "032x") for span in spans if span.context is not None]
    return encode_spans(spans).SerializeToString(), trace_ids


def _error_text(response: httpx.Response) -> str:
    """Best effort: the OTLP error body is a google.rpc.Status (protobuf or JSON)."""
    content_type = response.headers.get("content-type", "")
    try:
        if "protobuf" in content_type:
            status = status_pb2.Status()
            status.ParseFromString(response.content)
            if status.message:
                return status.message
        elif "json" in content_type:
            message = response.json().get("message")
            if message:
                return str(message)
    except (DecodeError, ValueError, AttributeError):
        pass
    return response.text.strip()[:300]


def _rejected(response: httpx.Response) -> tuple[int, str]:
    """``partial_success`` of a 2xx answer: (rejected span count, error message)."""
    if not response.content:
        return 0, ""
    answer = ExportTraceServiceResponse()
    try:
        if "json" in response.headers.get("content-type", ""):
            json_format.Parse(response.text, answer, ignore_unknown_fields=True)
        else:
            answer.ParseFromString(response.content)
    except (DecodeError, json_format.ParseError, ValueError):
        return 0, ""
    return answer.partial_success.rejected_spans, answer.partial_success.error_message


def send_bootstrap_spans(
    endpoint: str | None = None,
    *,
    tenant: str = "tenant-alfa",
    feature: str = "foundation-bootstrap",
    service: str = DEFAULT_SERVICE,
    resource: Mapping[str, str] | None = None,
    count: int = 1,
    token: str | None = None,
    timeout: float = 10.0,
) -> dict[str, Any]:
    """Export ``count`` bootstrap spans in one OTLP/HTTP protobuf request.

    Returns ``{"endpoint", "exportedSpans", "errors", "traceIds"}``; ``exportedSpans`` only counts spans
    the endpoint acknowledged, every failure is a string in ``errors``.
    """
    url = resolve_traces_endpoint(endpoint)
    result: dict[str, Any] = {"endpoint": url, "exportedSpans": 0, "errors": [], "traceIds": []}
    if count < 1:
        result["errors"].append(f"count must be >= 1 (got {count})")
        return result
    body, trace_ids = _build_request_body(tenant, feature, service, resource or {}, count)
    result["traceIds"] = trace_ids
    headers = {"Content-Type": "application/x-protobuf"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=timeout)
    except httpx.TimeoutException:
        result["errors"].append(f"timeout after {timeout}s exporting to {url}")
        return result
    except httpx.HTTPError as exc:
        result["errors"].append(f"export to {url} failed: {type(exc).__name__}: {exc}")
        return result
    if not response.is_success:
        detail = _error_text(response)
        result["errors"].append(f"HTTP {response.status_code} from {url}" + (f": {detail}" if detail else ""))
        return result
    rejected, message = _rejected(response)
    if rejected:
        result["errors"].append(
            f"endpoint rejected {rejected} of {count} spans: {message or 'no reason given'}"
        )
    result["exportedSpans"] = max(count - rejected, 0)
    return result
