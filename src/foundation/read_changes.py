"""Cross-process invalidation of the read cache (``http.read_cache``): the change feed.

Every write that changes a cached answer says so **in its own transaction** (:func:`record_change`), and every
serving process applies what any process wrote, so kept answers can live for minutes instead of one second
while a write is still seen everywhere within ``FOUNDATION_READ_CACHE_SECONDS``:

* **SQLite** — the write appends a row to ``read_changes``. Each process polls ``id > last`` on a connection
  of its own. SQLite has one writer at a time (``BEGIN IMMEDIATE``), so ids are taken in commit order and a
  poll never skips a change that commits later with a smaller id.
* **PostgreSQL** — the write calls ``pg_notify`` (delivered at commit, only if it commits, in commit order).
  Each process LISTENs on a connection of its own and sends itself a heartbeat on the same channel: receiving
  heartbeat *n* proves every change committed before it was sent has been delivered.

Either way the feed *confirms* a moment (``ReadCache.confirm``): every change committed before it has been
applied. The cache serves an answer older than the bound only while that confirmation is recent; when the
feed stalls (database unreachable, listener lost), answers fall back to the one-bound lifetime, and after a
gap longer than the feed's memory the whole cache is dropped. Writes made outside Foundation (SQL by hand) are
not in the feed: ``FOUNDATION_READ_CACHE_MAX_AGE_SECONDS`` bounds how long they can stay unseen.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import BigInteger, Integer, String, Uuid, delete, func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, create_async_engine
from sqlalchemy.orm import Mapped, mapped_column

from foundation.db import Base, UTCDateTime, utcnow
from foundation.http.read_cache import ReadCache
from foundation.sqlite_inline import inline_url

_log = structlog.get_logger(component="foundation.read_changes")

CHANNEL = "foundation_read_changes"
HEARTBEAT = "~"  # payload prefix of a process's own heartbeats; kinds never start with it
# SQLite rows older than this are deleted by the writers (a few at a time): a process whose last poll is
# older than half of it drops its whole cache instead of trusting a feed that may have lost rows.
SQLITE_KEEP = timedelta(minutes=10)
PRUNE_EVERY = 500  # one write in this many also deletes old rows
POLL_BATCH = 5000
UNANSWERED_BEATS = 40  # PostgreSQL: this many heartbeats without one coming back and the listener reconnects
_NOTIFY = text("SELECT pg_notify(:channel, :payload)")


class ReadChange(Base):
    """A write that changed cached answers of ``kind`` for ``tenant_id`` (every tenant when NULL).

    SQLite only: PostgreSQL carries the same change as a notification and leaves this table empty."""

    __tablename__ = "read_changes"
    __table_args__ = {"sqlite_autoincrement": True}  # ids never reused, even after the newest row is pruned

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    changed_at: Mapped[Any] = mapped_column(UTCDateTime, index=True)


async def record_change(
    connection: AsyncConnection | AsyncSession, kind: str, tenant_id: uuid.UUID | None
) -> None:
    """Say, in the caller's write transaction, that answers of ``kind`` (one tenant's, or all) changed."""
    await record_changes(connection, kind, [tenant_id])


async def record_changes(
    connection: AsyncConnection | AsyncSession, kind: str, tenant_ids: Sequence[uuid.UUID | None]
) -> None:
    """:func:`record_change` for several tenants (one statement on SQLite)."""
    bind = connection.get_bind() if isinstance(connection, AsyncSession) else connection
    if bind.dialect.name == "postgresql":
        for tenant_id in tenant_ids:
            await connection.execute(_NOTIFY, {"channel": CHANNEL, "payload": f"{kind}\t{tenant_id or ''}"})
        return
    now = utcnow()
    rows = [{"kind": kind, "tenant_id": tenant_id, "changed_at": now} for tenant_id in tenant_ids]
    inserted: Any = await connection.execute(insert(ReadChange).returning(ReadChange.id), rows)
    if any(new_id % PRUNE_EVERY == 0 for new_id in inserted.scalars()):
        await connection.execute(delete(ReadChange).where(ReadChange.changed_at < now - SQLITE_KEEP))


class SqliteFeed:
    """Polls ``read_changes`` for rows after the last one applied, on a connection of its own."""

    def __init__(self, database_url: str, cache: ReadCache, *, poll_seconds: float, timeout: float) -> None:
        self.cache = cache
        self.poll_seconds = poll_seconds
        # Inline (sqlite_inline.py): a poll is one indexed range read of microseconds on the event loop.
        self.engine = create_async_engine(inline_url(database_url), connect_args={"timeout": timeout})
        self._last: int | None = None

    async def run(self) -> None:
        failing = False
        while True:
            started = time.monotonic()
            try:
                await self._poll(started)
                if failing:
                    _log.info("read_changes_resumed")
                failing = False
            except Exception as exc:  # the database is unreachable or locked: answers fall back to the bound
                if not failing:
                    _log.warning("read_changes_poll_failed", error_type=type(exc).__name__, error=str(exc))
                failing = True
            await asyncio.sleep(self.poll_seconds)

    async def _poll(self, started: float) -> None:
        async with self.engine.connect() as connection:
            if self._last is None or self.cache.unconfirmed_for(started) > SQLITE_KEEP.total_seconds() / 2:
                # First poll, or so long since the last that pruned rows may have been missed: start afresh.
                self._last = (await connection.execute(select(func.max(ReadChange.id)))).scalar() or 0
                self.cache.clear()
                self.cache.confirm(started)
                return
            while True:
                rows = (
                    await connection.execute(
                        select(ReadChange.id, ReadChange.kind, ReadChange.tenant_id)
                        .where(ReadChange.id > self._last)
                        .order_by(ReadChange.id)
                        .limit(POLL_BATCH)
                    )
                ).all()
                for row in rows:
                    self.cache.invalidate(row.kind, row.tenant_id)
                    self._last = row.id
                if len(rows) < POLL_BATCH:
                    break
        self.cache.confirm(started)

    async def close(self) -> None:
        await self.engine.dispose()


class PostgresFeed:
    """LISTENs to the channel on a connection of its own, with heartbeats that confirm delivery."""

    def __init__(self, database_url: str, cache: ReadCache, *, poll_seconds: float, timeout: float) -> None:
        self.cache = cache
        self.poll_seconds = poll_seconds
        self.timeout = timeout
        self.dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        self.token = uuid.uuid4().hex  # tells this process's heartbeats from other processes'
        self._sent: dict[int, float] = {}

    async def run(self) -> None:
        import asyncpg  # the PostgreSQL driver; SQLite deployments never import it

        backoff = self.poll_seconds
        while True:
            connection = None
            try:
                connection = await asyncpg.connect(self.dsn, timeout=self.timeout)
                await connection.add_listener(CHANNEL, self._on_notification)
                self.cache.clear()  # anything may have changed while nobody listened
                _log.info("read_changes_listening")
                backoff = self.poll_seconds
                await self._beat(connection)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # answers fall back to the bound until the listener is back
                _log.warning("read_changes_listener_lost", error_type=type(exc).__name__, error=str(exc))
            finally:
                if connection is not None:
                    connection.terminate()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    async def _beat(self, connection: Any) -> None:
        self._sent.clear()
        for number in itertools.count():
            if len(self._sent) > UNANSWERED_BEATS:
                # LISTEN through a transaction-mode pooler, for one: notifications never come back.
                raise ConnectionError(f"{len(self._sent)} heartbeats sent and none came back")
            self._sent[number] = time.monotonic()
            beat = f"{HEARTBEAT}{self.token}\t{number}"
            await connection.execute("SELECT pg_notify($1, $2)", CHANNEL, beat)
            await asyncio.sleep(self.poll_seconds)
            if connection.is_closed():
                raise ConnectionError("the listening connection closed")

    def _on_notification(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        head, _, tail = payload.partition("\t")
        if head.startswith(HEARTBEAT):
            if head[len(HEARTBEAT) :] == self.token and (sent := self._sent.pop(int(tail), None)) is not None:
                for older in [n for n in self._sent if n < int(tail)]:
                    del self._sent[older]
                self.cache.confirm(sent)
            return
        self.cache.invalidate(head, uuid.UUID(tail) if tail else None)

    async def close(self) -> None:
        return None


Feed = SqliteFeed | PostgresFeed


def build_feed(database_url: str, cache: ReadCache, *, timeout: float) -> Feed | None:
    """The feed for this database, or None when the cache keeps answers no longer than the bound anyway."""
    if not cache.enabled or cache.max_age <= cache.ttl:
        return None
    poll_seconds = min(0.25, cache.ttl / 4)
    feed_class: Callable[..., Feed] = SqliteFeed if database_url.startswith("sqlite") else PostgresFeed
    return feed_class(database_url, cache, poll_seconds=poll_seconds, timeout=timeout)
