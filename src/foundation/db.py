"""Database access: declarative base, portable column types, engine and per-transaction tenant context.

Domain code only sees :class:`Database` and plain SQLAlchemy; everything that differs between the
embedded SQLite default and PostgreSQL lives here:

* SQLite: WAL, a busy timeout, and ``BEGIN IMMEDIATE`` for write transactions so that concurrent writers
  queue instead of failing on a read-to-write lock upgrade.
* PostgreSQL: ``set_config('app.tenant_id', <uuid>, true)`` at the start of every transaction so that the
  row-level security policies see the request's tenant and a pooled connection never keeps it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import JSON, DateTime, MetaData, TypeDecorator, event, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlalchemy.sql.schema import Table

from foundation.settings import Settings
from foundation.sqlite_inline import inline_url

_log = structlog.get_logger(component="foundation.db")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# JSON documents: JSONB on PostgreSQL, JSON text elsewhere.
JsonDocument = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def bind_processor(self, dialect: Dialect) -> Callable[[datetime | None], Any] | None:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        # SQLite: the stored text in one step. The generic chain (this type's conversion, then the dialect's
        # DATETIME formatting through a dict of fields) was ~6 % of a scaffold registration's CPU; isoformat
        # writes the same "YYYY-MM-DD HH:MM:SS.ffffff" (tests/api/test_datetime_storage.py compares them).
        def to_sqlite_text(value: datetime | None) -> str | None:
            if value is None:
                return None
            if value.tzinfo is not UTC:
                if value.tzinfo is None:
                    raise ValueError("naive datetime given to a UTC column")
                value = value.astimezone(UTC)
            return value.replace(tzinfo=None).isoformat(" ", "microseconds")

        return to_sqlite_text


def utcnow() -> datetime:
    return datetime.now(UTC)


_SET_TENANT = text("SELECT set_config('app.tenant_id', :tenant, true)")
# The batch role of the connected role (foundation.migrations.roles): a member that does not inherit it, so
# its policies apply only after SET ROLE.
BATCH_ROLE_SUFFIX = "_batch"
_FIND_BATCH_ROLE = text(
    "SELECT rolname FROM pg_roles WHERE rolname = current_user || :suffix "
    "AND pg_has_role(current_user, oid, 'MEMBER') AND NOT pg_has_role(current_user, oid, 'USAGE')"
)
# Transaction-scoped (is_local), like SET LOCAL: gone at commit, so a pooled connection is never left in it.
_ENTER_BATCH = text("SELECT set_config('role', :role, true), set_config('app.tenant_ids', :tenants, true)")
_UNKNOWN = object()


class Database:
    """Engine plus transactions that carry the tenant context."""

    def __init__(self, url: str, *, settings: Settings | None = None, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        timeout = settings.db_timeout_seconds if settings else 5.0
        engine_url = inline_url(url) if url.startswith("sqlite+aiosqlite://") else url
        self.engine: AsyncEngine = create_async_engine(
            engine_url, echo=echo, **_engine_options(url, settings)
        )
        if self.is_sqlite:
            checkpointed = settings is not None and settings.sqlite_checkpoint_interval_seconds > 0
            _configure_sqlite(
                self.engine,
                busy_timeout_ms=int(timeout * 1000),
                wal_autocheckpoint=WAL_SAFETY_NET_PAGES if checkpointed else None,
            )
        else:
            _ping_idle_connections(self.engine)
        self._sqlite_writer = asyncio.Lock()
        self._batch_role: object = None if self.is_sqlite else _UNKNOWN

    @asynccontextmanager
    async def transaction(
        self, tenant_id: uuid.UUID | None = None, *, write: bool = False
    ) -> AsyncIterator[AsyncSession]:
        """One transaction, committed on success and rolled back on error.

        ``tenant_id`` becomes ``app.tenant_id`` for row-level security (PostgreSQL); ``write`` takes the
        SQLite write lock up front.
        """
        if self.is_sqlite and write:
            # One writer at a time per process: queued writers wait here, in order, instead of in SQLite's
            # busy handler, whose growing sleeps (up to 100 ms each) dominated latency under load.
            async with self._sqlite_writer, self._session(tenant_id, begin="BEGIN IMMEDIATE") as session:
                yield session
        else:
            async with self._session(tenant_id) as session:
                yield session

    @asynccontextmanager
    async def _connect(self) -> AsyncIterator[AsyncConnection]:
        """A pooled connection, returned to the pool as soon as the block ends.

        SQLAlchemy's ``async with engine.connect()`` closes in a task of its own (so that a cancellation
        cannot abandon the close halfway) and waits for it: the connection stays checked out until the event
        loop gets round to that task. Under load that is after every other ready callback — with 50
        concurrent requests, up to 32 connections were held by closes waiting their turn, and SQLite's pool
        (5 + 10 overflow) opened and closed a connection for every third request. SQLite's inline driver
        never suspends inside close, so nothing can cancel it halfway: it closes here, in the caller's task.
        """
        if not self.is_sqlite:
            async with self.engine.connect() as connection:
                yield connection
            return
        connection = await self.engine.connect()
        try:
            yield connection
        finally:
            await connection.close()

    @asynccontextmanager
    async def _session(
        self, tenant_id: uuid.UUID | None, begin: str | None = None
    ) -> AsyncIterator[AsyncSession]:
        async with self._connect() as connection:
            if begin is not None:
                connection = await connection.execution_options(foundation_begin=begin)
            async with AsyncSession(bind=connection, expire_on_commit=False) as session, session.begin():
                await self.set_tenant(session, tenant_id)
                yield session

    @asynccontextmanager
    async def read(self, tenant_id: uuid.UUID | None = None) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction on a plain connection: no ORM session, about half the cost per request.

        Queries here select columns (rows), not entities.
        """
        async with self._connect() as connection, connection.begin():
            if not self.is_sqlite:
                await connection.execute(_SET_TENANT, {"tenant": str(tenant_id) if tenant_id else ""})
            yield connection

    @asynccontextmanager
    async def write(self, tenant_id: uuid.UUID | None = None) -> AsyncIterator[AsyncConnection]:
        """A write transaction on a plain connection (Core statements, no ORM unit of work)."""
        if self.is_sqlite:
            async with self._sqlite_writer, self._connect() as connection:
                connection = await connection.execution_options(foundation_begin="BEGIN IMMEDIATE")
                async with connection.begin():
                    yield connection
        else:
            async with self.engine.connect() as connection, connection.begin():
                await connection.execute(_SET_TENANT, {"tenant": str(tenant_id) if tenant_id else ""})
                yield connection

    async def switch_tenant(self, connection: AsyncConnection, tenant_id: uuid.UUID) -> None:
        """Switch the row-level-security context of a :meth:`write` transaction to ``tenant_id`` for the
        statements that follow (PostgreSQL; nothing to do on SQLite)."""
        if not self.is_sqlite:
            await connection.execute(_SET_TENANT, {"tenant": str(tenant_id)})

    async def open_batch(self, connection: AsyncConnection, tenant_ids: Iterable[uuid.UUID]) -> bool:
        """Admit the rows of ``tenant_ids`` to the rest of a :meth:`write` transaction, so that a registration
        batch of several tenants is written in one statement per table. True on SQLite (no row-level
        security) and on PostgreSQL when the connected role has its batch role (``SET ROLE`` to it, with
        ``app.tenant_ids``: foundation.migrations.roles); False when each tenant's part needs its own context
        (:meth:`switch_tenant`)."""
        if self.is_sqlite:
            return True
        if self._batch_role is _UNKNOWN:
            found = await connection.execute(_FIND_BATCH_ROLE, {"suffix": BATCH_ROLE_SUFFIX})
            self._batch_role = found.scalar_one_or_none()
        if self._batch_role is None:
            return False
        tenants = ",".join(sorted(map(str, tenant_ids)))
        await connection.execute(_ENTER_BATCH, {"role": self._batch_role, "tenants": tenants})
        return True

    async def set_tenant(
        self, session: AsyncSession, tenant_id: uuid.UUID | None, *, platform: bool = False
    ) -> None:
        """Switch the row-level-security context for the rest of the current transaction.

        ``platform`` (no tenant) is the context of platform-wide writes of global rows (global stories).
        """
        if not self.is_sqlite:
            value = str(tenant_id) if tenant_id else ("platform" if platform else "")
            await session.execute(
                text("SELECT set_config('app.tenant_id', :tenant, true)"), {"tenant": value}
            )

    async def warm_up(self, connections: int) -> None:
        """Open pooled connections before the first request (PostgreSQL). A first burst of requests otherwise
        waits for connections to be established one after another; best effort, a failure only logs."""
        if self.is_sqlite or connections <= 0:
            return

        async def open_one() -> None:
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))

        try:
            await asyncio.wait_for(asyncio.gather(*(open_one() for _ in range(connections))), timeout=10)
        except Exception as exc:  # the readiness probe reports an unreachable database; start anyway
            _log.warning("database_warm_up_failed", error_type=type(exc).__name__)

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


