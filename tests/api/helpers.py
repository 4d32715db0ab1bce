"""Request builders and assertions shared by the HTTP tests."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx

from tests.conftest import ALFA, BETA
from tests.conftest import DEFAULT as DEFAULT_TENANT

PROBLEM_TYPE_PREFIX = "https://iabank.local/problems/foundation/"
TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
WEAK_ETAG = re.compile(r'^W/"[0-9a-f]{32}"$')
RFC3339_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-resource-policy": "same-origin",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
}
JSON_CT = "application/json; charset=utf-8"

CHECKSUM = "a" * 64
COMMIT = "b" * 40
INITIATOR = "5f0c7c1e-9a43-4d6b-8c1e-2f4e8d9a1b2c"

THEME_PATH = f"/api/v1/tenants/{ALFA}/themes/current"
STORIES = "/api/v1/design-system/stories"


def scaffold_path(tenant: str = ALFA) -> str:
    return f"/api/v1/tenants/{tenant}/features/scaffold"


def metrics_path(tenant: str = ALFA) -> str:
    return f"/api/v1/tenant-metrics/{tenant}/sc"


def theme_path(tenant: str = ALFA, version: str = "2.0.0") -> str:
    return f"/api/v1/tenants/{tenant}/themes/{version}"


def scaffold_body(slug: str = "loan-simulator", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "featureSlug": slug,
        "initiatedBy": INITIATOR,
        "slices": [
            {"slice": "features", "files": [{"path": f"src/features/{slug}/index.ts", "checksum": CHECKSUM}]},
            {"slice": "pages", "files": [{"path": f"src/pages/{slug}.tsx", "checksum": "c" * 64}]},
        ],
        "lintCommitHash": COMMIT,
        "scReferences": ["@SC-001"],
    }
    body.update(overrides)
    return body


def scaffold_headers(tenant: str = ALFA, key: str | None = None, **extra: str) -> dict[str, str]:
    return {"X-Tenant-Id": tenant, "Idempotency-Key": key or f"key-{uuid.uuid4()}", **extra}


async def register(
    client: httpx.AsyncClient,
    slug: str = "loan-simulator",
    *,
    tenant: str = ALFA,
    key: str | None = None,
    **overrides: Any,
) -> httpx.Response:
    return await client.post(
        scaffold_path(tenant), json=scaffold_body(slug, **overrides), headers=scaffold_headers(tenant, key)
    )


def story(
    component: str = "button", story_id: str = "button--primary", tenant: str | None = ALFA, **overrides: Any
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "tenantId": tenant,
        "componentId": component,
        "storyId": story_id,
        "tags": ["core"],
        "coveragePercent": 80,
        "axeStatus": "pass",
        "chromaticBuild": "build-1",
        "storybookUrl": f"https://storybook.example/{story_id}",
    }
    item.update(overrides)
    return item


def sample(
    code: str = "SC-002",
    value: float = 0.9,
    collected_at: str = "2026-01-10T10:00:00Z",
    source: str = "chromatic",
    **extra: Any,
) -> dict[str, Any]:
    return {"code": code, "value": value, "collectedAt": collected_at, "source": source, **extra}


def assert_problem(
    response: httpx.Response, status: int, title: str, *, fields: list[str] | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json", response.headers
    body = response.json()
    assert body["status"] == status
    assert body["title"] == title
    assert body["type"].startswith(PROBLEM_TYPE_PREFIX)
    assert isinstance(body["detail"], str) and body["detail"]
    assert body["instance"] == response.request.url.path
    assert TRACE_ID.match(body["traceId"]), body["traceId"]
    if fields is not None:
        assert [v["field"] for v in body.get("violations", [])] == fields, body
    assert_security_headers(response)
    return body  # type: ignore[no-any-return]


def violation_fields(response: httpx.Response) -> list[str]:
    return [v["field"] for v in response.json().get("violations", [])]


def assert_security_headers(response: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (name, response.headers)


def assert_ratelimit_headers(response: httpx.Response, limit: int | None = None) -> None:
    for name in ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"):
        assert re.fullmatch(r"\d+", response.headers.get(name, "")), (name, response.headers)
    if limit is not None:
        assert int(response.headers["ratelimit-limit"]) == limit


__all__ = ["ALFA", "BETA", "DEFAULT_TENANT"]
