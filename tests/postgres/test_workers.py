"""Two workers on PostgreSQL with Redis-shared rate limits: limits and idempotency hold across processes."""

from __future__ import annotations

import concurrent.futures
import os
import uuid
from pathlib import Path

import httpx
import pytest

from tests.conftest import ALFA
from tests.observability.servers import running_server, server_env

REDIS_URL = os.environ.get("FOUNDATION_TEST_REDIS_URL")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.postgres,
    pytest.mark.redis,
]


def scaffold(slug: str) -> dict:
    return {
        "featureSlug": slug,
        "initiatedBy": str(uuid.uuid4()),
        "slices": [{"slice": "pages", "files": [{"path": "src/pages/x.tsx", "checksum": "e" * 64}]}],
        "lintCommitHash": "f" * 40,
        "scReferences": ["@SC-002"],
    }


def fresh_connection_post(url: str, body: dict, key: str) -> httpx.Response:
    # A new connection per request lets the kernel hand requests to either worker.
    with httpx.Client(timeout=30, limits=httpx.Limits(max_keepalive_connections=0)) as http:
        return http.post(url, json=body, headers={"X-Tenant-Id": ALFA, "Idempotency-Key": key})


def worker_files(var_dir: Path, port: int) -> int:
    return len(list((var_dir / f"prometheus-multiproc-{port}").glob("counter_*.db")))


@pytest.fixture
def two_workers(database_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    env = server_env(
        database_url,
        tmp_path / "var",
        FOUNDATION_RATE_LIMIT_ENABLED="true",
        FOUNDATION_REDIS_URL=str(REDIS_URL),
        # Each test has its own counters, whatever else (the other test stage) uses this Redis.
        FOUNDATION_RATE_LIMIT_KEY_PREFIX=f"test-{uuid.uuid4().hex}",
    )
    with running_server(env, tmp_path / "logs", workers=2) as server:
        yield server, tmp_path / "var"


def test_31st_scaffold_in_a_minute_is_rejected_whichever_worker_serves_it(two_workers) -> None:  # type: ignore[no-untyped-def]
    server, var_dir = two_workers
    url = f"{server.url}/api/v1/tenants/{ALFA}/features/scaffold"
    responses = [fresh_connection_post(url, scaffold(f"limit-{i}"), f"limit-{i}") for i in range(31)]
    statuses = [r.status_code for r in responses]
    assert statuses[:30] == [201] * 30, statuses
    assert statuses[30] == 429
    assert int(responses[30].headers["Retry-After"]) >= 1
    remaining = [int(r.headers["RateLimit-Remaining"]) for r in responses]
    assert remaining[:30] == list(range(29, -1, -1)), remaining
    assert worker_files(var_dir, server.port) >= 2, "both workers must have served requests"


def test_parallel_duplicates_over_two_workers_create_once(two_workers) -> None:  # type: ignore[no-untyped-def]
    server, var_dir = two_workers
    url = f"{server.url}/api/v1/tenants/{ALFA}/features/scaffold"
    body = scaffold("duplicated-feature")
    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(lambda _: fresh_connection_post(url, body, "same-key"), range(20)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 1, statuses
    assert all(status in (200, 201) for status in statuses), statuses
    assert len({r.json()["scaffoldId"] for r in responses}) == 1
    assert worker_files(var_dir, server.port) >= 2
