"""PII guard: table-driven cases, a hypothesis property for ids, and the span exporter wrapper."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from foundation.observability.pii import (
    REDACTED,
    PiiRedactingSpanExporter,
    redact_text,
    scrub_attributes,
    structlog_pii_processor,
)

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)

POSITIVES = [
    ("cpf formatted", "cliente 123.456.789-09 aprovado", "123.456.789-09"),
    ("cpf bare", "cpf=12345678909", "12345678909"),
    ("cpf end of sentence", "CPF: 987.654.321-00.", "987.654.321-00"),
    ("cnpj formatted", "empresa 12.345.678/0001-95", "12.345.678/0001-95"),
    ("cnpj bare", "cnpj 12345678000195 ativo", "12345678000195"),
    ("email", "contato: maria.souza+teste@banco.com.br", "maria.souza+teste@banco.com.br"),
    ("phone intl", "ligar +55 11 91234-5678 hoje", "91234-5678"),
    ("phone parens", "tel (11) 91234-5678", "91234-5678"),
    ("phone parens no space", "tel (21)3456-7890", "3456-7890"),
    ("phone bare mobile", "whatsapp 11912345678", "11912345678"),
    ("phone landline", "fixo 11 3456-7890", "3456-7890"),
    ("phone e164", "sms +5511912345678", "5511912345678"),
    ("phone split nine", "+55 (11) 9 1234-5678", "1234-5678"),
    ("bearer", "Authorization: Bearer abc123.def-456_ghi", "abc123.def-456_ghi"),
    ("jwt", f"token in body {JWT}", JWT),
    ("api key", "GET /x?api_key=s3cr3tv4lue&page=2", "s3cr3tv4lue"),
    ("password", "login failed password: hunter2", "hunter2"),
    ("json token", '{"access_token": "abcDEF123"}', "abcDEF123"),
    ("header api key", "x-api-key: k-998877", "k-998877"),
    ("cpf in path", "GET /api/v1/clients/12345678909/loans", "12345678909"),
]

NEGATIVES = [
    ("uuid", "550e8400-e29b-41d4-a716-446655440000"),
    ("uuid all digits", "12345678-1234-1234-1234-123456789012"),
    ("trace id", "4bf92f3577b34da6a3ce929d0e0e4736"),
    ("trace id digits", "00000000000000000000000012345678"),
    ("span id", "00f067aa0ba902b7"),
    ("order id", "ORD-2024-000123"),
    ("feature slug", "feature-sc-001-scaffolding"),
    ("semver", "v1.24.3-rc.1"),
    ("iso timestamp", "2024-01-15T10:20:30.123456Z"),
    ("iso date range", "2024-01-15 2024-02-15"),
    ("localhost", "127.0.0.1:4318"),
    ("route", "/api/v1/tenants/{tenantId}/themes/current"),
    ("sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    ("commit", "9fceb02d0ae598e95dc970b74767f19372d61af8"),
    ("small numbers", "took 1234 ms, 200 OK, 3 retries"),
    ("unix seconds", "1700000000"),
    ("unix nanos", "1700000000123456789"),
    ("word tokens", "tokens: 5 used"),
]


@pytest.mark.parametrize(("case", "text", "secret"), POSITIVES, ids=[p[0] for p in POSITIVES])
def test_redacts_pii(case: str, text: str, secret: str) -> None:
    redacted = redact_text(text)
    assert secret not in redacted, case
    assert REDACTED in redacted


@pytest.mark.parametrize(("case", "text"), NEGATIVES, ids=[n[0] for n in NEGATIVES])
def test_keeps_identifiers(case: str, text: str) -> None:
    assert redact_text(text) == text, case


def test_context_around_the_match_is_kept() -> None:
    assert redact_text("cpf 123.456.789-09 ok") == f"cpf {REDACTED} ok"
    assert redact_text("Authorization: Bearer abc") == f"Authorization: Bearer {REDACTED}"


@settings(max_examples=200, deadline=None)
@given(st.uuids())
def test_uuids_pass_unchanged(value: uuid.UUID) -> None:
    for text in (str(value), value.hex, str(value).upper()):
        assert redact_text(text) == text


HEX_IDS = st.sampled_from([16, 32, 40, 64]).flatmap(
    lambda n: st.text("0123456789abcdef", min_size=n, max_size=n)
)


@settings(max_examples=200, deadline=None)
@given(HEX_IDS)
def test_hex_ids_pass_unchanged(value: str) -> None:
    assert redact_text(value) == value
    assert redact_text(f"trace_id={value} done") == f"trace_id={value} done"


def test_scrub_attributes_allowlist_and_sensitive_keys() -> None:
    attrs = {
        "http.request.method": "GET",
        "http.route": "/api/v1/tenants/{tenantId}",
        "http.response.status_code": 200,
        "tenant": "tenant-alfa",
        "service.name": "foundation-api",
        "network.peer.address": "127.0.0.1",
        "authorization": "Bearer abc",
        "http.request.header.authorization": ("Bearer abc",),
        "x-api-key": "k1",
        "db.statement": "SELECT * FROM clients WHERE cpf = '123.456.789-09'",
        "url.full": "https://api/x?email=ana@example.com",
        "customer.emails": ["ana@example.com", "ok"],
        "customer.cpf": 12345678909,
        "retries": 3,
    }
    out = scrub_attributes(attrs)
    for key in ("http.request.method", "http.route", "http.response.status_code", "tenant", "service.name"):
        assert out[key] == attrs[key]
    assert out["network.peer.address"] == "127.0.0.1"
    assert out["authorization"] == REDACTED
    assert out["http.request.header.authorization"] == REDACTED
    assert out["x-api-key"] == REDACTED
    assert "123.456.789-09" not in out["db.statement"] and out["db.statement"].startswith("SELECT")
    assert "ana@example.com" not in out["url.full"]
    assert out["customer.emails"] == [REDACTED, "ok"]
    assert out["customer.cpf"] == REDACTED
    assert out["retries"] == 3
    assert attrs["authorization"] == "Bearer abc"  # input not mutated


def test_structlog_processor() -> None:
    event = {
        "event": "login by ana@example.com",
        "timestamp": "2024-01-15T10:20:30Z",
        "level": "info",
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "tenant": "tenant-alfa",
        "route": "/api/v1/x",
        "status": 200,
        "duration_ms": 12.5,
        "password": "hunter2",
        "detail": {"phone": "(11) 91234-5678"},
    }
    out = structlog_pii_processor(None, "info", dict(event))
    assert out["event"] == f"login by {REDACTED}"
    for key in ("timestamp", "level", "trace_id", "tenant", "route", "status", "duration_ms"):
        assert out[key] == event[key]
    assert out["password"] == REDACTED
    assert out["detail"] == {"phone": REDACTED}


def test_span_exporter_wrapper_scrubs_attributes_and_events() -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(PiiRedactingSpanExporter(memory)))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("lookup ana@example.com") as span:
        span.set_attribute("tenant", "tenant-alfa")
        span.set_attribute("customer.document", "123.456.789-09")
        span.set_attribute("http.request.header.authorization", "Bearer abc")
        span.add_event("contact", {"phone": "+55 11 91234-5678", "order": "ORD-2024-000123"})
    provider.shutdown()

    (exported,) = memory.get_finished_spans()
    assert exported.name == f"lookup {REDACTED}"
    assert exported.attributes is not None
    assert exported.attributes["tenant"] == "tenant-alfa"
    assert exported.attributes["customer.document"] == REDACTED
    assert exported.attributes["http.request.header.authorization"] == REDACTED
    (event,) = exported.events
    assert event.attributes is not None
    assert event.attributes["phone"] == REDACTED
    assert event.attributes["order"] == "ORD-2024-000123"
    assert exported.context.trace_id == span.get_span_context().trace_id
