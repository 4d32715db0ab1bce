"""Weak ETags with If-None-Match, and per-tenant rate limits with RateLimit-* headers."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.api.helpers import (
    BETA,
    STORIES,
    THEME_PATH,
    WEAK_ETAG,
    assert_problem,
    assert_ratelimit_headers,
    metrics_path,
    register,
    sample,
    scaffold_path,
    story,
    theme_path,
)

ALFA_HDR = {"X-Tenant-Id": "tenant-alfa"}
SCAFFOLD_GET = f"{scaffold_path()}/loan-simulator"


async def _etagged(client: httpx.AsyncClient) -> list[tuple[str, dict[str, str]]]:
    assert (await register(client)).status_code == 201
    return [(THEME_PATH, ALFA_HDR), (STORIES, {}), (STORIES, ALFA_HDR), (SCAFFOLD_GET, ALFA_HDR)]


async def test_weak_etag_format_and_304(client: httpx.AsyncClient) -> None:
    for path, headers in await _etagged(client):
        first = await client.get(path, headers=headers)
        assert first.status_code == 200
        etag = first.headers["etag"]
        assert WEAK_ETAG.match(etag), etag
        for condition in (etag, etag[2:], f'W/"{"0" * 32}", {etag}', f'"nope",{etag[2:]}', "*"):
            response = await client.get(path, headers={**headers, "If-None-Match": condition})
            assert response.status_code == 304, (path, condition)
            assert response.content == b""
            assert response.headers["etag"] == etag
        miss = await client.get(path, headers={**headers, "If-None-Match": f'W/"{"0" * 32}"'})
        assert miss.status_code == 200
        assert miss.json() == first.json()


async def test_304_carries_ratelimit_headers(client: httpx.AsyncClient) -> None:
    first = await client.get(THEME_PATH, headers=ALFA_HDR)
    response = await client.get(THEME_PATH, headers={**ALFA_HDR, "If-None-Match": first.headers["etag"]})
    assert response.status_code == 304
    assert_ratelimit_headers(response, 60)
    assert int(response.headers["ratelimit-remaining"]) == int(first.headers["ratelimit-remaining"]) - 1


async def test_etag_stable_across_app_instances(make_client: Callable[..., httpx.AsyncClient]) -> None:
    async with make_client() as first_app:
        await register(first_app)
        await first_app.put(STORIES, json={"stories": [story(tenant=None)]})
        before = {
            p: (await first_app.get(p, headers=h)).headers["etag"]
            for p, h in ((THEME_PATH, ALFA_HDR), (STORIES, ALFA_HDR), (SCAFFOLD_GET, ALFA_HDR))
        }
    async with make_client() as second_app:
        for path, etag in before.items():
            response = await second_app.get(path, headers={**ALFA_HDR, "If-None-Match": etag})
            assert response.status_code == 304, path


async def test_stories_etag_changes_with_content(client: httpx.AsyncClient) -> None:
    before = (await client.get(STORIES, headers=ALFA_HDR)).headers["etag"]
    await client.put(STORIES, headers=ALFA_HDR, json={"stories": [story()]})
    response = await client.get(STORIES, headers={**ALFA_HDR, "If-None-Match": before})
    assert response.status_code == 200
    assert response.headers["etag"] != before


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "limit"),
    [
        ("GET", THEME_PATH, ALFA_HDR, None, 60),
        ("GET", metrics_path(), ALFA_HDR, None, 60),
        ("GET", STORIES, {}, None, 120),
        ("GET", STORIES, ALFA_HDR, None, 120),
        ("POST", metrics_path(), ALFA_HDR, {"samples": [sample()]}, 60),
        ("PUT", theme_path(version="3.0.0"), ALFA_HDR, {"categories": {}}, 60),
        ("PUT", STORIES, ALFA_HDR, {"stories": [story()]}, 60),
    ],
)
async def test_default_limits(
    client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str], body: object, limit: int
) -> None:
    response = await client.request(method, path, headers=headers, json=body)
    assert response.status_code < 300, response.text
    assert_ratelimit_headers(response, limit)
    assert int(response.headers["ratelimit-remaining"]) == limit - 1
    assert 0 < int(response.headers["ratelimit-reset"]) <= 60


async def test_scaffold_default_limit(client: httpx.AsyncClient) -> None:
    response = await register(client)
    assert_ratelimit_headers(response, 30)
    assert int(response.headers["ratelimit-remaining"]) == 29


async def test_exceeding_gives_429(make_client: Callable[..., httpx.AsyncClient]) -> None:
    async with make_client(rate_limit_scaffold_per_minute=3) as http:
        statuses = [(await register(http, f"feature-{i}")).status_code for i in range(3)]
        assert statuses == [201, 201, 201]
        response = await register(http, "feature-x")
        assert_problem(response, 429, "rate_limit_exceeded")
        assert_ratelimit_headers(response, 3)
        assert response.headers["ratelimit-remaining"] == "0"
        assert 1 <= int(response.headers["retry-after"]) <= 60
        # Another tenant has its own budget; another class of the same tenant too.
        assert (await register(http, "feature-x", tenant=BETA)).status_code == 201
        assert (await http.get(THEME_PATH, headers=ALFA_HDR)).status_code == 200


async def test_theme_read_limit_429_and_headers(make_client: Callable[..., httpx.AsyncClient]) -> None:
    async with make_client(rate_limit_theme_read_per_minute=2) as http:
        first = await http.get(THEME_PATH, headers=ALFA_HDR)
        second = await http.get(THEME_PATH, headers={**ALFA_HDR, "If-None-Match": first.headers["etag"]})
        assert (first.status_code, second.status_code) == (200, 304)
        assert second.headers["ratelimit-remaining"] == "0"
        third = await http.get(THEME_PATH, headers=ALFA_HDR)
        assert_problem(third, 429, "rate_limit_exceeded")
        assert third.headers["retry-after"].isdigit()


async def test_rate_limits_can_be_disabled(make_client: Callable[..., httpx.AsyncClient]) -> None:
    async with make_client(rate_limit_enabled=False, rate_limit_theme_read_per_minute=1) as http:
        for _ in range(3):
            assert (await http.get(THEME_PATH, headers=ALFA_HDR)).status_code == 200
