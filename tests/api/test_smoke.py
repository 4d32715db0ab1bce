from __future__ import annotations

import httpx

from tests.conftest import ALFA


async def test_theme_current(client: httpx.AsyncClient) -> None:
    response = await client.get(
        f"/api/v1/tenants/{ALFA}/themes/current", headers={"X-Tenant-Id": "tenant-alfa"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["tenantId"] == ALFA
