"""U+0000 in input is a 400 on every backend (PostgreSQL cannot store it; it must never become a 500)."""

from __future__ import annotations

import httpx

from tests.api.helpers import scaffold_body, scaffold_headers, scaffold_path
from tests.conftest import ALFA


def assert_nul_rejected(response: httpx.Response, field: str) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["title"] == "invalid_request"
    assert body["violations"][0]["field"] == field


async def test_nul_in_scaffold_metadata(client: httpx.AsyncClient) -> None:
    body = scaffold_body(metadata={"note": "before\u0000after"})
    response = await client.post(scaffold_path(), json=body, headers=scaffold_headers(ALFA, "nul-key"))
    assert_nul_rejected(response, "body")
    # Nothing was written: the slug is still free for a clean request.
    clean = await client.post(
        scaffold_path(), json=scaffold_body(), headers=scaffold_headers(ALFA, "nul-key")
    )
    assert clean.status_code == 201


async def test_nul_in_theme_token_value(client: httpx.AsyncClient) -> None:
    response = await client.put(
        f"/api/v1/tenants/{ALFA}/themes/9.9.9",
        json={"categories": {"foundation": {"space.md": "16px\u0000"}}},
        headers={"X-Tenant-Id": ALFA},
    )
    assert_nul_rejected(response, "body")


async def test_nul_in_query_parameter(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/api/v1/design-system/stories?componentId=%00", headers={"X-Tenant-Id": ALFA}
    )
    assert_nul_rejected(response, "query")


async def test_escaped_backslash_before_u0000_is_ordinary_text(client: httpx.AsyncClient) -> None:
    body = scaffold_body(metadata={"note": "a literal \\u0000 sequence"})
    response = await client.post(scaffold_path(), json=body, headers=scaffold_headers(ALFA, "text-key"))
    assert response.status_code == 201, response.text
