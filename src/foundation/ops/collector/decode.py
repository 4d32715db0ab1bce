"""OTLP/HTTP payload decoding: protobuf or JSON (optionally gzip) into flat, PII-scrubbed records.

The records are what the collector stores (one JSON line each) and what feeds the Prometheus view.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from collections.abc import Callable, Iterator
from typing import Any, Literal

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1 import trace_pb2

from foundation.observability.pii import redact_text, redact_value, scrub_attribute, scrub_attributes

Signal = Literal["traces", "metrics", "logs"]
Encoding = Literal["protobuf", "json"]

REQUEST_TYPES: dict[str, type[Message]] = {
    "traces": trace_service_pb2.ExportTraceServiceRequest,
    "metrics": metrics_service_pb2.ExportMetricsServiceRequest,
    "logs": logs_service_pb2.ExportLogsServiceRequest,
}
RESPONSE_TYPES: dict[str, type[Message]] = {
    "traces": trace_service_pb2.ExportTraceServiceResponse,
    "metrics": metrics_service_pb2.ExportMetricsServiceResponse,
    "logs": logs_service_pb2.ExportLogsServiceResponse,
}

# OTLP JSON carries these ids as hex, protobuf's JSON mapping expects base64 for bytes fields.
_ID_FIELDS = {"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"}


class PayloadError(ValueError):
    """The body could not be decoded as the announced OTLP message."""


def content_encoding(content_type: str) -> Encoding | None:
    media = content_type.split(";", 1)[0].strip().lower()
    if media in ("application/x-protobuf", "application/protobuf"):
        return "protobuf"
    if media == "application/json":
        return "json"
    return None


def gunzip(body: bytes, limit: int) -> bytes:
    """Decompress with a size limit so a small gzip bomb cannot exhaust memory."""
    try:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise PayloadError(f"invalid gzip body: {exc}") from exc
    if len(data) > limit:
        raise PayloadError(f"decompressed body exceeds {limit} bytes")
    return data


def _hex_ids_to_base64(node: Any) -> Any:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _ID_FIELDS and isinstance(value, str):
                try:
                    out[key] = base64.b64encode(bytes.fromhex(value)).decode("ascii")
                except ValueError as exc:
                    raise PayloadError(f"{key} is not hex: {value[:40]!r}") from exc
            else:
                out[key] = _hex_ids_to_base64(value)
        return out
    if isinstance(node, list):
        return [_hex_ids_to_base64(item) for item in node]
    return node


def parse_request(signal: Signal, body: bytes, encoding: Encoding) -> Message:
    message = REQUEST_TYPES[signal]()
    try:
        if encoding == "protobuf":
            message.ParseFromString(body)
        else:
            document = json.loads(body.decode("utf-8"))
            if not isinstance(document, dict):
                raise PayloadError("OTLP JSON body must be an object")
            json_format.ParseDict(_hex_ids_to_base64(document), message, ignore_unknown_fields=True)
    except PayloadError:
        raise
    except (DecodeError, json_format.ParseError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"undecodable {encoding} {signal} payload: {exc}") from exc
    except (TypeError, ValueError, binascii.Error) as exc:
        raise PayloadError(f"undecodable {encoding} {signal} payload: {exc}") from exc
    return message


def encode_response(signal: Signal, encoding: Encoding) -> tuple[bytes, str]:
    response = RESPONSE_TYPES[signal]()
    if encoding == "protobuf":
        return response.SerializeToString(), "application/x-protobuf"
    return json_format.MessageToJson(response).encode(), "application/json"


def any_value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind)


def attributes(items: Any) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in items}


# Scrubbed scalar attributes by (key, kind, value): spans repeat most of their attributes (method, route,
# host, agent, status), and decoding plus scrubbing each one again was most of the collector's time per span.
_SCRUBBED_MEMO_LIMIT = 8192
_scrubbed: dict[tuple[str, str, Any], Any] = {}


def scrubbed_attributes(items: Any) -> dict[str, Any]:
    """``scrub_attributes(attributes(items))``, remembering the verdict for repeated scalar pairs."""
    out: dict[str, Any] = {}
    for kv in items:
        key, value = kv.key, kv.value
        kind = value.WhichOneof("value")
        if kind in ("string_value", "int_value", "bool_value", "double_value"):
            raw = getattr(value, kind)
            memo_key = (key, kind, raw)
            known = _scrubbed.get(memo_key, _MISSING)
            if known is _MISSING:
                if len(_scrubbed) >= _SCRUBBED_MEMO_LIMIT:
                    _scrubbed.clear()
                known = _scrubbed[memo_key] = scrub_attribute(key, raw)
            out[key] = known
        else:
            out[key] = scrub_attribute(key, any_value(value))
    return out


_MISSING = object()


def _hex(raw: bytes) -> str:
    return raw.hex() if raw else ""


_KIND_NAMES = {number: name for name, number in trace_pb2.Span.SpanKind.items()}
_STATUS_NAMES = {number: name for name, number in trace_pb2.Status.StatusCode.items()}


def _kind_name(kind: int) -> str:
    return _KIND_NAMES.get(kind) or str(kind)


def _status_name(code: int) -> str:
    return _STATUS_NAMES.get(code) or str(code)


def iter_spans(request: trace_service_pb2.ExportTraceServiceRequest) -> Iterator[dict[str, Any]]:
    for resource_spans in request.resource_spans:
        resource = scrub_attributes(attributes(resource_spans.resource.attributes))
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope.name
            for span in scope_spans.spans:
                yield {
                    "traceId": _hex(span.trace_id),
                    "spanId": _hex(span.span_id),
                    "parentSpanId": _hex(span.parent_span_id),
                    "name": redact_text(span.name),
                    "kind": _kind_name(span.kind),
                    "startTimeUnixNano": span.start_time_unix_nano,
                    "endTimeUnixNano": span.end_time_unix_nano,
                    "attributes": scrubbed_attributes(span.attributes),
                    "events": [
                        {
                            "name": redact_text(event.name),
                            "timeUnixNano": event.time_unix_nano,
                            "attributes": scrub_attributes(attributes(event.attributes)),
                        }
                        for event in span.events
                    ],
                    "links": [
                        {
                            "traceId": _hex(link.trace_id),
                            "spanId": _hex(link.span_id),
                            "attributes": scrub_attributes(attributes(link.attributes)),
                        }
                        for link in span.links
                    ],
                    "status": {
                        "code": _status_name(span.status.code),
                        "message": redact_text(span.status.message),
                    },
                    "resource": resource,
                    "scope": scope,
                }


def _number(point: Any) -> float | int | None:
    kind = point.WhichOneof("value")
    return None if kind is None else getattr(point, kind)


def _temporality(value: int) -> str:
    return {1: "delta", 2: "cumulative"}.get(value, "unspecified")


def _gauge(data: Any, point: Any) -> dict[str, Any]:
    return {"type": "gauge", "value": _number(point)}


def _sum(data: Any, point: Any) -> dict[str, Any]:
    return {
        "type": "sum",
        "value": _number(point),
        "isMonotonic": data.is_monotonic,
        "temporality": _temporality(data.aggregation_temporality),
    }


def _histogram(data: Any, point: Any) -> dict[str, Any]:
    return {
        "type": "histogram",
        "count": point.count,
        "sum": point.sum,
        "min": point.min if point.HasField("min") else None,
        "max": point.max if point.HasField("max") else None,
        "bounds": list(point.explicit_bounds),
        "bucketCounts": list(point.bucket_counts),
        "temporality": _temporality(data.aggregation_temporality),
    }


def _exponential_histogram(data: Any, point: Any) -> dict[str, Any]:
    return {
        "type": "exponentialHistogram",
        "count": point.count,
        "sum": point.sum,
        "scale": point.scale,
        "temporality": _temporality(data.aggregation_temporality),
    }


def _summary(data: Any, point: Any) -> dict[str, Any]:
    return {
        "type": "summary",
        "count": point.count,
        "sum": point.sum,
        "quantiles": {str(q.quantile): q.value for q in point.quantile_values},
    }


# The record fields of one data point, by the metric's ``data`` oneof (its data, the point).
_POINT_FIELDS: dict[str, Callable[[Any, Any], dict[str, Any]]] = {
    "gauge": _gauge,
    "sum": _sum,
    "histogram": _histogram,
    "exponential_histogram": _exponential_histogram,
    "summary": _summary,
}


def iter_metric_points(request: metrics_service_pb2.ExportMetricsServiceRequest) -> Iterator[dict[str, Any]]:
    for resource_metrics in request.resource_metrics:
        resource = scrub_attributes(attributes(resource_metrics.resource.attributes))
        for scope_metrics in resource_metrics.scope_metrics:
            scope = scope_metrics.scope.name
            for metric in scope_metrics.metrics:
                yield from _metric_points(metric, resource, scope)


def _metric_points(metric: Any, resource: dict[str, Any], scope: str) -> Iterator[dict[str, Any]]:
    """One record per data point; a metric of a kind not in _POINT_FIELDS (or none) yields nothing."""
    kind = metric.WhichOneof("data")
    fields = _POINT_FIELDS.get(kind) if kind else None
    if fields is None:
        return
    base = {
        "name": metric.name,
        "description": metric.description,
        "unit": metric.unit,
        "resource": resource,
        "scope": scope,
    }
    data = getattr(metric, kind)
    for point in data.data_points:
        yield {**base, **fields(data, point), **_point_common(point)}


def _point_common(point: Any) -> dict[str, Any]:
    return {
        "attributes": scrub_attributes(attributes(point.attributes)),
        "startTimeUnixNano": point.start_time_unix_nano,
        "timeUnixNano": point.time_unix_nano,
    }


def iter_logs(request: logs_service_pb2.ExportLogsServiceRequest) -> Iterator[dict[str, Any]]:
    for resource_logs in request.resource_logs:
        resource = scrub_attributes(attributes(resource_logs.resource.attributes))
        for scope_logs in resource_logs.scope_logs:
            scope = scope_logs.scope.name
            for record in scope_logs.log_records:
                yield {
                    "timeUnixNano": record.time_unix_nano,
                    "observedTimeUnixNano": record.observed_time_unix_nano,
                    "severityNumber": record.severity_number,
                    "severityText": record.severity_text,
                    "body": redact_value(any_value(record.body)),
                    "attributes": scrub_attributes(attributes(record.attributes)),
                    "traceId": _hex(record.trace_id),
                    "spanId": _hex(record.span_id),
                    "resource": resource,
                    "scope": scope,
                }
