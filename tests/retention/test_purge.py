"""Expired idempotency records are purged in batches, by `foundation db purge` and by the API's background
task, without touching registrations or valid records and without holding writers up (SQLite here;
PostgreSQL specifics — advisory lock, SKIP LOCKED, row-level security — in tests/postgres)."""

from __future__ import annotations

import asyncio
import fcntl
import json
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import make_url

from foundation.db import Database
from foundation.ops.devtools.bulk_load import registration_request
from foundation.scaffolds.models import IdempotencyRecord, ScaffoldRegistration
from foundation.scaffolds.retention import OTHER_PROCESS_PAUSE_SECONDS, purge_expired
from foundation.scaffolds.service import Attempt, register_batch
from foundation.settings import Settings
from foundation.tenancy.service import TenantDirectory
from tests.cli.test_cli import error_line, run
from tests.conftest import BACKEND

pytestmark = pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite; PostgreSQL: tests/postgres")


async def add_registrations(url: str, expired: int, valid: int, tenant: str = "tenant-alfa") -> None:
    db = Database(url)
    try:
        ref = await TenantDirectory(db).find(tenant)
        assert ref is not None
        for ttl, count, prefix in (
            (timedelta(hours=-1), expired, "old"),
            (timedelta(hours=24), valid, "new"),
        ):
            attempts = [
                Attempt.of(f"{prefix}-{i}", registration_request(f"{prefix}-{i}", 60_000))
                for i in range(count)
            ]
            async with db.write(ref.id) as connection:
                await register_batch(connection, [(ref, attempt) for attempt in attempts], ttl)
    finally:
        await db.dispose()


async def counts(url: str) -> tuple[int, int]:
    db = Database(url)
    try:
        async with db.read() as connection:
            records = (
                await connection.execute(select(func.count()).select_from(IdempotencyRecord))
            ).scalar_one()
            registrations = (
                await connection.execute(select(func.count()).select_from(ScaffoldRegistration))
            ).scalar_one()
    finally:
        await db.dispose()
    return records, registrations


def test_cli_purges_in_batches_and_keeps_the_rest(database_url: str) -> None:
    asyncio.run(add_registrations(database_url, expired=5, valid=2))
    result = run("db", "purge", "--batch-size", "2", db=database_url)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["deleted"], report["batches"], report["skipped"]) == (5, 3, False)
    # A process beside the API pauses after each full batch, so that the API's SQLite writers get the lock.
    assert report["seconds"] >= 2 * OTHER_PROCESS_PAUSE_SECONDS
    assert asyncio.run(counts(database_url)) == (2, 7)  # valid records stay; registrations are history
    again = json.loads(run("db", "purge", db=database_url).stdout)
    assert (again["deleted"], again["batches"]) == (0, 0)


def test_cli_purge_on_an_unmigrated_database_is_one_error_line(tmp_path: Path) -> None:
    line = error_line(run("db", "purge", db=tmp_path / "empty.db"))
    assert line.startswith("error: purge failed:") and "idempotency_records" in line


async def test_nothing_expired_takes_no_write_lock(database_url: str) -> None:
    await add_registrations(database_url, expired=0, valid=3)
    db = Database(database_url)
    begins: list[str] = []
    event.listen(
        db.engine.sync_engine,
        "begin",
        lambda conn: begins.append(conn.get_execution_options().get("foundation_begin", "BEGIN")),
    )
    try:
        result = await purge_expired(db)
    finally:
        await db.dispose()
    assert (result.deleted, result.batches) == (0, 0)
    assert "BEGIN IMMEDIATE" not in begins


async def test_a_second_purger_skips_while_the_first_holds_the_lock(database_url: str) -> None:
    await add_registrations(database_url, expired=3, valid=0)
    path = make_url(database_url).database
    with open(f"{path}.purge-lock", "a+b") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        db = Database(database_url)
        try:
            assert (await purge_expired(db)).skipped
        finally:
            await db.dispose()
    assert (await counts(database_url))[0] == 3


async def test_writers_keep_writing_during_a_purge(
    make_client: Callable[..., httpx.AsyncClient], database_url: str
) -> None:
    await add_registrations(database_url, expired=3000, valid=0)
    async with make_client(rate_limit_enabled=False) as client:
        db: Database = client.app.state.services[Database]  # type: ignore[attr-defined]

        async def post(index: int) -> tuple[int, float]:
            started = time.perf_counter()
            response = await client.post(
                "/api/v1/tenants/tenant-beta/features/scaffold",
                json=registration_request(f"during-{index}", 60_000).model_dump(
                    mode="json", exclude_none=True
                ),
                headers={"X-Tenant-Id": "tenant-beta", "Idempotency-Key": f"during-{index}"},
            )
            return response.status_code, time.perf_counter() - started

        purge = asyncio.create_task(purge_expired(db, batch_size=200))
        posts = await asyncio.gather(*(post(i) for i in range(30)))
        result = await purge
    assert result.deleted == 3000 and result.batches == 16
    assert [status for status, _ in posts] == [201] * 30


async def test_background_task_purges_when_enabled(
    make_client: Callable[..., httpx.AsyncClient], database_url: str
) -> None:
    await add_registrations(database_url, expired=4, valid=1)
    async with make_client(idempotency_purge_interval_seconds=0.2) as client:
        app: Any = client.app  # type: ignore[attr-defined]
        async with app.router.lifespan_context(app):
            deadline = time.monotonic() + 20
            while (await counts(database_url))[0] != 1:
                assert time.monotonic() < deadline, "the background purge did not run"
                await asyncio.sleep(0.05)
    assert await counts(database_url) == (1, 5)


async def test_background_task_is_off_in_the_test_profile(
    make_client: Callable[..., httpx.AsyncClient], database_url: str
) -> None:
    async with make_client() as client:
        app: Any = client.app  # type: ignore[attr-defined]
        assert app.state.services[Settings].purge_interval_seconds == 0
        async with app.router.lifespan_context(app):
            assert not [t for t in asyncio.all_tasks() if t.get_name() == "idempotency-purge"]
