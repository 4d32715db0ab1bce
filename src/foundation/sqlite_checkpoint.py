"""SQLite WAL checkpoints in a thread, off the event loop.

SQLite runs on the event loop (``sqlite_inline``), and its automatic checkpoint runs inside the commit that
crosses 1,000 WAL pages: the loop copied pages into the database file and waited for two fsyncs
(synchronous=NORMAL) while every request waited. With thousands of tenants a batch of registrations dirties
pages all over the indexes, and that checkpoint came every few batches (docs/benchmarks.md, "New
registrations and the WAL checkpoint"). Here a thread runs a PASSIVE checkpoint — it never waits for the
writer or the readers — every ``FOUNDATION_SQLITE_CHECKPOINT_INTERVAL_SECONDS``, and the connections' own
threshold is raised to :data:`foundation.db.WAL_SAFETY_NET_PAGES`, which still bounds the WAL if the thread
falls behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3

import structlog

from foundation.observability import metrics

log = structlog.get_logger(component="foundation.sqlite_checkpoint")


def checkpoint(path: str, timeout: float) -> tuple[int, int]:
    """One PASSIVE checkpoint of the database at ``path``: (WAL frames, frames checkpointed)."""
    with contextlib.closing(sqlite3.connect(path, timeout=timeout)) as connection:
        _busy, frames, done = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return int(frames), int(done)


def _wal_stamp(path: str) -> int | None:
    try:
        return os.stat(path + "-wal").st_mtime_ns
    except FileNotFoundError:
        return None


async def checkpoint_periodically(path: str, interval: float, timeout: float) -> None:
    """Until cancelled: every ``interval`` seconds, a checkpoint in a worker thread if any process wrote to
    the WAL since the last one (a stat, not a connection: an idle or read-only API costs nothing). A failure
    is counted and logged, and the next interval tries again (the connections' safety net bounds the WAL)."""
    done = None
    while True:
        await asyncio.sleep(interval)
        stamp = _wal_stamp(path)  # taken before: a write during the checkpoint brings the next one
        if stamp is None or stamp == done:
            continue
        try:
            await asyncio.to_thread(checkpoint, path, timeout)
        except sqlite3.Error as exc:
            metrics.sqlite_checkpoint_failures.inc()
            log.warning("sqlite_checkpoint_failed", error_type=type(exc).__name__, error=str(exc))
        else:
            done = stamp
