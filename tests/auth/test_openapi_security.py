"""The OpenAPI document declares the OAuth2 scheme and each operation's scopes when auth is jwt."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from foundation.auth.scopes import SCOPES

EXPECTED = {
    ("get", "/api/v1/tenants/{tenantId}/themes/current"): ["tokens.read"],
    ("put", "/api/v1/tenants/{tenantId}/themes/{version}"): ["tokens.write"],
    ("post", "/api/v1/tenants/{tenantId}/features/scaffold"): ["scaffolding.write"],
    ("get", "/api/v1/tenants/{tenantId}/features/scaffold/{featureSlug}"): [
        "scaffolding.write",
        "metrics.read",
    ],
    ("get", "/api/v1/tenant-metrics/{tenantId}/sc"): ["metrics.read"],
    ("post", "/api/v1/tenant-metrics/{tenantId}/sc"): ["metrics.write"],
    ("get", "/api/v1/tenant-metrics/{tenantId}/sc/summary"): ["metrics.read"],
    ("put", "/api/v1/tenant-metrics/{tenantId}/sc/targets"): ["metrics.write"],
    ("get", "/api/v1/design-system/stories"): ["design-system.read"],
    ("put", "/api/v1/design-system/stories"): ["design-system.write"],
}


async def test_jwt_document_declares_oauth2(secured: Callable[..., httpx.AsyncClient]) -> None:
    async with secured(auth_token_url="https://idp.example/oauth2/token") as client:
        document = (await client.get("/openapi.json")).json()
    scheme = document["components"]["securitySchemes"]["oauth2"]
    assert scheme["type"] == "oauth2"
    flow = scheme["flows"]["clientCredentials"]
    assert flow["tokenUrl"] == "https://idp.example/oauth2/token"
    assert set(flow["scopes"]) == set(SCOPES) and "platform.admin" in flow["scopes"]
    secured_operations = {}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if "security" in operation:
                secured_operations[(method, path)] = operation["security"][0]["oauth2"]
                for status in ("401", "403"):
                    assert operation["responses"][status]["content"]["application/problem+json"], (
                        path,
                        status,
                    )
                assert "WWW-Authenticate" in operation["responses"]["401"]["headers"]
    assert secured_operations == EXPECTED
    assert "security" not in document["paths"]["/health"]["get"]


async def test_auth_off_document_has_no_security(make_client: Callable[..., httpx.AsyncClient]) -> None:
    async with make_client() as client:
        document = (await client.get("/openapi.json")).json()
    assert "securitySchemes" not in document["components"]
    assert all("security" not in op for item in document["paths"].values() for op in item.values())
