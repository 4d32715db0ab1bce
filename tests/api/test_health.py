"""Liveness, readiness and the Prometheus exposition."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx

from tests.api.helpers import (
    ALFA,
    BETA,
    JSON_CT,
    THEME_PATH,
    register,
    scaffold_body,
    scaffold_headers,
    scaffold_path,
)

ALFA_HDR = {"X-Tenant-Id": "tenant-alfa"}


async def test_health(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON_CT
    assert response.json()["status"] == "ok"


async def test_ready(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert isinstance(body["checks"], dict) and body["checks"]


def metric_value(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line[len(name) : line.rindex("}") + 1]))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_http_metrics_use_route_templates(client: httpx.AsyncClient) -> None:
    await client.get(THEME_PATH, headers=ALFA_HDR)
    await client.get(f"{scaffold_path()}/some-feature-xyz", headers=ALFA_HDR)
    text = (await client.get("/metrics")).text
    assert "http_server_requests_total" in text
    assert (
        metric_value(
            text,
            "http_server_requests_total",
            route="/api/v1/tenants/{tenantId}/themes/current",
            tenant="tenant-alfa",
            status_code="200",
            method="GET",
        )
        >= 1
    )
    series = [line for line in text.splitlines() if line.startswith("http_server_requests_total{")]
    assert not any(ALFA in line or "some-feature-xyz" in line for line in series)
    assert any("/api/v1/tenants/{tenantId}/features/scaffold/{featureSlug}" in line for line in series)


async def test_unknown_routes_are_not_raw_paths(client: httpx.AsyncClient) -> None:
    await client.get("/random/path/abc-123-unique")
    text = (await client.get("/metrics")).text
    assert "abc-123-unique" not in text


async def test_sc001_histogram(make_client: Callable[..., httpx.AsyncClient]) -> None:
    # The 3 most recent registrations across tenants: beta-hist, hist-4 and hist-3.
    async with make_client(metrics_sc001_recent_features=3) as http:
        for index in range(5):
            assert (await register(http, f"hist-{index}", durationMs=(index + 1) * 60_000)).status_code == 201
        await register(http, "beta-hist", tenant=BETA, durationMs=30_000)
        text = (await http.get("/metrics")).text
    count = metric_value(
        text, "sc_001_scaffolding_minutes_count", tenant_slug="tenant-alfa", feature_slug="__all__"
    )
    assert count == 5
    total = metric_value(
        text, "sc_001_scaffolding_minutes_sum", tenant_slug="tenant-alfa", feature_slug="__all__"
    )
    assert total == 15
    assert (
        metric_value(
            text,
            "sc_001_scaffolding_minutes_bucket",
            tenant_slug="tenant-alfa",
            feature_slug="__all__",
            le="3.0",
        )
        == 3
    )
    features = {
        m
        for m in re.findall(r"sc_001_scaffolding_minutes_count\{([^}]*)\}", text)
        if 'tenant_slug="tenant-alfa"' in m and "__all__" not in m
    }
    assert len(features) == 2, features
    assert (
        metric_value(
            text, "sc_001_scaffolding_minutes_count", tenant_slug="tenant-beta", feature_slug="__all__"
        )
        == 1
    )
    # Seeded manual SC-001 samples are not registrations and do not count.


async def test_sc001_absent_without_duration(client: httpx.AsyncClient) -> None:
    await register(client, "no-duration")
    text = (await client.get("/metrics")).text
    assert metric_value(text, "sc_001_scaffolding_minutes_count", tenant_slug="tenant-alfa") == 0


async def test_registration_outcomes(make_client: Callable[..., httpx.AsyncClient]) -> None:
    async with make_client() as http:
        before = (await http.get("/metrics")).text
        await register(http, "outcome", key="k1")
        await register(http, "outcome", key="k1")
        await register(http, "outcome", key="k2")
        await http.post(scaffold_path(), json=scaffold_body("BAD"), headers=scaffold_headers(ALFA))
        await http.post(scaffold_path(), json=scaffold_body(), headers=ALFA_HDR)
        after = (await http.get("/metrics")).text
    for outcome in ("created", "replayed", "conflict"):
        delta = metric_value(
            after, "foundation_scaffold_registrations_total", tenant="tenant-alfa", outcome=outcome
        ) - metric_value(
            before, "foundation_scaffold_registrations_total", tenant="tenant-alfa", outcome=outcome
        )
        assert delta == 1, outcome
    rejected = metric_value(
        after, "foundation_scaffold_registrations_total", tenant="tenant-alfa", outcome="rejected"
    ) - metric_value(
        before, "foundation_scaffold_registrations_total", tenant="tenant-alfa", outcome="rejected"
    )
    assert rejected == 2
