"""Tenant resolution, X-Tenant-Id rules and tenant isolation (api.md §1 Tenants)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.helpers import (
    ALFA,
    BETA,
    STORIES,
    assert_problem,
    metrics_path,
    register,
    sample,
    scaffold_body,
    scaffold_path,
    story,
    theme_path,
)

UNKNOWN_UUID = "11111111-2222-3333-4444-555555555555"


@pytest.mark.parametrize("path_tenant", [ALFA, ALFA.upper(), "tenant-alfa", ALFA.replace("-", "")])
@pytest.mark.parametrize("header_tenant", [ALFA, ALFA.upper(), "tenant-alfa"])
async def test_uuid_any_case_and_slug(
    client: httpx.AsyncClient, path_tenant: str, header_tenant: str
) -> None:
    response = await client.get(
        f"/api/v1/tenants/{path_tenant}/themes/current", headers={"X-Tenant-Id": header_tenant}
    )
    assert response.status_code == 200, response.text
    assert response.json()["tenantId"] == ALFA


async def test_canonical_uuid_in_scaffold_and_location(client: httpx.AsyncClient) -> None:
    response = await client.post(
        scaffold_path("TENANT-ALFA".lower()),
        json=scaffold_body(),
        headers={"X-Tenant-Id": ALFA.upper(), "Idempotency-Key": "k1"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["tenantId"] == ALFA
    assert response.headers["location"] == f"/api/v1/tenants/{ALFA}/features/scaffold/loan-simulator"


def _tenant_scoped_requests(tenant: str) -> list[tuple[str, str, dict[str, Any] | None, dict[str, str]]]:
    return [
        ("GET", f"/api/v1/tenants/{tenant}/themes/current", None, {}),
        ("PUT", theme_path(tenant, "9.9.9"), {"categories": {}}, {}),
        ("POST", scaffold_path(tenant), scaffold_body(), {"Idempotency-Key": "k"}),
        ("GET", f"{scaffold_path(tenant)}/loan-simulator", None, {}),
        ("GET", metrics_path(tenant), None, {}),
        ("POST", metrics_path(tenant), {"samples": [sample()]}, {}),
    ]


@pytest.mark.parametrize("index", range(6))
@pytest.mark.parametrize("tenant", [UNKNOWN_UUID, "tenant-nope", "Not_A_Slug", "x" * 65, "a" * 2000])
async def test_unknown_path_tenant_is_404_everywhere(
    client: httpx.AsyncClient, index: int, tenant: str
) -> None:
    method, path, body, extra = _tenant_scoped_requests(tenant)[index]
    response = await client.request(method, path, json=body, headers={"X-Tenant-Id": tenant, **extra})
    assert_problem(response, 404, "tenant_not_found")


@pytest.mark.parametrize("index", range(6))
@pytest.mark.parametrize("header", [None, "tenant-beta", BETA, UNKNOWN_UUID, "tenant-nope", ""])
async def test_header_missing_or_different_is_400(
    client: httpx.AsyncClient, index: int, header: str | None
) -> None:
    method, path, body, extra = _tenant_scoped_requests(ALFA)[index]
    headers = dict(extra)
    if header is not None:
        headers["X-Tenant-Id"] = header
    response = await client.request(method, path, json=body, headers=headers)
    assert_problem(response, 400, "tenant_header_mismatch")


async def test_rejected_requests_do_not_spend_budget(client: httpx.AsyncClient) -> None:
    path = f"/api/v1/tenants/{ALFA}/themes/current"
    first = await client.get(path, headers={"X-Tenant-Id": "tenant-alfa"})
    remaining = int(first.headers["ratelimit-remaining"])
    for header in (None, "tenant-beta", "tenant-nope"):
        response = await client.get(path, headers={} if header is None else {"X-Tenant-Id": header})
        assert response.status_code == 400
        assert "ratelimit-remaining" not in response.headers
    await client.get("/api/v1/tenants/tenant-nope/themes/current", headers={"X-Tenant-Id": "tenant-alfa"})
    again = await client.get(path, headers={"X-Tenant-Id": "tenant-alfa"})
    assert int(again.headers["ratelimit-remaining"]) == remaining - 1


async def test_failed_requests_of_known_tenant_spend_budget(client: httpx.AsyncClient) -> None:
    first = await client.get(metrics_path(), headers={"X-Tenant-Id": "tenant-alfa"})
    bad = await client.get(metrics_path(), headers={"X-Tenant-Id": "tenant-alfa"}, params={"code": "SC-009"})
    assert bad.status_code == 400
    again = await client.get(metrics_path(), headers={"X-Tenant-Id": "tenant-alfa"})
    assert int(again.headers["ratelimit-remaining"]) == int(first.headers["ratelimit-remaining"]) - 2


async def test_budgets_are_per_tenant(client: httpx.AsyncClient) -> None:
    alfa = await client.get(metrics_path(ALFA), headers={"X-Tenant-Id": ALFA})
    await client.get(metrics_path(ALFA), headers={"X-Tenant-Id": ALFA})
    beta = await client.get(metrics_path(BETA), headers={"X-Tenant-Id": BETA})
    assert alfa.headers["ratelimit-remaining"] == beta.headers["ratelimit-remaining"]


async def test_beta_never_sees_alfa_registrations(client: httpx.AsyncClient) -> None:
    assert (await register(client, "secret-feature", durationMs=120_000)).status_code == 201
    response = await client.get(f"{scaffold_path(BETA)}/secret-feature", headers={"X-Tenant-Id": BETA})
    assert_problem(response, 404, "not_found")
    # The same slug is free for beta; alfa's key does not leak either.
    again = await register(client, "secret-feature", tenant=BETA)
    assert again.status_code == 201
    assert again.json()["tenantId"] == BETA


async def test_beta_never_sees_alfa_metrics(client: httpx.AsyncClient) -> None:
    await register(client, "alfa-only", durationMs=60_000)
    posted = await client.post(
        metrics_path(ALFA),
        headers={"X-Tenant-Id": ALFA},
        json={"samples": [sample("SC-004", 42, "2026-02-01T00:00:00Z", "manual", featureSlug="alfa-only")]},
    )
    assert posted.status_code == 201
    beta = (
        await client.get(metrics_path(BETA), headers={"X-Tenant-Id": BETA}, params={"page_size": 100})
    ).json()
    assert all(item.get("featureSlug") != "alfa-only" for item in beta["data"])
    assert all(item["code"] != "SC-004" for item in beta["data"])


async def test_beta_never_sees_alfa_stories(client: httpx.AsyncClient) -> None:
    put = await client.put(
        STORIES,
        headers={"X-Tenant-Id": "tenant-alfa"},
        json={"stories": [story("secret", "secret--alfa", ALFA)]},
    )
    assert put.status_code == 200, put.text
    for headers in ({"X-Tenant-Id": "tenant-beta"}, {}):
        data = (await client.get(STORIES, headers=headers, params={"page_size": 100})).json()["data"]
        assert all(item["componentId"] != "secret" for item in data)
        assert all(
            item["tenantId"] in (None, BETA if headers else "00000000-0000-0000-0000-000000000000")
            for item in data
        )
    alfa = (await client.get(STORIES, headers={"X-Tenant-Id": ALFA}, params={"componentId": "secret"})).json()
    assert [item["storyId"] for item in alfa["data"]] == ["secret--alfa"]
