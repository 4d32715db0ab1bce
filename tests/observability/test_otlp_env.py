"""One OTLP endpoint resolver: the API's span exporter, the span CLI and the perf smoke agree."""

from __future__ import annotations

import pytest

from foundation.client.spans import resolve_traces_endpoint
from foundation.observability import otlp_env
from foundation.observability.otlp_spans import OtlpHttpSpanExporter

CASES = [
    ({}, "http://127.0.0.1:4318/v1/traces", "http://127.0.0.1:4318/v1/metrics"),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, "http://c:4318/v1/traces", "http://c:4318/v1/metrics"),
    (
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318/"},
        "http://c:4318/v1/traces",
        "http://c:4318/v1/metrics",
    ),
    (
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318/otlp",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t:2/x",
        },
        "http://t:2/x",
        "http://c:4318/otlp/v1/metrics",
    ),
    (
        {"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://m:3/y"},
        "http://127.0.0.1:4318/v1/traces",
        "http://m:3/y",
    ),
    (
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "  "},
        "http://127.0.0.1:4318/v1/traces",
        "http://127.0.0.1:4318/v1/metrics",
    ),
]


@pytest.fixture
def otel_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for signal in ("", "TRACES_", "METRICS_"):
        for name in ("ENDPOINT", "HEADERS", "TIMEOUT", "COMPRESSION", "CERTIFICATE"):
            monkeypatch.delenv(f"OTEL_EXPORTER_OTLP_{signal}{name}", raising=False)
    return monkeypatch


@pytest.mark.parametrize(("env", "traces", "metrics"), CASES)
def test_every_user_of_a_variable_gets_the_same_url(
    otel_env: pytest.MonkeyPatch, env: dict[str, str], traces: str, metrics: str
) -> None:
    for name, value in env.items():
        otel_env.setenv(name, value)
    assert otlp_env.endpoint("traces") == traces
    assert resolve_traces_endpoint(None) == traces
    assert OtlpHttpSpanExporter().endpoint == traces
    assert otlp_env.endpoint("metrics") == metrics


def test_explicit_values_are_base_urls_unless_they_name_the_signal_path() -> None:
    assert otlp_env.endpoint("traces", "http://h:1") == "http://h:1/v1/traces"
    assert otlp_env.endpoint("traces", "http://h:1/otlp/") == "http://h:1/otlp/v1/traces"
    assert otlp_env.endpoint("traces", "http://h:1/v1/traces") == "http://h:1/v1/traces"
    assert otlp_env.endpoint("traces", "h:1") == "http://h:1/v1/traces"
    assert otlp_env.endpoint("metrics", "http://c:4318/v1/metrics") == "http://c:4318/v1/metrics"


def test_signal_settings_fall_back_to_the_generic_variable(otel_env: pytest.MonkeyPatch) -> None:
    otel_env.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "3")
    assert otlp_env.setting("TIMEOUT") == "3"
    otel_env.setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "7")
    assert otlp_env.setting("TIMEOUT") == "7"
    assert otlp_env.setting("TIMEOUT", "metrics") == "3"
    assert not otlp_env.export_configured()
    otel_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")
    assert otlp_env.export_configured()
