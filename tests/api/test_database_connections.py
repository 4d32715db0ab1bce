"""Pooled connections go back to the pool when a transaction's block ends, not a loop iteration later.

SQLAlchemy's ``async with engine.connect()`` closes in a task of its own and waits for it, so under load the
connection stays checked out until the event loop reaches that task: with 50 concurrent requests, up to 32
SQLite connections were held by closes waiting their turn, and the pool (5 + 10 overflow) opened and closed a
connection for every third request (docs/benchmarks.md). On SQLite Database closes in the caller's task."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import event, text

from foundation.db import Database
from tests.conftest import BACKEND

pytestmark = pytest.mark.skipif(BACKEND != "sqlite", reason="the inline SQLite driver closes in the caller")


async def test_concurrent_transactions_hold_one_connection_and_open_no_new_ones(database_url: str) -> None:
    db = Database(database_url)
    held = {"now": 0, "most": 0, "opened": 0}

    def checked_out(*_: Any) -> None:
        held["now"] += 1
        held["most"] = max(held["most"], held["now"])

    def checked_in(*_: Any) -> None:
        held["now"] -= 1

    def opened(*_: Any) -> None:
        held["opened"] += 1

    pool = db.engine.sync_engine.pool
    event.listen(pool, "checkout", checked_out)
    event.listen(pool, "checkin", checked_in)
    event.listen(pool, "connect", opened)

    async def read() -> int:
        async with db.read() as connection:
            return int((await connection.execute(text("SELECT 1"))).scalar_one())

    async def write() -> None:
        async with db.write() as connection:
            await connection.execute(text("SELECT 1"))

    try:
        for _ in range(5):
            results = await asyncio.gather(*(read() for _ in range(50)), *(write() for _ in range(10)))
            assert results[:50] == [1] * 50
    finally:
        await db.dispose()
    assert held["now"] == 0
    # Each transaction ran to its end without suspending: one connection at a time, and the pool's first
    # connection served all 300 (before, the deferred closes held up to 15 and opened new ones all along).
    assert held["most"] == 1, held
    assert held["opened"] == 1, held
