"""PII guard (LGPD): masks personal data and secrets before telemetry leaves the process.

Two layers, as the observability spec asks:

* an allowlist of structured attribute keys whose values are known to be safe (semconv keys, tenant,
  feature, route, ids) and pass unchanged;
* a free-text detector (:func:`redact_text`) for everything else: CPF, CNPJ, e-mail, Brazilian phone
  numbers, bearer tokens, JWTs and ``password=``-style secrets.

The digit patterns use lookarounds so a digit run that is part of a UUID, a hex id, an order id or a longer
number is never touched: precision matters because trace ids and checksums must stay searchable.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from functools import lru_cache
from typing import Any
from urllib.parse import unquote_plus

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Link, Status

__all__ = [
    "REDACTED",
    "SAFE_ATTRIBUTE_KEYS",
    "SAFE_LOG_FIELDS",
    "PiiRedactingSpanExporter",
    "is_sensitive_key",
    "redact_text",
    "redact_value",
    "scrub_attribute",
    "scrub_attributes",
    "scrub_span",
    "structlog_pii_processor",
]

REDACTED = "[REDACTED]"

# A digit run must not be glued to other word characters, dots or dashes (uuid groups, hex ids,
# `ORD-2024-000123`, versions, IPs): these boundaries are what keeps the detector precise.
_START = r"(?<![\w.\-])"
_END = r"(?![\w\-]|\.\d)"

_SUBSTITUTIONS: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
    # JWT before bearer/secret rules so the whole token (header.payload.signature) goes at once.
    (re.compile(r"\beyJ[\w-]+\.eyJ[\w-]+\.[\w-]*"), REDACTED),
    (re.compile(r"(?i)\b(bearer|basic)\s+(?!\[REDACTED\])[A-Za-z0-9\-._~+/]+=*"), rf"\1 {REDACTED}"),
    # key=value / key: value / "key": "value" secrets; the key may carry a prefix (access_token, x-api-key).
    (
        re.compile(
            r"(?i)(?<![\w-])([\w-]*?(?:api[_-]?key|token|password|passwd|pwd|secret|credentials?))"
            r"([\"']?\s*[=:]\s*[\"']?)(?!\[REDACTED\])([^\s&,;\"'<>]+)"
        ),
        rf"\1\2{REDACTED}",
    ),
    (re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"), REDACTED),
    # CNPJ: 12.345.678/0001-95 and 12345678000195.
    (re.compile(_START + r"\d{2}\.\d{3}\.\d{3}/\d{4}-\d{2}" + _END), REDACTED),
    (re.compile(_START + r"\d{14}" + _END), REDACTED),
    # CPF: 123.456.789-09 and any bare 11-digit run (also covers bare mobile numbers 11912345678).
    (re.compile(_START + r"\d{3}\.\d{3}\.\d{3}-\d{2}" + _END), REDACTED),
    (re.compile(_START + r"\d{11}" + _END), REDACTED),
    # Phones with separators: +55 11 91234-5678, (11) 91234-5678, 11 3456-7890, (11)3456-7890.
    (
        re.compile(
            r"(?<![\w.\-+])(?:\+55\s?|55\s)?(?:\(\d{2}\)\s?|\d{2}[\s.\-])9?\s?\d{4}[\s.\-]\d{4}" + _END
        ),
        REDACTED,
    ),
    # Phones with country code and no separators: +5511912345678, 5511912345678.
    (re.compile(r"(?<![\w.\-+])(?:\+55\d{10,11}|55[1-9]{2}9\d{8})" + _END), REDACTED),
]

# Structured keys whose values are safe by construction (OpenTelemetry semconv, Foundation identifiers).
SAFE_ATTRIBUTE_KEYS: frozenset[str] = frozenset(
    {
        "http.request.method",
        "http.method",
        "http.route",
        "http.status_code",
        "http.response.status_code",
        "http.scheme",
        "http.flavor",
        "url.scheme",
        "server.address",
        "server.port",
        "db.system",
        "db.name",
        "db.operation",
        "db.operation.name",
        "db.collection.name",
        "error.type",
        "foundation.tenant",
        "foundation.feature",
        "tenant",
        "tenant_slug",
        "feature",
        "feature_slug",
        "route",
        "method",
        "status",
        "status_code",
        "outcome",
        "duration_ms",
        "trace_id",
        "span_id",
        "traceId",
        "spanId",
        "request_id",
    }
)
_SAFE_PREFIXES: tuple[str, ...] = ("network.", "service.", "telemetry.", "otel.")

SAFE_LOG_FIELDS: frozenset[str] = frozenset(
    {
        "timestamp",
        "level",
        "log_level",
        "logger",
        "logger_name",
        "trace_id",
        "span_id",
        "route",
        "status",
        "status_code",
        "method",
        "duration_ms",
        "tenant",
        "tenant_slug",
        "feature",
        "feature_slug",
        "request_id",
        "service",
    }
)

_SENSITIVE_KEY = re.compile(
    r"(?i)(authorization|cookie|passw(?:or)?d|secret|token|api[_\-.]?key|credential|private[_\-.]?key)"
)


# Every detector needs one of these; text without any (most span names, routes, user agents) is clean.
_MAY_HOLD_PII = re.compile(r"(?i)\d|@|eyJ|bearer|basic|key|token|passw|pwd|secret|credential")
# Span attributes repeat across requests (user agent, target, host): their verdicts are remembered.
_MEMO_MAX_LENGTH = 512
_MEMO_MAX_ENTRIES = 8192
_memo: dict[str, str] = {}


def _apply_detectors(value: str) -> str:
    for pattern, replacement in _SUBSTITUTIONS:
        value = pattern.sub(replacement, value)
    return value


def redact_text(value: str) -> str:
    """Mask PII and secrets found in free text (see :func:`_redact_text`); repeated short texts are
    answered from a bounded memo, since a span carries mostly the same values request after request."""
    if not value or not _MAY_HOLD_PII.search(value):
        return value
    if len(value) > _MEMO_MAX_LENGTH:
        return _redact_text(value)
    known = _memo.get(value)
    if known is None:
        if len(_memo) >= _MEMO_MAX_ENTRIES:
            _memo.clear()
        known = _memo[value] = _redact_text(value)
    return known


def _redact_text(value: str) -> str:
    """Mask PII and secrets found in free text; everything else is returned unchanged.

    URL-encoded text (``url.query``, ``http.target``, ``url.full``, ``http.url`` span attributes, logged
    URLs) is also checked in decoded form, so ``a%40b.com`` or ``Bearer%20eyJ...`` cannot slip through; when
    the decoded form holds something to mask, the decoded and masked text is returned.
    """
    if not value:
        return value
    redacted = _apply_detectors(value)
    if "%" in redacted or "+" in redacted:
        decoded = unquote_plus(redacted)
        if decoded != redacted:
            decoded_redacted = _apply_detectors(decoded)
            if decoded_redacted != decoded:
                return decoded_redacted
    return redacted


@lru_cache(maxsize=4096)  # keys are attribute and field names: a small set, checked for every value
def is_sensitive_key(key: str) -> bool:
    """Keys like ``authorization`` or ``x-api-key`` carry secrets whatever their value looks like."""
    return bool(_SENSITIVE_KEY.search(key))


def _is_safe_key(key: str, safe_keys: frozenset[str]) -> bool:
    return key in safe_keys or key.startswith(_SAFE_PREFIXES)


def redact_value(value: Any) -> Any:
    """Redact a value of unknown provenance: strings, numbers that look like CPF/phone, containers."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, int):
        # A CPF or phone stored as an int is still personal data.
        return REDACTED if redact_text(str(value)) != str(value) else value
    if isinstance(value, bytes):
        text = value.decode("utf-8", errors="replace")
        redacted = redact_text(text)
        return value if redacted == text else redacted.encode()
    if isinstance(value, Mapping):
        return scrub_attributes(value)
    if isinstance(value, (list, tuple)):
        return type(value)(redact_value(item) for item in value)
    return value


