"""Reads answered from the response cache still check every token (foundation.http.response_cache)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.auth.conftest import bearer
from tests.conftest import ALFA, BETA

CACHED = [
    ("/api/v1/tenants/{tenant}/themes/current", "tokens.read", True),
    ("/api/v1/tenant-metrics/{tenant}/sc", "metrics.read", True),
    ("/api/v1/design-system/stories", "design-system.read", False),
]


@pytest.mark.parametrize(("template", "scope", "path_tenant"), CACHED)
async def test_a_warm_entry_never_skips_authentication(
    secured: Callable[..., httpx.AsyncClient],
    mint: Callable[..., str],
    template: str,
    scope: str,
    path_tenant: bool,
) -> None:
    path = template.format(tenant=ALFA)
    alfa = {"X-Tenant-Id": ALFA}
    async with secured(rate_limit_enabled=True) as client:
        good = mint(tenant=ALFA, scopes=[scope])
        warm = [await client.get(path, headers=bearer(good, **alfa)) for _ in range(3)]
        assert [r.status_code for r in warm] == [200, 200, 200]
        remaining = int(warm[-1].headers["ratelimit-remaining"])

        cases = {
            "no token": ({**alfa}, 401),
            "garbage token": (bearer("not-a-jwt", **alfa), 401),
            "missing scope": (bearer(mint(tenant=ALFA, scopes=["tokens.write"]), **alfa), 403),
            "token of another tenant": (bearer(mint(tenant=BETA, scopes=[scope]), **alfa), 403),
            "unbound token without platform.admin": (bearer(mint(scopes=[scope]), **alfa), 403),
        }
        for case, (headers, status) in cases.items():
            response = await client.get(path, headers=headers)
            assert response.status_code == status, f"{case}: {response.text}"
            assert response.headers["content-type"] == "application/problem+json", case

        again = await client.get(path, headers=bearer(good, **alfa))
        assert again.status_code == 200 and again.content == warm[0].content
        # Refused requests spend no budget, whether the entry was warm or not.
        assert int(again.headers["ratelimit-remaining"]) == remaining - 1
        if path_tenant:
            assert (await client.get(path, headers=bearer(good, **{"X-Tenant-Id": BETA}))).status_code == 400
