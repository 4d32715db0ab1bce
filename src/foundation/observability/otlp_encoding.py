"""OTLP trace export requests written straight to protobuf bytes, with the PII guard applied on the way.

The SDK's encoder builds a protobuf object per span, attribute and value and then serialises them: at ~15
attributes a server span that is most of the export thread's time, and that thread competes with requests for
the GIL. Almost every attribute of a server span repeats from one request to the next (method, scheme, host,
route, user agent, status), so each (key, value) pair is scrubbed and encoded once and its bytes reused.

The output is the same ``ExportTraceServiceRequest`` the SDK would send for the scrubbed spans (the test
suite parses both and compares them), so any OTLP receiver reads it unchanged.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode

from foundation.observability.pii import redact_text, scrub_attribute
from foundation.observability.server_spans import UNSET_STATUS as _UNSET_STATUS
from foundation.observability.server_spans import RequestSpan

# Encoded (key, value) pairs kept at most; the cache is emptied when full (a new burst refills it).
MEMO_LIMIT = 4096
_FIXED64 = struct.Struct("<Q")
_DOUBLE = struct.Struct("<d")
_FIXED32 = struct.Struct("<I")
# Span.flags: bit 8 "the is-remote bit is known", bit 9 "the parent is remote" (trace/v1/trace.proto).
_HAS_IS_REMOTE = 0x100
_IS_REMOTE = 0x200


def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64  # int64 two's complement, ten bytes
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _tag(field: int, wire_type: int) -> bytes:
    return _varint((field << 3) | wire_type)


def _length_delimited(field: int, payload: bytes) -> bytes:
    return _tag(field, 2) + _varint(len(payload)) + payload


def _string(field: int, text: str) -> bytes:
    return _length_delimited(field, text.encode("utf-8"))


def _any_value(value: Any) -> bytes:
    """AnyValue; its oneof member is written even when it holds the type's default."""
    if value is None:
        return b""
    if isinstance(value, bool):
        return _tag(2, 0) + (b"\x01" if value else b"\x00")
    if isinstance(value, str):
        return _string(1, value)
    if isinstance(value, int):
        return _tag(3, 0) + _varint(value)
    if isinstance(value, float):
        return _tag(4, 1) + _DOUBLE.pack(value)
    if isinstance(value, bytes):
        return _length_delimited(7, value)
    if isinstance(value, Sequence):
        return _length_delimited(5, b"".join(_length_delimited(1, _any_value(item)) for item in value))
    if isinstance(value, Mapping):
        pairs = b"".join(_length_delimited(1, _key_value(str(k), v)) for k, v in value.items())
        return _length_delimited(6, pairs)
    raise TypeError(f"cannot encode attribute value of type {type(value).__name__}")


def _key_value(key: str, value: Any) -> bytes:
    return _string(1, key) + _length_delimited(2, _any_value(value))


