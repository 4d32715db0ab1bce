"""The embedded database's WAL is checkpointed by a thread, off the event loop (sqlite_checkpoint.py): the
database file itself changes while the API runs, though the writes are far below the 1,000 WAL pages at which
a commit would checkpoint on its own; with the setting at 0, SQLite's default, it does not."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from foundation import sqlite_checkpoint
from foundation.db import WAL_SAFETY_NET_PAGES, Database
from tests.api.helpers import scaffold_body, scaffold_headers, scaffold_path
from tests.conftest import BACKEND

pytestmark = pytest.mark.skipif(BACKEND != "sqlite", reason="the embedded database's write-ahead log")


async def write_and_watch(client: httpx.AsyncClient, database: Path, seconds: float) -> bool:
    """Register a few features, then whether the database file (not its WAL) changed within ``seconds``."""
    before = database.stat().st_mtime_ns
    for number in range(20):
        response = await client.post(
            scaffold_path(), json=scaffold_body(f"checkpointed-{number}"), headers=scaffold_headers()
        )
        assert response.status_code == 201, response.text
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if database.stat().st_mtime_ns != before:
            return True
        await asyncio.sleep(0.05)
    return False


@pytest.mark.parametrize("interval", [0.05, 0])
async def test_the_wal_reaches_the_database_file_only_with_the_checkpoint_thread(
    make_client: Callable[..., httpx.AsyncClient], database_url: str, interval: float
) -> None:
    database = Path(str(make_url(database_url).database))
    async with make_client(sqlite_checkpoint_interval_seconds=interval, rate_limit_enabled=False) as client:
        app: Any = client.app  # type: ignore[attr-defined]
        async with app.router.lifespan_context(app):
            async with app.state.services[Database].engine.connect() as connection:
                pages = (await connection.execute(text("PRAGMA wal_autocheckpoint"))).scalar_one()
            assert pages == (WAL_SAFETY_NET_PAGES if interval else 1000)
            # Checked before the app closes: closing the last connection checkpoints in any case.
            assert await write_and_watch(client, database, seconds=10 if interval else 1) is bool(interval)


async def test_the_thread_checkpoints_only_after_a_write(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An idle or read-only API opens no connection for checkpoints: the WAL's modification time decides."""
    path = str(make_url(database_url).database)
    calls: list[str] = []
    real = sqlite_checkpoint.checkpoint
    monkeypatch.setattr(sqlite_checkpoint, "checkpoint", lambda *a: calls.append("run") or real(*a))

    async def until_checkpointed(than: int) -> None:
        deadline = time.monotonic() + 10
        while len(calls) <= than:
            assert time.monotonic() < deadline, "a write was never checkpointed"
            await asyncio.sleep(0.01)

    # Kept open throughout: closing the last connection would checkpoint and remove the WAL itself.
    with contextlib.closing(sqlite3.connect(path)) as connection:
        with connection:
            connection.execute("UPDATE tenants SET name = name || '.'")
        task = asyncio.create_task(sqlite_checkpoint.checkpoint_periodically(path, 0.01, 5))
        try:
            await until_checkpointed(0)
            first = len(calls)
            await asyncio.sleep(0.3)  # ~30 intervals with the WAL in place and nothing written
            assert len(calls) == first, "no write, no checkpoint"
            with connection:
                connection.execute("UPDATE tenants SET name = name || '.'")
            await until_checkpointed(first)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
