"""Tenant isolation enforced by PostgreSQL itself, checked as the application role with plain SQL."""

from __future__ import annotations

import uuid

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from foundation.migrations.roles import BATCH_TABLES, batch_role_name
from tests.conftest import ALFA, BETA

pytestmark = pytest.mark.postgres

TENANT_TABLES = (
    "theme_versions",
    "scaffold_registrations",
    "idempotency_records",
    "sc_samples",
    "sc001_histograms",
)
SHARED_TABLES = ("stories", "story_tags")


def dsn(url: str) -> str:
    parsed = make_url(url)
    return f"postgresql://{parsed.username}:{parsed.password}@{parsed.host}:{parsed.port}/{parsed.database}"


def scaffold(slug: str) -> dict:
    return {
        "featureSlug": slug,
        "initiatedBy": str(uuid.uuid4()),
        "slices": [
            {"slice": "features", "files": [{"path": f"src/features/{slug}/index.ts", "checksum": "a" * 64}]}
        ],
        "lintCommitHash": "b" * 40,
        "scReferences": ["@SC-001"],
        "durationMs": 120000,
    }


def story(tenant: str | None, story_id: str) -> dict:
    return {
        "tenantId": tenant,
        "componentId": "card",
        "storyId": story_id,
        "tags": ["t"],
        "coveragePercent": 50,
        "axeStatus": "pass",
        "chromaticBuild": "b1",
        "storybookUrl": "https://storybook.local/x",
    }


async def populate(client: httpx.AsyncClient) -> None:
    for tenant, slug in ((ALFA, "alfa-feature"), (BETA, "beta-feature")):
        response = await client.post(
            f"/api/v1/tenants/{tenant}/features/scaffold",
            json=scaffold(slug),
            headers={"X-Tenant-Id": tenant, "Idempotency-Key": f"key-{slug}"},
        )
        assert response.status_code == 201, response.text
    response = await client.put(
        "/api/v1/design-system/stories",
        json={"stories": [story(ALFA, "alfa-only"), story(BETA, "beta-only"), story(None, "global")]},
    )
    assert response.status_code == 200, response.text


