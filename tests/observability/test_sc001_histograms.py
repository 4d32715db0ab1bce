"""sc001_histograms (migration 0006): backfilled from the samples already there, then kept equal to them by
triggers on every insert and delete — the table /metrics reads instead of counting samples."""

from __future__ import annotations

import asyncio
import importlib.util
import sqlite3
from datetime import timedelta
from pathlib import Path

from alembic import command
from sqlalchemy import delete, func, select

from foundation.db import Database
from foundation.migrations import runner
from foundation.migrations.runner import MIGRATIONS_DIR
from foundation.observability.buckets import SC001_BUCKETS
from foundation.ops.devtools.bulk_load import registration_request
from foundation.read_changes import ReadChange
from foundation.scaffolds.service import Attempt, register_batch
from foundation.seed import seed
from foundation.success_metrics.models import SC001_BUCKET_COLUMNS, Sc001Histogram, ScSample
from foundation.tenancy.service import TenantDirectory


def migration_0006() -> object:
    path = next(MIGRATIONS_DIR.glob("versions/0006_*.py"))
    spec = importlib.util.spec_from_file_location("migration_0006", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_migration_buckets_are_the_exposed_buckets() -> None:
    assert migration_0006().BOUNDS == SC001_BUCKETS  # type: ignore[attr-defined]
    assert tuple(f"le_{b}" for b in SC001_BUCKETS) == SC001_BUCKET_COLUMNS


async def register(db: Database, slug: str, minutes: list[float], prefix: str = "h") -> None:
    tenant = await TenantDirectory(db).find(slug)
    assert tenant is not None
    keys = [f"{prefix}-{i}" for i in range(len(minutes))]
    attempts = [
        Attempt.of(k, registration_request(k, int(m * 60_000))) for k, m in zip(keys, minutes, strict=True)
    ]
    async with db.write(tenant.id) as connection:
        await register_batch(connection, [(tenant, attempt) for attempt in attempts], timedelta(hours=24))


async def histograms(db: Database) -> dict[str, tuple[int, float, list[int]]]:
    """Per tenant id: (observations, total, buckets), from the table and recomputed from the samples."""
    async with db.read() as connection:
        rows = (await connection.execute(select(Sc001Histogram.__table__))).all()
    return {
        str(row.tenant_id): (
            row.observations,
            row.total_minutes,
            [getattr(row, c) for c in SC001_BUCKET_COLUMNS],
        )
        for row in rows
    }


async def recomputed(db: Database) -> dict[str, tuple[int, float, list[int]]]:
    registered = (ScSample.code == "SC-001", ScSample.scaffold_id.is_not(None))
    async with db.read() as connection:
        rows = (
            await connection.execute(
                select(
                    ScSample.tenant_id,
                    func.count(),
                    func.sum(ScSample.value),
                    *(
                        func.sum((ScSample.value <= bound).cast(ScSample.value.type))
                        for bound in SC001_BUCKETS
                    ),
                )
                .where(*registered)
                .group_by(ScSample.tenant_id)
            )
        ).all()
    return {str(r[0]): (r[1], r[2], [int(v) for v in r[3:]]) for r in rows}


def test_backfill_then_triggers_keep_the_table_equal_to_the_samples(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'foundation.db'}"
    runner.upgrade(url, "0005")  # the revision before 0006

    async def before_0006() -> None:
        db = Database(url)
        try:
            # Today's services write the read cache's change feed (migration 0009), which 0005 lacks.
            async with db.engine.begin() as connection:
                await connection.run_sync(ReadChange.__table__.create)
            await seed(db)
            await register(db, "tenant-alfa", [0.5, 1, 4, 30, 1440])
            await register(db, "tenant-beta", [13])
        finally:
            await db.dispose()

    asyncio.run(before_0006())
    with sqlite3.connect(tmp_path / "foundation.db") as connection:
        connection.execute("DROP TABLE read_changes")  # for migration 0009 to create
    runner.upgrade(url)  # 0006: the table is created and backfilled

    async def after_0006() -> None:
        db = Database(url)
        try:
            backfilled = await histograms(db)
            assert backfilled == await recomputed(db)
            alfa = (await TenantDirectory(db).find("tenant-alfa")).id  # type: ignore[union-attr]
            assert backfilled[str(alfa)] == (5, 1475.5, [2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4, 5])
            await register(db, "tenant-alfa", [7], prefix="later")  # insert trigger
            await register(
                db, "tenant-default", [90], prefix="later"
            )  # a tenant's first registration: a new row
            async with db.write(alfa) as connection:  # delete trigger
                await connection.execute(
                    delete(ScSample).where(ScSample.tenant_id == alfa, ScSample.value > 1000)
                )
            now = await histograms(db)
            assert now == await recomputed(db)
            assert now[str(alfa)][0] == 5 and now[str(alfa)][1] == 42.5
        finally:
            await db.dispose()

    asyncio.run(after_0006())
    command.downgrade(runner.alembic_config(url), "0005")  # and back: the table and triggers go
    runner.upgrade(url)
    db = Database(url)
    try:
        assert asyncio.run(histograms(db)).keys() == asyncio.run(recomputed(db)).keys()
    finally:
        asyncio.run(db.dispose())
