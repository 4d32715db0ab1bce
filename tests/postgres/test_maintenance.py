"""The application role's only cross-tenant operations (migration 0006): the SC-001 aggregates of /metrics
and the purge of expired idempotency records, as SECURITY DEFINER functions; row-level security still
hides every other tenant's rows from it, whatever it sets."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import asyncpg
import httpx
import pytest

from foundation.db import Database
from foundation.scaffolds.retention import ADVISORY_LOCK_KEY, purge_expired
from foundation.success_metrics.histograms import Sc001Reader
from tests.conftest import ALFA, BACKEND, BETA
from tests.postgres.test_row_level_security import dsn, populate
from tests.postgres.test_row_level_security import scaffold as scaffold_body

pytestmark = pytest.mark.skipif(BACKEND != "postgres", reason="PostgreSQL only")


async def as_app(database_url: str, statement: str, *args: object, tenant: str | None = None) -> list:
    connection = await asyncpg.connect(dsn(database_url))
    try:
        async with connection.transaction():
            if tenant is not None:
                await connection.execute("SELECT set_config('app.tenant_id', $1, true)", tenant)
            return list(await connection.fetch(statement, *args))
    finally:
        await connection.close()


async def test_histograms_are_tenant_isolated_but_the_aggregate_function_sees_all(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await populate(client)  # one registration of 2 minutes for each of tenant A and B
    own = await as_app(database_url, "SELECT tenant_id FROM sc001_histograms", tenant=ALFA)
    assert [r["tenant_id"] for r in own] == [uuid.UUID(ALFA)]
    # Setting the maintenance scope by hand gives the application role nothing: the policy is the owner's.
    leaked = await as_app(
        database_url,
        "SELECT set_config('app.platform_scope', 'maintenance', true), "
        "(SELECT count(*) FROM sc001_histograms) AS histograms, (SELECT count(*) FROM sc_samples) AS samples",
    )
    assert (leaked[0]["histograms"], leaked[0]["samples"]) == (0, 0)

    rows = await as_app(database_url, "SELECT * FROM foundation_sc001_histograms(100)")
    assert {r["tenant_slug"]: (r["observations"], r["le_2"], r["le_1"]) for r in rows} == {
        "tenant-alfa": (1, 1, 0),
        "tenant-beta": (1, 1, 0),
    }
    recent = await as_app(database_url, "SELECT * FROM foundation_sc001_recent(10)")
    assert {(r["tenant_slug"], r["feature_slug"]) for r in recent} == {
        ("tenant-alfa", "alfa-feature"),
        ("tenant-beta", "beta-feature"),
    }
    scope = await as_app(
        database_url,
        "SELECT count(*) FROM foundation_sc001_histograms(100) f, "
        "LATERAL (SELECT current_setting('app.platform_scope', true) AS s) x WHERE x.s = 'maintenance'",
    )
    assert scope[0][0] == 0  # the function leaves the scope behind it empty


async def test_deleting_a_sample_updates_its_histogram(client: httpx.AsyncClient, database_url: str) -> None:
    await populate(client)
    deleted = await as_app(
        database_url, "DELETE FROM sc_samples WHERE code = 'SC-001' RETURNING value", tenant=ALFA
    )
    assert len(deleted) == 1
    rows = await as_app(
        database_url, "SELECT observations, total_minutes, le_2 FROM sc001_histograms", tenant=ALFA
    )
    assert [tuple(r) for r in rows] == [(0, 0.0, 0)]
    metrics = (await client.get("/metrics")).text
    assert 'sc_001_scaffolding_minutes_count{tenant_slug="tenant-alfa",feature_slug="__all__"}' not in metrics
    assert 'sc_001_scaffolding_minutes_count{tenant_slug="tenant-beta",feature_slug="__all__"} 1.0' in metrics


async def expired_records(make_client: Callable[..., httpx.AsyncClient], database_url: str) -> None:
    """Two expired records in each of tenants A and B, one valid in A."""
    async with make_client(idempotency_ttl_hours=1) as client:
        for tenant in (ALFA, BETA):
            for index in range(3 if tenant == ALFA else 2):
                response = await client.post(
                    f"/api/v1/tenants/{tenant}/features/scaffold",
                    json={
                        "featureSlug": f"purge-{index}",
                        "initiatedBy": str(uuid.uuid4()),
                        "slices": [
                            {"slice": "features", "files": [{"path": "src/x.ts", "checksum": "a" * 64}]}
                        ],
                        "lintCommitHash": "b" * 40,
                        "scReferences": ["@SC-001"],
                    },
                    headers={"X-Tenant-Id": tenant, "Idempotency-Key": f"purge-{index}"},
                )
                assert response.status_code == 201, response.text
    # All but A's last key expired a minute ago.
    for tenant, keys in ((ALFA, ["purge-0", "purge-1"]), (BETA, ["purge-0", "purge-1"])):
        await as_app(
            database_url,
            "UPDATE idempotency_records SET expires_at = now() - interval '1 minute'"
            " WHERE idempotency_key = ANY($1)",
            keys,
            tenant=tenant,
        )


async def test_purge_deletes_expired_records_of_every_tenant_and_nothing_else(
    make_client: Callable[..., httpx.AsyncClient], database_url: str
) -> None:
    await expired_records(make_client, database_url)
    # Without a tenant context the application role deletes nothing by itself.
    assert await as_app(database_url, "DELETE FROM idempotency_records RETURNING 1") == []
    db = Database(database_url)
    try:
        result = await purge_expired(db, batch_size=1)  # four batches of one, then an empty one
        again = await purge_expired(db)
    finally:
        await db.dispose()
    assert (result.deleted, result.batches, result.skipped) == (4, 5, False)
    assert again.deleted == 0
    left = await as_app(database_url, "SELECT idempotency_key FROM idempotency_records", tenant=ALFA)
    assert [r[0] for r in left] == ["purge-2"]
    assert await as_app(database_url, "SELECT 1 FROM idempotency_records", tenant=BETA) == []
    registrations = await as_app(database_url, "SELECT count(*) FROM scaffold_registrations", tenant=BETA)
    assert registrations[0][0] == 2  # registrations are history: never purged


async def test_one_purger_at_a_time_and_locked_rows_are_skipped_not_waited_for(
    make_client: Callable[..., httpx.AsyncClient], database_url: str
) -> None:
    await expired_records(make_client, database_url)
    db = Database(database_url)
    holder = await asyncpg.connect(dsn(database_url))
    try:
        async with holder.transaction():
            await holder.execute("SELECT pg_advisory_xact_lock($1)", ADVISORY_LOCK_KEY)
            assert (await purge_expired(db)).skipped
        async with holder.transaction():  # a writer holding one of A's expired keys
            await holder.execute("SELECT set_config('app.tenant_id', $1, true)", ALFA)
            await holder.execute(
                "SELECT 1 FROM idempotency_records WHERE idempotency_key = 'purge-0' FOR UPDATE"
            )
            result = await asyncio.wait_for(purge_expired(db), timeout=10)
            assert result.deleted == 3
        assert (await purge_expired(db)).deleted == 1  # released: the next round takes it
    finally:
        await holder.close()
        await db.dispose()


async def test_sc001_reader_uses_its_own_connection(client: httpx.AsyncClient, database_url: str) -> None:
    await populate(client)
    reader = Sc001Reader(database_url, max_tenants=100, recent_features=1, timeout_seconds=5)
    try:
        snapshot = await reader.read()
    finally:
        await reader.dispose()
    assert {t.tenant_slug for t in snapshot.tenants} == {"tenant-alfa", "tenant-beta"}
    assert len(snapshot.recent) == 1


async def test_the_histogram_function_folds_above_max_tenants(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await populate(client)  # tenant A and tenant B: one registration of 2 minutes each
    response = await client.post(
        f"/api/v1/tenants/{ALFA}/features/scaffold",
        json={**scaffold_body("alfa-second"), "durationMs": 600_000},
        headers={"X-Tenant-Id": ALFA, "Idempotency-Key": "alfa-second"},
    )
    assert response.status_code == 201, response.text
    rows = await as_app(database_url, "SELECT * FROM foundation_sc001_histograms(1)")
    # tenant-alfa (2 registrations: bit length 2) outranks tenant-beta (1); beta is summed as __other__.
    assert {r["tenant_slug"]: (r["observations"], r["total_minutes"], r["le_2"]) for r in rows} == {
        "tenant-alfa": (2, 12.0, 1),
        "__other__": (1, 2.0, 1),
    }
    everyone = await as_app(database_url, "SELECT tenant_slug FROM foundation_sc001_histograms(0)")
    assert [r[0] for r in everyone] == ["__other__"]