async def rows_as_app(database_url: str, tenant: str | None, table: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(dsn(database_url))
    try:
        async with connection.transaction():
            if tenant is not None:
                await connection.execute("SELECT set_config('app.tenant_id', $1, true)", tenant)
            return await connection.fetch(f"SELECT * FROM {table}")  # noqa: S608  # table from a constant
    finally:
        await connection.close()


async def test_app_role_sees_only_its_tenant_and_global_rows(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await populate(client)
    for table in TENANT_TABLES:
        rows = await rows_as_app(database_url, ALFA, table)
        assert rows, f"{table}: tenant A has rows"
        assert {str(row["tenant_id"]) for row in rows} == {ALFA}, table
    for table in SHARED_TABLES:
        rows = await rows_as_app(database_url, ALFA, table)
        owners = {str(row["tenant_id"]) if row["tenant_id"] else None for row in rows}
        assert owners == {ALFA, None}, table


async def test_without_tenant_context_no_rows_are_visible(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await populate(client)
    for table in TENANT_TABLES + SHARED_TABLES:
        assert await rows_as_app(database_url, None, table) == [], table


async def rows_as_batch(database_url: str, tenants: str, table: str) -> list[asyncpg.Record]:
    """The rows the app role sees in its batch role (foundation.db.Database.open_batch) with ``tenants``."""
    connection = await asyncpg.connect(dsn(database_url))
    try:
        async with connection.transaction():
            await enter_batch(connection, database_url, tenants)
            return await connection.fetch(f"SELECT * FROM {table}")  # noqa: S608  # table from a constant
    finally:
        await connection.close()


async def enter_batch(connection: asyncpg.Connection, database_url: str, tenants: str) -> None:
    role = batch_role_name(str(make_url(database_url).username))
    await connection.execute(
        "SELECT set_config('role', $1, true), set_config('app.tenant_ids', $2, true)", role, tenants
    )


async def test_the_batch_role_sees_exactly_the_tenants_it_lists(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await populate(client)
    for table in BATCH_TABLES:
        both = await rows_as_batch(database_url, f"{ALFA},{BETA}", table)
        assert {str(row["tenant_id"]) for row in both} == {ALFA, BETA}, table
        alfa = await rows_as_batch(database_url, ALFA, table)
        assert {str(row["tenant_id"]) for row in alfa} == {ALFA}, table
        # Malformed lists name no tenant (never a partial match, never an error).
        for malformed in ("", f"{ALFA};{BETA}", f"{ALFA},", f"{ALFA},x", f"'{ALFA}'", "*"):
            assert await rows_as_batch(database_url, malformed, table) == [], (table, malformed)
    for table in sorted(set(TENANT_TABLES + SHARED_TABLES) - set(BATCH_TABLES)):
        # Everything else is not the batch role's: no privilege at all.
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await rows_as_batch(database_url, f"{ALFA},{BETA}", table)


async def test_the_batch_role_writes_only_the_tenants_it_lists(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await populate(client)
    connection = await asyncpg.connect(dsn(database_url))
    insert = (
        "INSERT INTO sc_samples (id, tenant_id, code, value, collected_at, source, feature_slug, created_at)"
        " VALUES ($1, $2, 'SC-002', 1.0, now(), 'manual', '', now())"
    )
    try:
        async with connection.transaction():
            await enter_batch(connection, database_url, f"{ALFA},{BETA}")
            await connection.execute(insert, uuid.uuid4(), uuid.UUID(ALFA))
            await connection.execute(insert, uuid.uuid4(), uuid.UUID(BETA))
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with connection.transaction():
                await enter_batch(connection, database_url, ALFA)
                await connection.execute(insert, uuid.uuid4(), uuid.UUID(BETA))
        # The role and the list end with the transaction: the pooled connection is the app role again.
        assert await connection.fetchval("SELECT current_user") == make_url(database_url).username
        assert await connection.fetchval("SELECT current_setting('app.tenant_ids', true)") in ("", None)
    finally:
        await connection.close()


async def test_a_batch_list_opens_nothing_to_the_app_role_itself(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """The batch policies are TO the batch role: the app role's own queries neither see more nor carry them
    in their plans (a read keeps the plan of one tenant's rows)."""
    await populate(client)
    connection = await asyncpg.connect(dsn(database_url))
    try:
        for table in BATCH_TABLES:
            async with connection.transaction():
                await connection.execute("SELECT set_config('app.tenant_ids', $1, true)", f"{ALFA},{BETA}")
                assert await connection.fetch(f"SELECT * FROM {table}") == [], table  # noqa: S608
                await connection.execute("SELECT set_config('app.tenant_id', $1, true)", ALFA)
                rows = await connection.fetch(f"SELECT * FROM {table}")  # noqa: S608
                assert {str(row["tenant_id"]) for row in rows} == {ALFA}, table
                explained = await connection.fetch(f"EXPLAIN (VERBOSE) SELECT * FROM {table}")  # noqa: S608
                plan = "\n".join(row[0] for row in explained)
                assert "app_current_tenant" in plan or "app.tenant_id'" in plan, plan  # the one-tenant filter
                assert "app_batch_tenants" not in plan and "tenant_ids" not in plan, plan
    finally:
        await connection.close()


async def test_inserting_another_tenants_row_fails(client: httpx.AsyncClient, database_url: str) -> None:
    await populate(client)
    connection = await asyncpg.connect(dsn(database_url))
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with connection.transaction():
                await connection.execute("SELECT set_config('app.tenant_id', $1, true)", ALFA)
                await connection.execute(
                    "INSERT INTO sc_samples"
                    " (id, tenant_id, code, value, collected_at, source, feature_slug, created_at)"
                    " VALUES ($1, $2, 'SC-002', 1.0, now(), 'manual', '', now())",
                    uuid.uuid4(),
                    uuid.UUID(BETA),
                )
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with connection.transaction():
                await connection.execute("SELECT set_config('app.tenant_id', $1, true)", ALFA)
                await connection.execute("UPDATE tenants SET name = 'x'")  # read-only for the app role
    finally:
        await connection.close()


async def test_role_owns_nothing_and_rls_is_forced(database_url: str) -> None:
    connection = await asyncpg.connect(dsn(database_url))
    try:
        owned = await connection.fetchval(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND pg_get_userbyid(c.relowner) = current_user"
        )
        assert owned == 0
        role = await connection.fetchrow(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        )
        assert not role["rolsuper"] and not role["rolbypassrls"]
        # Its batch role cannot log in or bypass RLS and is not inherited (its policies apply after SET ROLE).
        batch = await connection.fetchrow(
            "SELECT rolsuper, rolbypassrls, rolcanlogin, pg_has_role(current_user, oid, 'MEMBER') AS member, "
            "pg_has_role(current_user, oid, 'USAGE') AS inherited FROM pg_roles WHERE rolname = $1",
            batch_role_name(str(make_url(database_url).username)),
        )
        assert batch is not None
        assert not (batch["rolsuper"] or batch["rolbypassrls"] or batch["rolcanlogin"] or batch["inherited"])
        assert batch["member"]
        for table in TENANT_TABLES + SHARED_TABLES:
            flags = await connection.fetchrow(
                "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = $1", table
            )
            assert flags["relrowsecurity"] and flags["relforcerowsecurity"], table
    finally:
        await connection.close()


async def test_interleaved_tenants_on_a_single_pooled_connection(make_client) -> None:  # type: ignore[no-untyped-def]
    """A pool of one connection serves both tenants alternately; set_config(..., true) never leaks."""
    import asyncio

    async with make_client(db_pool_size=1, db_max_overflow=0, rate_limit_enabled=False) as client:
        await populate(client)

        async def stories(tenant: str) -> set[str | None]:
            response = await client.get("/api/v1/design-system/stories", headers={"X-Tenant-Id": tenant})
            assert response.status_code == 200
            return {item["tenantId"] for item in response.json()["data"]}

        async def metrics(tenant: str) -> set[str]:
            response = await client.get(
                f"/api/v1/tenant-metrics/{tenant}/sc", headers={"X-Tenant-Id": tenant}
            )
            assert response.status_code == 200
            return {item.get("featureSlug", "") for item in response.json()["data"]}

        calls = []
        for _ in range(15):
            calls += [stories(ALFA), stories(BETA), metrics(ALFA), metrics(BETA)]
        results = await asyncio.gather(*calls)
        for index, seen in enumerate(results):
            kind, tenant = divmod(index % 4, 2)
            if kind == 0:
                assert seen <= {ALFA if tenant == 0 else BETA, None}
            else:
                assert seen == {"alfa-feature" if tenant == 0 else "beta-feature"}


async def test_downgrading_0011_drops_the_batch_policies_and_upgrading_restores_them(
    owner_database_url: str, database_url: str
) -> None:
    """The policies come from `db upgrade` (roles.py), not from the migration: its downgrade finds them."""
    import asyncio

    from alembic import command

    from foundation.migrations import roles, runner
    from foundation.settings import Settings

    async def batch_policies() -> list[str]:
        connection = await asyncpg.connect(dsn(owner_database_url))
        try:
            rows = await connection.fetch(
                "SELECT tablename FROM pg_policies WHERE policyname = 'batch_tenants' ORDER BY tablename"
            )
            return [row["tablename"] for row in rows]
        finally:
            await connection.close()

    assert await batch_policies() == sorted(BATCH_TABLES)
    await asyncio.to_thread(command.downgrade, runner.alembic_config(owner_database_url), "0010")
    assert await batch_policies() == []
    await asyncio.to_thread(runner.upgrade, owner_database_url)
    settings = Settings(
        database_url=database_url,
        migration_database_url=owner_database_url,
        db_app_role=str(make_url(database_url).username),
    )
    await asyncio.to_thread(roles.ensure_application_role, settings)
    assert await batch_policies() == sorted(BATCH_TABLES)
