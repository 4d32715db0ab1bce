"""Shared rate-limit counters in Redis, and the documented behaviour when Redis is unreachable."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable

import httpx
import pytest

from foundation.ops.procs import free_port
from tests.conftest import ALFA

REDIS_URL = os.environ.get("FOUNDATION_TEST_REDIS_URL")
THEME = f"/api/v1/tenants/{ALFA}/themes/current"
HEADERS = {"X-Tenant-Id": ALFA}


def unreachable_redis() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there


async def test_unreachable_redis_fails_open_with_a_warning_metric(
    make_client: Callable[..., httpx.AsyncClient],
) -> None:
    async with make_client(redis_url=unreachable_redis()) as client:
        response = await client.get(THEME, headers=HEADERS)
        assert response.status_code == 200
        assert "RateLimit-Limit" not in response.headers  # no counter, so nothing to report
        metrics = (await client.get("/metrics")).text
    assert 'foundation_rate_limit_store_errors_total{policy="open"}' in metrics


async def test_unreachable_redis_fails_closed_when_configured(
    make_client: Callable[..., httpx.AsyncClient],
) -> None:
    async with make_client(redis_url=unreachable_redis(), rate_limit_redis_failure="closed") as client:
        response = await client.get(THEME, headers=HEADERS)
    assert response.status_code == 503
    assert response.json()["title"] == "service_unavailable"
    assert response.headers["Retry-After"] == "5"


@pytest.mark.redis
async def test_two_apps_share_one_counter_in_redis(make_client: Callable[..., httpx.AsyncClient]) -> None:
    prefix = f"test-{uuid.uuid4().hex}"  # counters of this test only, in the shared Redis
    limit = 4
    async with (
        make_client(
            redis_url=REDIS_URL, rate_limit_key_prefix=prefix, rate_limit_theme_read_per_minute=limit
        ) as first,
        make_client(
            redis_url=REDIS_URL, rate_limit_key_prefix=prefix, rate_limit_theme_read_per_minute=limit
        ) as second,
    ):
        statuses, remaining = [], []
        for index in range(limit + 1):
            client = first if index % 2 == 0 else second
            response = await client.get(THEME, headers=HEADERS)
            statuses.append(response.status_code)
            remaining.append(response.headers.get("RateLimit-Remaining"))
    assert statuses == [200] * limit + [429]
    assert remaining[:limit] == [str(n) for n in range(limit - 1, -1, -1)]
