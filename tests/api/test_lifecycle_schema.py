"""Migration 0004 (feature lifecycle): the models match the migrated schema, and registrations stored before
it gain initiatedAt / events / leadTimeMinutes with a recomputed ETag, then go through the lifecycle like new
ones. Runs on SQLite and on PostgreSQL (where the owner sees rows only in a tenant context: FORCE RLS)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from foundation.app import create_app
from foundation.http.json_encoding import weak_etag_of_canonical
from foundation.migrations import roles, runner
from foundation.models import metadata
from foundation.settings import Settings
from tests.conftest import ALFA, BACKEND, AppClient, sqlite_url

LEGACY_ID = "6f1c2b3a-0000-4000-8000-0000000000aa"
LEGACY_DOCUMENT = {
    "featureSlug": "legacy-feature",
    "metrics": [],
    "recordedAt": "2026-01-05T10:00:00.123Z",
    "scaffoldId": LEGACY_ID,
    "status": "initiated",
    "tenantId": ALFA,
}


async def test_models_match_the_migrated_schema(database_url: str) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), metadata
                )
            )
    finally:
        await engine.dispose()
    assert differences == []


@pytest.fixture
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(owner URL, application URL) of an empty database, migrations not applied."""
    if BACKEND != "postgres":
        url = sqlite_url(tmp_path / "legacy.db")
        yield url, url
        return
    from tests.pg import OWNER

    cluster = request.getfixturevalue("pg_cluster")
    name = f"foundation_legacy_{uuid.uuid4().hex[:12]}"
    asyncio.run(cluster._admin(f"CREATE DATABASE {name} OWNER {OWNER}"))

    async def own_schema() -> None:
        import asyncpg

        connection = await asyncpg.connect(cluster._dsn(name))
        try:
            await connection.execute(f"ALTER SCHEMA public OWNER TO {OWNER}")
        finally:
            await connection.close()

    asyncio.run(own_schema())
    yield cluster.owner_url(name), cluster.app_url(name)
    cluster.drop(name)


async def _insert_legacy_registration(owner_url: str) -> None:
    engine = create_async_engine(owner_url)
    try:
        async with engine.begin() as connection:
            postgres = connection.dialect.name == "postgresql"
            # Raw SQL, so values are given as each driver stores them.
            uuid_of: Callable[[str], Any] = uuid.UUID if postgres else (lambda value: uuid.UUID(value).hex)
            time_of: Callable[[str], Any] = datetime.fromisoformat if postgres else str
            if postgres:
                await connection.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": ALFA})
            await connection.execute(
                text(
                    "INSERT INTO tenants (id, slug, name, status, created_at) "
                    "VALUES (:id, 'tenant-alfa', 'Tenant Alfa', 'production', :at)"
                ),
                {"id": uuid_of(ALFA), "at": time_of("2026-01-01 00:00:00+00:00")},
            )
            await connection.execute(
                text(
                    "INSERT INTO scaffold_registrations (id, tenant_id, feature_slug, status, initiated_by, "
                    "payload, duration_ms, recorded_at, document, etag) VALUES (:id, :tenant, "
                    "'legacy-feature', 'initiated', :by, :payload, NULL, :at, :document, 'W/\"old\"')"
                ),
                {
                    "id": uuid_of(LEGACY_ID),
                    "tenant": uuid_of(ALFA),
                    "by": uuid_of(str(uuid.uuid4())),
                    "payload": "{}",
                    "at": time_of("2026-01-05 10:00:00.123000+00:00"),
                    "document": json.dumps(LEGACY_DOCUMENT, sort_keys=True, separators=(",", ":")),
                },
            )
    finally:
        await engine.dispose()


def test_stored_registrations_gain_the_lifecycle_fields(empty_database: tuple[str, str]) -> None:
    owner_url, app_url = empty_database
    runner.upgrade(owner_url, "0003")
    asyncio.run(_insert_legacy_registration(owner_url))
    runner.upgrade(owner_url)
    if BACKEND == "postgres":
        from tests.pg import APP_ROLE

        roles.ensure_application_role(
            Settings(database_url=app_url, migration_database_url=owner_url, db_app_role=APP_ROLE)
        )

    async def check() -> None:
        settings = Settings(database_url=app_url, profile="test", log_level="WARNING")
        async with AppClient(create_app(settings)) as client:
            headers = {"X-Tenant-Id": ALFA}
            path = f"/api/v1/tenants/{ALFA}/features/scaffold/legacy-feature"
            read = await client.get(path, headers=headers)
            assert read.status_code == 200, read.text
            body: dict[str, Any] = read.json()
            assert body == {
                **LEGACY_DOCUMENT,
                "initiatedAt": LEGACY_DOCUMENT["recordedAt"],
                "events": [],
                "leadTimeMinutes": None,
            }
            assert read.headers["etag"] == weak_etag_of_canonical(read.content)
            published = await client.post(
                f"{path}/events",
                json={"type": "published", "occurredAt": "2026-01-05T10:30:00.123Z"},
                headers={**headers, "Idempotency-Key": "legacy-publish"},
            )
            assert published.status_code == 201, published.text
            assert published.json()["leadTimeMinutes"] == 30.0
            samples = await client.get(f"/api/v1/tenant-metrics/{ALFA}/sc", headers=headers)
            assert [(s["featureSlug"], s["value"]) for s in samples.json()["data"]] == [
                ("legacy-feature", 30.0)
            ]

    asyncio.run(check())