class SpanRequestEncoder:
    """Encodes finished spans into one ``ExportTraceServiceRequest``, scrubbing PII. One per export thread."""

    def __init__(self) -> None:
        self._attributes: dict[tuple[str, type, Any], bytes] = {}
        self._resources: dict[Resource, bytes] = {}
        self._scopes: dict[InstrumentationScope | None, bytes] = {}
        self._names: dict[str, bytes] = {}
        self._blocks: dict[tuple[int, tuple[tuple[str, Any], ...], tuple[type, ...]], bytes] = {}

    def encode(self, spans: Sequence[ReadableSpan]) -> bytes:
        # Grouped by object identity first (a provider hands every span of a tracer the same Resource and
        # scope objects, whose hashes are costly), then by equality so equal scopes share one entry.
        by_identity: dict[tuple[int, int], list[Any]] = {}
        for span in spans:
            resource, scope = span.resource, span.instrumentation_scope
            group = by_identity.get((id(resource), id(scope)))
            if group is None:
                group = by_identity[(id(resource), id(scope))] = [resource, scope]
            group.append(self._span(span))
        grouped: dict[Resource, dict[InstrumentationScope | None, list[bytes]]] = {}
        for resource, scope, *encoded_spans in by_identity.values():
            grouped.setdefault(resource, {}).setdefault(scope or None, []).extend(encoded_spans)
        request = bytearray()
        for resource, scopes in grouped.items():
            body = bytearray(self._resource(resource))
            for scope, encoded_spans in scopes.items():
                scope_spans = self._scope(scope) + b"".join(encoded_spans)
                if scope is not None and scope.schema_url:
                    scope_spans += _string(3, scope.schema_url)
                body += _length_delimited(2, scope_spans)
            if resource.schema_url:
                body += _string(3, resource.schema_url)
            request += _length_delimited(1, bytes(body))
        return bytes(request)

    def _resource(self, resource: Resource) -> bytes:
        encoded = self._resources.get(resource)
        if encoded is None:
            # The resource is configuration (service name, deployment), not request data: sent as given.
            attributes = b"".join(
                _length_delimited(1, _key_value(k, v)) for k, v in resource.attributes.items()
            )
            encoded = self._resources[resource] = _length_delimited(1, attributes)
        return encoded

    def _scope(self, scope: InstrumentationScope | None) -> bytes:
        encoded = self._scopes.get(scope)
        if encoded is None:
            body = b""
            if scope is not None:
                body = (_string(1, scope.name) if scope.name else b"") + (
                    _string(2, scope.version) if scope.version else b""
                )
                if scope.attributes:
                    body += b"".join(
                        _length_delimited(3, _key_value(k, v)) for k, v in scope.attributes.items()
                    )
            encoded = self._scopes[scope] = _length_delimited(1, body)
        return encoded

    def _attributes_of(self, field: int, attributes: Mapping[str, Any] | None) -> bytes:
        if not attributes:
            return b""
        plain = _plain(attributes)
        # Most spans repeat a whole attribute set seen before (same route, host, agent, status): one lookup.
        # The value types are part of the key because True == 1 == 1.0 would otherwise share an encoding.
        try:
            block_key = (field, tuple(plain.items()), tuple(map(type, plain.values())))
            encoded_block = self._blocks.get(block_key)
        except TypeError:  # an unhashable value (a list): encoded pair by pair
            block_key, encoded_block = None, None
        if encoded_block is not None:
            return encoded_block
        memo = self._attributes
        parts = []
        for key, value in plain.items():
            cacheable = isinstance(value, (str, int, float))
            memo_key = (key, type(value), value) if cacheable else None
            encoded = memo.get(memo_key) if memo_key is not None else None
            if encoded is None:
                encoded = _length_delimited(field, _key_value(key, scrub_attribute(key, value)))
                if memo_key is not None:
                    if len(memo) >= MEMO_LIMIT:
                        memo.clear()
                    memo[memo_key] = encoded
            parts.append(encoded)
        encoded_block = b"".join(parts)
        if block_key is not None:
            if len(self._blocks) >= MEMO_LIMIT:
                self._blocks.clear()
            self._blocks[block_key] = encoded_block
        return encoded_block

    def _name(self, name: str) -> bytes:
        """Field 5, scrubbed; span names repeat (``GET /route``), so each is scrubbed and encoded once."""
        encoded = self._names.get(name)
        if encoded is None:
            if len(self._names) >= MEMO_LIMIT:
                self._names.clear()
            encoded = self._names[name] = _string(5, redact_text(name))
        return encoded

    def _span(self, span: ReadableSpan) -> bytes:
        if type(span) is RequestSpan:
            # Our server spans (most of what is exported): their fields read directly, without the
            # ReadableSpan properties' copies and ABC checks (a third of the encoding time per span).
            attributes, events, links = span._attributes, span._events, span._links
            return self._encode_span(
                span._context,
                span._parent,
                span._name,
                _SERVER_KIND,
                span._start_time,
                span._end_time,
                attributes,
                attributes.dropped if type(attributes) is BoundedAttributes else 0,
                events,
                events.dropped if events else 0,  # a non-empty list is a BoundedList once the span ended
                links,
                links.dropped if links else 0,
                span._status,
            )
        return self._encode_span(
            span.get_span_context(),
            span.parent,
            span.name,
            _KIND[span.kind.value],
            span.start_time,
            span.end_time,
            span.attributes,
            span.dropped_attributes,
            span.events,
            span.dropped_events,
            span.links,
            span.dropped_links,
            span.status,
        )

    def _encode_span(
        self,
        context: SpanContext | None,
        parent: SpanContext | None,
        name: str,
        kind: bytes,
        start_time: int | None,
        end_time: int | None,
        attributes: Mapping[str, Any] | None,
        dropped_attributes: int,
        events: Sequence[Event],
        dropped_events: int,
        links: Sequence[Link],
        dropped_links: int,
        status: Status | None,
    ) -> bytes:
        assert context is not None  # noqa: S101  # a finished span always has one (type narrowing)
        out = [
            _TRACE_ID_TAG,
            context.trace_id.to_bytes(16, "big"),
            _SPAN_ID_TAG,
            context.span_id.to_bytes(8, "big"),
        ]
        if context.trace_state:
            out.append(_string(3, ",".join(f"{key}={value}" for key, value in context.trace_state.items())))
        if parent is not None:
            out += (_PARENT_ID_TAG, parent.span_id.to_bytes(8, "big"))
        if name:
            out.append(self._name(name))
        out.append(kind)
        if start_time:
            out += (_START_TAG, _FIXED64.pack(start_time))
        if end_time:
            out += (_END_TAG, _FIXED64.pack(end_time))
        out.append(self._attributes_of(9, attributes))
        if dropped_attributes:
            out.append(_tag(10, 0) + _varint(dropped_attributes))
        if events:
            out += self._events(events)
        if dropped_events:
            out.append(_tag(12, 0) + _varint(dropped_events))
        if links:
            out += self._links(links)
        if dropped_links:
            out.append(_tag(14, 0) + _varint(dropped_links))
        out.append(_status(status))
        out.append(_SPAN_FLAGS[parent is not None and parent.is_remote])
        body = b"".join(out)
        return _SCOPE_SPANS_ENTRY + _varint(len(body)) + body

    def _events(self, events: Sequence[Event]) -> list[bytes]:
        encoded = []
        for event in events:
            body = _tag(1, 1) + _FIXED64.pack(event.timestamp) if event.timestamp else b""
            if event.name:
                body += _string(2, redact_text(event.name))
            body += self._attributes_of(3, event.attributes)
            if event.dropped_attributes:
                body += _tag(4, 0) + _varint(event.dropped_attributes)
            encoded.append(_length_delimited(11, body))
        return encoded

    def _links(self, links: Sequence[Link]) -> list[bytes]:
        encoded = []
        for link in links:
            body = _length_delimited(1, link.context.trace_id.to_bytes(16, "big"))
            body += _length_delimited(2, link.context.span_id.to_bytes(8, "big"))
            body += self._attributes_of(4, link.attributes)
            if link.dropped_attributes:
                body += _tag(5, 0) + _varint(link.dropped_attributes)
            body += _tag(6, 5) + _FIXED32.pack(_flags(link.context))
            encoded.append(_length_delimited(13, body))
        return encoded


