"""Static checks of infra/docker-compose.yml and the Dockerfile (no Docker needed)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
COMPOSE = INFRA / "docker-compose.yml"
PREFIX = "${FOUNDATION_PORT_PREFIX:-1}"
EXPECTED = {"api", "postgres", "redis", "otel-collector", "prometheus", "grafana"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def test_services(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == EXPECTED


def test_every_service_has_a_healthcheck(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        test = service.get("healthcheck", {}).get("test")
        assert test and test != ["NONE"], f"{name} has no healthcheck"


def test_images_pinned(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if "build" in service:
            continue
        image = service["image"]
        assert re.search(r":[\w.-]*\d[\w.-]*$", image) and not image.endswith(":latest"), f"{name}: {image}"
    assert compose["services"]["otel-collector"]["image"].startswith("otel/opentelemetry-collector-contrib:")


def test_every_mounted_file_exists(compose: dict[str, Any]) -> None:
    named = set(compose.get("volumes", {}) or {})
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source in named:
                continue
            assert (INFRA / source).exists(), f"{name}: {source} does not exist"
        if "build" in service:
            context = (INFRA / service["build"]["context"]).resolve()
            assert (context / service["build"].get("dockerfile", "Dockerfile")).is_file()


def test_no_fixed_host_port(compose: dict[str, Any]) -> None:
    published: list[str] = []
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert isinstance(port, str), f"{name}: use the string form"
            match = re.fullmatch(r"127\.0\.0\.1:(.+):(\d+)", port)
            assert match, f"{name}: {port} (use 127.0.0.1:HOST:CONTAINER)"
            host, container = match.group(1), match.group(2)
            assert host == PREFIX + container.zfill(4), (
                f"{name}: host port {host} is not derived from the prefix"
            )
            published.append(container)
    for prefix in "12345":
        ports = [int(prefix + c.zfill(4)) for c in published]
        assert len(set(ports)) == len(ports) and max(ports) <= 65535


def test_prometheus_config_rules_are_mounted(compose: dict[str, Any]) -> None:
    config = yaml.safe_load((INFRA / "prometheus/prometheus.yml").read_text(encoding="utf-8"))
    for rules in config["rule_files"]:
        assert (INFRA / "prometheus" / rules).is_file()
    targets = {t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]}
    assert {"api:8000", "otel-collector:8889"} <= targets


def test_dockerfile_copies_existing_paths() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11[\w.-]*$", text, re.M)
    for line in re.findall(r"^COPY (.+)$", text, re.M):
        for source in line.split()[:-1]:
            if "*" not in source:
                assert (ROOT / source).exists(), source
