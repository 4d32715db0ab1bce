"""The real OpenTelemetry Collector config is consistent and its PII patterns actually mask PII."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

CONFIG = Path(__file__).resolve().parents[2] / "infra" / "otel-collector.yaml"
MASK = "****"  # what the redaction processor writes


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return yaml.safe_load(CONFIG.read_text())


@pytest.fixture(scope="module")
def patterns(config: dict[str, Any]) -> list[re.Pattern[str]]:
    (name,) = [key for key in config["processors"] if key.split("/")[0] == "redaction"]
    values = config["processors"][name]["blocked_values"]
    assert values
    return [re.compile(value) for value in values]


def mask(text: str, patterns: list[re.Pattern[str]]) -> str:
    for pattern in patterns:
        text = pattern.sub(MASK, text)
    return text


def test_pipelines_reference_defined_components(config: dict[str, Any]) -> None:
    pipelines = config["service"]["pipelines"]
    assert set(pipelines) == {"traces", "metrics", "logs"}
    for name, pipeline in pipelines.items():
        for section in ("receivers", "processors", "exporters"):
            for component in pipeline[section]:
                assert component in config[section], f"{name}: {section} {component} is not defined"
    for extension in config["service"]["extensions"]:
        assert extension in config["extensions"]
    assert "health_check" in config["extensions"]


def test_processor_order(config: dict[str, Any]) -> None:
    for name, pipeline in config["service"]["pipelines"].items():
        processors = pipeline["processors"]
        assert processors[0] == "memory_limiter", name
        assert processors[-1] == "batch", name
        assert any(p.split("/")[0] in ("redaction", "attributes", "transform") for p in processors), name


def test_endpoints_are_explicit(config: dict[str, Any]) -> None:
    protocols = config["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"] == "0.0.0.0:4317"
    assert protocols["http"]["endpoint"] == "0.0.0.0:4318"
    assert config["exporters"]["prometheus"]["endpoint"] == "0.0.0.0:8889"
    assert "debug" in config["exporters"]
    assert "prometheus" in config["service"]["pipelines"]["metrics"]["exporters"]


def test_patterns_are_re2_compatible(config: dict[str, Any]) -> None:
    # The collector uses Go's RE2: no lookarounds or backreferences.
    (name,) = [key for key in config["processors"] if key.startswith("redaction")]
    for value in config["processors"][name]["blocked_values"]:
        assert not re.search(r"\(\?<?[=!]|\\[1-9]", value), value


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("cpf 123.456.789-09", "123.456.789-09"),
        ("cpf 12345678909", "12345678909"),
        ("cnpj 12.345.678/0001-95", "12.345.678/0001-95"),
        ("cnpj 12345678000195", "12345678000195"),
        ("mail ana.souza@example.com.br", "ana.souza@example.com.br"),
        ("tel +55 11 91234-5678", "91234-5678"),
        ("tel (11) 3456-7890", "3456-7890"),
        ("Authorization: Bearer abc.def", "abc.def"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", "eyJzdWIiOiIxIn0"),
    ],
)
def test_patterns_mask_pii(patterns: list[re.Pattern[str]], text: str, secret: str) -> None:
    masked = mask(text, patterns)
    assert secret not in masked and MASK in masked


@pytest.mark.parametrize(
    "text",
    [
        "550e8400-e29b-41d4-a716-446655440000",
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "ORD-2024-000123",
        "2024-01-15T10:20:30Z",
        "/api/v1/tenants/{tenantId}/themes/current",
        "1.24.3",
    ],
)
def test_patterns_keep_identifiers(patterns: list[re.Pattern[str]], text: str) -> None:
    assert mask(text, patterns) == text


def test_secret_keys_are_dropped(config: dict[str, Any]) -> None:
    actions = config["processors"]["attributes/secrets"]["actions"]
    key_patterns = [re.compile(action["pattern"]) for action in actions if action["action"] == "delete"]
    for key in ("http.request.header.authorization", "http.request.header.cookie", "x-api-key", "password"):
        assert any(p.fullmatch(key) for p in key_patterns), key
    for key in ("http.route", "tenant", "service.name"):
        assert not any(p.fullmatch(key) for p in key_patterns), key
