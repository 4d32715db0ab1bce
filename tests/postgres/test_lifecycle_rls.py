"""Row-level security of the lifecycle tables (migration 0004), checked as the application role in SQL."""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from tests.conftest import ALFA, BACKEND, BETA
from tests.postgres.test_row_level_security import dsn, rows_as_app, scaffold

pytestmark = pytest.mark.skipif(BACKEND != "postgres", reason="PostgreSQL only")

LIFECYCLE_TABLES = ("scaffold_events", "scaffold_event_keys")


async def populate(client: httpx.AsyncClient) -> None:
    for tenant, slug in ((ALFA, "alfa-feature"), (BETA, "beta-feature")):
        base = f"/api/v1/tenants/{tenant}/features/scaffold"
        registered = await client.post(
            base, json=scaffold(slug), headers={"X-Tenant-Id": tenant, "Idempotency-Key": f"key-{slug}"}
        )
        assert registered.status_code == 201, registered.text
        linted = await client.post(
            f"{base}/{slug}/events",
            json={"type": "linted"},
            headers={"X-Tenant-Id": tenant, "Idempotency-Key": f"lint-{slug}"},
        )
        assert linted.status_code == 201, linted.text


async def test_lifecycle_rows_are_isolated(client: httpx.AsyncClient, database_url: str) -> None:
    await populate(client)
    for table in LIFECYCLE_TABLES:
        rows = await rows_as_app(database_url, ALFA, table)
        assert rows and {str(row["tenant_id"]) for row in rows} == {ALFA}, table
        assert await rows_as_app(database_url, None, table) == [], table


async def test_rls_is_forced_on_the_lifecycle_tables(database_url: str) -> None:
    connection = await asyncpg.connect(dsn(database_url))
    try:
        for table in LIFECYCLE_TABLES:
            flags = await connection.fetchrow(
                "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = $1", table
            )
            assert flags["relrowsecurity"] and flags["relforcerowsecurity"], table
        # The application role may write events only for the tenant of its context.
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with connection.transaction():
                await connection.execute("SELECT set_config('app.tenant_id', $1, true)", ALFA)
                await connection.execute(
                    "INSERT INTO scaffold_events (id, tenant_id, scaffold_id, seq, type, occurred_at,"
                    " recorded_at)"
                    " VALUES (gen_random_uuid(), $1, gen_random_uuid(), 1, 'linted', now(), now())",
                    BETA,
                )
    finally:
        await connection.close()
