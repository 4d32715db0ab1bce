"""Pooled PostgreSQL connections: one that died while idle in the pool is replaced before use (no failed
request), one in steady use is not pinged at every checkout, and bursts of load open no new connection."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event, text

from foundation import db as db_module
from foundation.db import Database
from foundation.settings import Settings
from tests.postgres.test_row_level_security import dsn

pytestmark = pytest.mark.postgres


async def backend_pids(database: Database) -> set[int]:
    pids = set()
    for _ in range(3):  # the pool may hand out any of its connections
        async with database.engine.connect() as connection:
            pids.add((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one())
    return pids


async def test_a_connection_killed_while_idle_is_replaced_without_a_failed_query(
    database_url: str, pg_cluster: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_SECONDS", 0.2)
    database = Database(database_url)
    try:
        killed = await backend_pids(database)
        admin = await asyncpg.connect(dsn(pg_cluster.superuser_url))
        try:
            for pid in killed:
                await admin.execute("SELECT pg_terminate_backend($1)", pid)
        finally:
            await admin.close()
        await asyncio.sleep(0.3)  # idle longer than the threshold: the next checkout pings first
        assert not (await backend_pids(database)) & killed
    finally:
        await database.dispose()


async def test_a_connection_in_steady_use_is_not_pinged(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = Database(database_url)
    pings = 0
    original = database.engine.dialect.do_ping

    def counting_ping(dbapi_connection: Any) -> bool:
        nonlocal pings
        pings += 1
        return bool(original(dbapi_connection))

    monkeypatch.setattr(database.engine.dialect, "do_ping", counting_ping)
    try:
        for _ in range(20):
            async with database.read() as connection:
                await connection.execute(text("SELECT 1"))
        assert pings == 0
        monkeypatch.setattr(db_module, "PING_AFTER_IDLE_SECONDS", 0.0)
        async with database.read() as connection:
            await connection.execute(text("SELECT 1"))
        assert pings == 1
    finally:
        await database.dispose()


async def test_after_warm_up_a_burst_of_requests_opens_no_connection(database_url: str) -> None:
    # Each connection opened mid-load blocks the worker's event loop (TLS negotiation, SCRAM key derivation):
    # the pool is opened whole at start and keeps its connections (no overflow that is closed after a burst).
    settings = Settings(database_url=database_url)
    database = Database(database_url, settings=settings)
    opened = 0

    def count(*_: Any) -> None:
        nonlocal opened
        opened += 1

    event.listen(database.engine.sync_engine, "connect", count)
    try:
        await database.warm_up(settings.db_pool_size)
        assert opened == settings.db_pool_size

        async def busy() -> None:
            async with database.read() as connection:
                await connection.execute(text("SELECT pg_sleep(0.05)"))

        for _ in range(3):  # bursts larger than the pool: extra requests wait for a connection
            await asyncio.gather(*(busy() for _ in range(settings.db_pool_size + 10)))
        assert opened == settings.db_pool_size
        assert database.engine.pool.checkedin() == settings.db_pool_size  # type: ignore[attr-defined]
    finally:
        await database.dispose()
