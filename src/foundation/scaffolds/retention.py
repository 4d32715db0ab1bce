"""Retention of idempotency records: they replay for ``FOUNDATION_IDEMPOTENCY_TTL_HOURS`` (24 h), then go.

An expired record already counts as absent (the registration path deletes it when its key comes back);
this module removes the rest, in batches, each in its own short transaction, so writers wait at most one
batch: ``foundation db purge`` and a background task of the API
(``FOUNDATION_IDEMPOTENCY_PURGE_INTERVAL_SECONDS``).

One purger at a time: on PostgreSQL a transaction-scoped advisory lock per batch (a worker that does not get
it skips the round) and ``FOR UPDATE SKIP LOCKED`` inside ``foundation_purge_idempotency`` (a row a writer
holds is left for the next round); on SQLite a non-blocking file lock next to the database file, and a read
first, so a round with nothing expired takes no write lock at all. Registrations and SC samples are never
purged: they are the product.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import delete, select, text, tuple_
from sqlalchemy.engine import make_url

from foundation.db import Database, utcnow
from foundation.scaffolds.models import IdempotencyRecord

log = structlog.get_logger(component="foundation.retention")

ADVISORY_LOCK_KEY = 0x1DE3_70B7  # "idempotency purge", any constant shared by every instance
DEFAULT_BATCH_SIZE = 1000
# `foundation db purge` runs beside the API, another process: its batches followed each other at once, and on
# SQLite the API's writers, waiting in the busy handler (retries up to 100 ms apart), could miss every gap —
# measured once at 10,000 tenants, a 2-second window with no registration at all (docs/benchmarks.md). A pause
# longer than that retry lets them in between batches. The API's own task needs none: its writers share one
# FIFO lock with it.
OTHER_PROCESS_PAUSE_SECONDS = 0.15
_PG_PURGE = text("SELECT foundation_purge_idempotency(:cutoff, :batch)")
_PG_TRY_LOCK = text("SELECT pg_try_advisory_xact_lock(:key)")


@dataclass(frozen=True)
class PurgeResult:
    deleted: int
    batches: int
    seconds: float
    skipped: bool = False  # another purger was at work

    def as_dict(self) -> dict[str, object]:
        return {
            "deleted": self.deleted,
            "batches": self.batches,
            "seconds": round(self.seconds, 3),
            "skipped": self.skipped,
        }


async def purge_expired(
    db: Database,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    now: datetime | None = None,
    pause_seconds: float = 0.0,
) -> PurgeResult:
    """Delete every idempotency record expired at ``now`` (default: now), ``batch_size`` per transaction,
    ``pause_seconds`` between batches on SQLite (:data:`OTHER_PROCESS_PAUSE_SECONDS` from another process)."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    cutoff = now or utcnow()
    started = time.perf_counter()
    deleted = batches = 0
    with _sqlite_purge_lock(db) as acquired:
        if not acquired:
            return PurgeResult(0, 0, time.perf_counter() - started, skipped=True)
        if db.is_sqlite and not await _any_expired(db, cutoff):
            return PurgeResult(0, 0, time.perf_counter() - started)
        while True:
            count = await _purge_batch(db, cutoff, batch_size)
            if count is None:
                return PurgeResult(deleted, batches, time.perf_counter() - started, skipped=True)
            deleted, batches = deleted + count, batches + 1
            if count < batch_size:
                break
            # Writers queued meanwhile go first: this process's at once (the SQLite writer lock is FIFO),
            # another process's after the pause (PostgreSQL writers wait on row locks only: no pause).
            await asyncio.sleep(pause_seconds if db.is_sqlite else 0)
    return PurgeResult(deleted, batches, time.perf_counter() - started)


async def _any_expired(db: Database, cutoff: datetime) -> bool:
    async with db.read() as connection:
        found = await connection.execute(
            select(IdempotencyRecord.expires_at).where(IdempotencyRecord.expires_at <= cutoff).limit(1)
        )
        return found.first() is not None


async def _purge_batch(db: Database, cutoff: datetime, batch_size: int) -> int | None:
    """One short transaction; None when another purger holds the PostgreSQL advisory lock."""
    async with db.write() as connection:
        if not db.is_sqlite:
            if not (await connection.execute(_PG_TRY_LOCK, {"key": ADVISORY_LOCK_KEY})).scalar_one():
                return None
            purged = await connection.execute(_PG_PURGE, {"cutoff": cutoff, "batch": batch_size})
            return int(purged.scalar_one())
        doomed = (
            select(IdempotencyRecord.tenant_id, IdempotencyRecord.idempotency_key)
            .where(IdempotencyRecord.expires_at <= cutoff)
            .order_by(IdempotencyRecord.expires_at)
            .limit(batch_size)
        )
        result = await connection.execute(
            delete(IdempotencyRecord).where(
                tuple_(IdempotencyRecord.tenant_id, IdempotencyRecord.idempotency_key).in_(doomed)
            )
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


@contextlib.contextmanager
def _sqlite_purge_lock(db: Database) -> Iterator[bool]:
    """A non-blocking exclusive lock on ``<database file>.purge-lock`` (always acquired elsewhere)."""
    path = make_url(db.url).database if db.is_sqlite else None
    if not path or path == ":memory:":
        yield True
        return
    descriptor = os.open(f"{path}.purge-lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(descriptor)  # releases the lock


async def purge_periodically(db: Database, interval_seconds: float, batch_size: int) -> None:
    """The API's background task: a first round within a minute of start-up, then every interval.

    The first delay is randomised so instances started together do not purge together; each round is
    cheap when nothing expired. Failures are logged and the next round runs as planned.
    """
    delay = min(interval_seconds, 60.0) * random.uniform(0.5, 1.0)  # noqa: S311  # jitter, not a secret
    while True:
        await asyncio.sleep(delay)
        delay = interval_seconds
        try:
            result = await purge_expired(db, batch_size=batch_size)
        except Exception as exc:
            log.warning("idempotency_purge_failed", error_type=type(exc).__name__, error=str(exc)[:300])
            continue
        if result.deleted or result.skipped:
            log.info("idempotency_purged", **result.as_dict())
