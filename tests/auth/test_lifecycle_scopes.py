"""Scopes and tenant binding of the lifecycle endpoints and the theme stylesheet (FOUNDATION_AUTH=jwt)."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.auth.conftest import bearer
from tests.conftest import ALFA, BETA

BASE = f"/api/v1/tenants/{ALFA}/features/scaffold"
EVENTS = f"{BASE}/scoped/events"
CSS = f"/api/v1/tenants/{ALFA}/themes/current.css"
REGISTRATION = {
    "featureSlug": "scoped",
    "initiatedBy": "11111111-1111-4111-8111-111111111111",
    "slices": [
        {"slice": "features", "files": [{"path": "src/features/scoped/index.ts", "checksum": "a" * 64}]}
    ],
    "lintCommitHash": "b" * 40,
    "scReferences": ["@SC-001"],
}


async def test_events_need_scaffolding_write_on_the_tenant(
    secured: Callable[..., httpx.AsyncClient], mint: Callable[..., str]
) -> None:
    async with secured() as client:
        writer = mint(tenant=ALFA, scopes=["scaffolding.write"])
        created = await client.post(
            BASE, json=REGISTRATION, headers=bearer(writer, **{"X-Tenant-Id": ALFA, "Idempotency-Key": "r"})
        )
        assert created.status_code == 201, created.text

        def headers(token: str | None, key: str) -> dict[str, str]:
            base = {"X-Tenant-Id": ALFA, "Idempotency-Key": key}
            return bearer(token, **base) if token else base

        body = {"type": "linted"}
        assert (await client.post(EVENTS, json=body, headers=headers(None, "e1"))).status_code == 401
        reader = mint(tenant=ALFA, scopes=["metrics.read", "tokens.read"])
        assert (await client.post(EVENTS, json=body, headers=headers(reader, "e1"))).status_code == 403
        other_tenant = mint(tenant=BETA, scopes=["scaffolding.write"])
        assert (await client.post(EVENTS, json=body, headers=headers(other_tenant, "e1"))).status_code == 403
        recorded = await client.post(EVENTS, json=body, headers=headers(writer, "e1"))
        assert recorded.status_code == 201, recorded.text
        platform = mint(scopes=["scaffolding.write", "platform.admin"])
        published = await client.post(EVENTS, json={"type": "published"}, headers=headers(platform, "e2"))
        assert published.status_code == 201, published.text


async def test_list_needs_metrics_read_or_scaffolding_write(
    secured: Callable[..., httpx.AsyncClient], mint: Callable[..., str]
) -> None:
    async with secured() as client:
        for scopes, status in (
            (["metrics.read"], 200),
            (["scaffolding.write"], 200),
            (["tokens.read", "metrics.write"], 403),
        ):
            token = mint(tenant=ALFA, scopes=scopes)
            response = await client.get(BASE, headers=bearer(token, **{"X-Tenant-Id": ALFA}))
            assert response.status_code == status, (scopes, response.text)
        beta_token = mint(tenant=BETA, scopes=["metrics.read"])
        assert (
            await client.get(BASE, headers=bearer(beta_token, **{"X-Tenant-Id": ALFA}))
        ).status_code == 403


async def test_stylesheet_needs_tokens_read(
    secured: Callable[..., httpx.AsyncClient], mint: Callable[..., str]
) -> None:
    async with secured() as client:
        assert (await client.get(CSS, headers={"X-Tenant-Id": ALFA})).status_code == 401
        for scopes, tenant, status in (
            (["tokens.read"], ALFA, 200),
            (["metrics.read", "tokens.write"], ALFA, 403),
            (["tokens.read"], BETA, 403),
        ):
            token = mint(tenant=tenant, scopes=scopes)
            response = await client.get(CSS, headers=bearer(token, **{"X-Tenant-Id": ALFA}))
            assert response.status_code == status, (scopes, tenant, response.text)
            if status == 200:
                assert response.headers["content-type"] == "text/css; charset=utf-8"
