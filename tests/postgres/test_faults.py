"""PostgreSQL outage: 503 Problems within the configured timeout, recovery without restart, no data lost.

Runs its own small cluster (not the suite's) because it stops and restarts it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import httpx
import pytest

from foundation.db import Database
from foundation.migrations import roles, runner
from foundation.ops.devtools import postgres
from foundation.ops.procs import wait_until
from foundation.seed import seed
from foundation.settings import Settings
from tests.conftest import ALFA
from tests.observability.servers import running_server, server_env

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

TIMEOUT = 2.0


def scaffold(slug: str) -> dict:
    return {
        "featureSlug": slug,
        "initiatedBy": str(uuid.uuid4()),
        "slices": [{"slice": "app", "files": [{"path": "src/app/x.ts", "checksum": "c" * 64}]}],
        "lintCommitHash": "d" * 40,
        "scReferences": ["@SC-001"],
    }


async def seed_database(url: str) -> None:
    db = Database(url)
    try:
        await seed(db)
    finally:
        await db.dispose()


@pytest.fixture
def cluster(tmp_path: Path):  # type: ignore[no-untyped-def]
    directory = tmp_path / "pg"
    cluster = postgres.up(directory)
    try:
        settings = Settings(database_url=cluster.app_url, migration_database_url=cluster.owner_url)
        runner.upgrade(cluster.owner_url)
        roles.ensure_application_role(settings)
        asyncio.run(seed_database(cluster.owner_url))
        yield directory, cluster
    finally:
        postgres.down(directory, purge=True)


@pytest.mark.timing  # each 503 must come within the database timeout (wall clock)
def test_outage_gives_503_then_recovers_without_restart(cluster, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    directory, pg = cluster
    env = server_env(pg.app_url, tmp_path / "var", FOUNDATION_DB_TIMEOUT_SECONDS=str(TIMEOUT))
    headers = {"X-Tenant-Id": ALFA}
    with (
        running_server(env, tmp_path / "logs") as server,
        httpx.Client(base_url=server.url, timeout=30) as http,
    ):
        acknowledged = []
        for index in range(5):
            slug = f"before-outage-{index}"
            response = http.post(
                f"/api/v1/tenants/{ALFA}/features/scaffold",
                json=scaffold(slug),
                headers={**headers, "Idempotency-Key": f"k-{slug}"},
            )
            assert response.status_code == 201
            acknowledged.append(slug)

        postgres.stop(directory)
        for method, path in (
            ("GET", "/health/ready"),
            ("GET", f"/api/v1/tenants/{ALFA}/themes/current"),
            ("GET", f"/api/v1/tenant-metrics/{ALFA}/sc"),
            ("POST", f"/api/v1/tenants/{ALFA}/features/scaffold"),
        ):
            started = time.monotonic()
            response = http.request(
                method,
                path,
                headers={**headers, "Idempotency-Key": "during-outage"},
                json=scaffold("during-outage") if method == "POST" else None,
            )
            elapsed = time.monotonic() - started
            assert response.status_code == 503, (path, response.status_code, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.json()["title"] == "service_unavailable"
            assert elapsed < TIMEOUT * 2 + 3, (path, elapsed)

        postgres.up(directory, pg.port)
        wait_until(lambda: http.get("/health/ready").status_code == 200, 60, what="readiness after restart")
        for slug in acknowledged:
            response = http.get(f"/api/v1/tenants/{ALFA}/features/scaffold/{slug}", headers=headers)
            assert response.status_code == 200, slug
        response = http.post(
            f"/api/v1/tenants/{ALFA}/features/scaffold",
            json=scaffold("after-outage"),
            headers={**headers, "Idempotency-Key": "k-after"},
        )
        assert response.status_code == 201