def _engine_options(url: str, settings: Settings | None) -> dict[str, Any]:
    timeout = settings.db_timeout_seconds if settings else 5.0
    if url.startswith("sqlite"):
        options: dict[str, Any] = {"connect_args": {"timeout": timeout}, "pool_pre_ping": False}
        if ":memory:" not in url and "mode=memory" not in url:
            # A file database keeps its connections (schema parsed, page cache warm) whatever SQLAlchemy's
            # default: NullPool, a new connection per transaction, up to 2.0.3x; a queue pool after.
            options["poolclass"] = AsyncAdaptedQueuePool
        return options
    options = {
        "pool_pre_ping": False,  # connections are pinged when they were idle (_ping_idle_connections)
        "pool_timeout": timeout,
        "pool_size": settings.db_pool_size if settings else 10,
        "max_overflow": settings.db_max_overflow if settings else 0,
    }
    if url.startswith("postgresql+asyncpg"):
        options["connect_args"] = {"timeout": timeout, "command_timeout": timeout}
    return options


# A pooled connection idle longer than this is pinged before use, so one that sat in the pool while the server
# restarted (or a firewall dropped it) is replaced instead of failing a request. A connection in steady use
# is not: pinging on every checkout (pool_pre_ping) cost a round trip per transaction, and each round trip
# waits for a busy event loop to come back to the request (PostgreSQL backends sampled under load spent most
# of their time idle in transaction, waiting for the next statement).
PING_AFTER_IDLE_SECONDS = 2.0