def _status(status: Status | None) -> bytes:
    if status is _UNSET_STATUS or status is None:
        return _STATUS_UNSET if status is not None else b""
    if not status.description:
        return _STATUS[status.status_code.value]
    body = _string(2, redact_text(status.description))
    if status.status_code.value:
        body += _tag(3, 0) + _varint(status.status_code.value)
    return _length_delimited(15, body)


def _plain(attributes: Mapping[str, Any]) -> Mapping[str, Any]:
    """A plain dict of the attributes: the SDK's mapping proxy over ``BoundedAttributes`` iterates through
    the ABC machinery (a method call per item), its ``copy()`` is one C-level dict copy."""
    if type(attributes) is dict:
        return attributes
    try:
        copied = attributes.copy()  # type: ignore[attr-defined]
    except (AttributeError, TypeError):
        return attributes
    return copied if isinstance(copied, dict) else attributes


def _flags(parent: SpanContext | None) -> int:
    return _HAS_IS_REMOTE | (_IS_REMOTE if parent is not None and parent.is_remote else 0)


# The fixed parts of a Span message, encoded once (field numbers from trace/v1/trace.proto).
_TRACE_ID_TAG = _tag(1, 2) + _varint(16)
_SPAN_ID_TAG = _tag(2, 2) + _varint(8)
_PARENT_ID_TAG = _tag(4, 2) + _varint(8)
_START_TAG = _tag(7, 1)
_SCOPE_SPANS_ENTRY = _tag(2, 2)  # ScopeSpans.spans: each span is written as this entry
_END_TAG = _tag(8, 1)
# The SDK numbers kinds from INTERNAL=0; OTLP reserves 0 for UNSPECIFIED.
_KIND = {kind.value: _tag(6, 0) + _varint(kind.value + 1) for kind in SpanKind}
_STATUS = {
    code.value: _length_delimited(15, _tag(3, 0) + _varint(code.value) if code.value else b"")
    for code in StatusCode
}
_STATUS_UNSET = _STATUS[StatusCode.UNSET.value]
_SERVER_KIND = _KIND[SpanKind.SERVER.value]
_SPAN_FLAGS = {
    remote: _tag(16, 5) + _FIXED32.pack(_HAS_IS_REMOTE | (_IS_REMOTE if remote else 0))
    for remote in (False, True)
}