def scrub_attribute(key: str, value: Any, safe_keys: frozenset[str] = SAFE_ATTRIBUTE_KEYS) -> Any:
    """One structured field's value as it may leave the process."""
    if is_sensitive_key(key):
        return REDACTED
    if _is_safe_key(key, safe_keys):
        return value
    return redact_value(value)


def _scrub(attrs: Mapping[str, Any], safe_keys: frozenset[str]) -> dict[str, Any]:
    return {key: scrub_attribute(str(key), value, safe_keys) for key, value in attrs.items()}


def scrub_attributes(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of span/metric/log attributes with PII masked (allowlisted keys untouched)."""
    return _scrub(attrs, SAFE_ATTRIBUTE_KEYS)


def structlog_pii_processor(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: scrub every field but the safe ones (``event`` text is redacted too)."""
    scrubbed = _scrub(event_dict, SAFE_LOG_FIELDS)
    event_dict.clear()
    event_dict.update(scrubbed)
    return event_dict


def scrub_span(span: ReadableSpan) -> ReadableSpan:
    """Build a scrubbed copy of a finished span (ReadableSpan is immutable); resource stays untouched."""
    events = [
        Event(
            name=redact_text(event.name),
            attributes=scrub_attributes(event.attributes or {}),
            timestamp=event.timestamp,
        )
        for event in span.events
    ]
    links = [Link(link.context, scrub_attributes(link.attributes or {})) for link in span.links]
    status = span.status
    if status.description:
        status = Status(status.status_code, redact_text(status.description))
    return ReadableSpan(
        name=redact_text(span.name),
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=scrub_attributes(span.attributes or {}),
        events=events,
        links=links,
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class PiiRedactingSpanExporter(SpanExporter):
    """Wrap any SpanExporter so spans are scrubbed right before they leave the process."""

    def __init__(self, inner: SpanExporter) -> None:
        self._inner = inner

    @property
    def inner(self) -> SpanExporter:
        return self._inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self._inner.export([scrub_span(span) for span in spans])

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)