def _ping_idle_connections(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "checkin")
    def _remember_checkin(dbapi_connection: Any, record: Any) -> None:
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        checked_in_at = record.info.get("checked_in_at")
        if checked_in_at is None or time.monotonic() - checked_in_at < PING_AFTER_IDLE_SECONDS:
            return  # just connected, or in steady use
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # The pool discards this connection and checks out another (SQLAlchemy's documented recipe).
            raise DisconnectionError() from exc


# The connections' wal_autocheckpoint while a thread checkpoints the WAL (foundation/sqlite_checkpoint.py):
# ~40 MB of WAL before a commit checkpoints on the event loop itself.
WAL_SAFETY_NET_PAGES = 10_000


def _configure_sqlite(engine: AsyncEngine, *, busy_timeout_ms: int, wal_autocheckpoint: int | None) -> None:
    # pysqlite's implicit transactions are replaced by explicit BEGINs so write transactions can take the
    # lock up front (the SQLAlchemy-documented recipe for serializable SQLite).
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        if wal_autocheckpoint is not None:
            cursor.execute(f"PRAGMA wal_autocheckpoint={wal_autocheckpoint}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(connection.get_execution_options().get("foundation_begin", "BEGIN"))


async def insert_ignoring_duplicates(
    session: AsyncSession | AsyncConnection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    key_columns: Sequence[str],
    *,
    count: bool = True,
) -> int | None:
    """Insert rows, skipping those that violate the unique key; returns how many were inserted, or None
    with ``count=False`` (no RETURNING: a plain many-row insert, for callers that do not need the number)."""
    if not rows:
        return 0 if count else None
    bind = session.bind if isinstance(session, AsyncSession) else session
    dialect = bind.dialect.name if bind is not None else "sqlite"
    statement = _insert_ignoring_statement(dialect, table, tuple(key_columns), returning=count)
    result = await session.execute(statement, list(rows))
    return len(result.fetchall()) if count else None


# Built once per (dialect, table, key, returning): the statement is the same for every call.
_INSERT_IGNORING: dict[tuple[str, str, tuple[str, ...], bool], Any] = {}


def _insert_ignoring_statement(
    dialect: str, table: Table, key_columns: tuple[str, ...], *, returning: bool
) -> Any:
    cache_key = (dialect, table.name, key_columns, returning)
    statement = _INSERT_IGNORING.get(cache_key)
    if statement is None:
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            statement = pg_insert(table)
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            statement = sqlite_insert(table)
        # Parameters are passed at execution (not .values(rows)), so one statement serves every call.
        statement = statement.on_conflict_do_nothing(index_elements=list(key_columns))
        if returning:
            statement = statement.returning(next(iter(table.primary_key.columns)))
        _INSERT_IGNORING[cache_key] = statement
    return statement
