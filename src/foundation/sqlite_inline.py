"""An aiosqlite-compatible driver that runs SQLite calls inline on the event loop thread.

aiosqlite hands every call (BEGIN, execute, fetch, close, COMMIT…) to a worker thread. Each hand-off costs a
GIL round trip of a fraction of a millisecond to several milliseconds under load, and a small transaction
makes about eight of them — measured here as 5–8 ms per theme GET, for queries SQLite itself answers in tens
of microseconds. Running those calls inline is cheaper than any hand-off.

The trade-off: a call that waits for a lock blocks the loop for that wait. Within one process writers are
queued in an asyncio lock first (see ``foundation.db``), so waits only happen between processes (several
workers on one SQLite file), bounded by the busy timeout. Deployments with several workers use PostgreSQL.

SQLAlchemy's own aiosqlite dialect drives this module (``sqlite+foundation_sqlite://``); the URL users write
stays ``sqlite+aiosqlite://`` and :func:`foundation.db.Database` switches the driver.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from types import ModuleType, SimpleNamespace
from typing import Any

from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_dbapi, SQLiteDialect_aiosqlite

__version__ = "1.0"


class Cursor:
    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Any = None) -> Cursor:
        if parameters is None:
            self._cursor.execute(sql)
        else:
            self._cursor.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> Cursor:
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    async def nextset(self) -> None:
        return None

    async def setinputsizes(self, *sizes: Any) -> None:
        return None

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class _CursorContext:
    """What ``connection.cursor()`` returns in aiosqlite: awaitable and an async context manager."""

    def __init__(self, cursor: Cursor) -> None:
        self._cursor = cursor

    def __await__(self) -> Any:
        async def result() -> Cursor:
            return self._cursor

        return result().__await__()

    async def __aenter__(self) -> Cursor:
        return self._cursor

    async def __aexit__(self, *exc: object) -> None:
        await self._cursor.close()


class _ImmediateQueue:
    """Stands in for aiosqlite's request queue (SQLAlchemy uses it to set the isolation level)."""

    def put_nowait(self, item: tuple[Any, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:
            if future is not None:
                future.set_exception(exc)
            return
        if future is not None:
            future.set_result(result)


class Connection:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self._conn: sqlite3.Connection | None = connection
        self._connection = connection  # aiosqlite's attribute, checked by SQLAlchemy before commit/rollback
        self._tx = _ImmediateQueue()
        self._thread = SimpleNamespace(daemon=True)  # SQLAlchemy marks aiosqlite's thread as a daemon

    def __await__(self) -> Any:
        async def result() -> Connection:
            return self

        return result().__await__()

    @property
    def isolation_level(self) -> str | None:
        assert self._conn is not None  # noqa: S101  # open() ran first (type narrowing)
        return self._conn.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        assert self._conn is not None  # noqa: S101  # open() ran first (type narrowing)
        self._conn.isolation_level = value  # type: ignore[assignment]

    def cursor(self) -> _CursorContext:
        assert self._conn is not None  # noqa: S101  # open() ran first (type narrowing)
        return _CursorContext(Cursor(self._conn.cursor()))

    async def commit(self) -> None:
        assert self._conn is not None  # noqa: S101  # open() ran first (type narrowing)
        self._conn.commit()

    async def rollback(self) -> None:
        assert self._conn is not None  # noqa: S101  # open() ran first (type narrowing)
        self._conn.rollback()

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        assert self._conn is not None  # noqa: S101  # open() ran first (type narrowing)
        self._conn.create_function(*args, **kwargs)


def connect(database: str, **kwargs: Any) -> Connection:
    kwargs.pop("loop", None)
    kwargs.pop("iter_chunk_size", None)
    kwargs["check_same_thread"] = False
    return Connection(sqlite3.connect(database, **kwargs))


# The names SQLAlchemy copies from the driver module (exceptions, type constructors).
def _module() -> ModuleType:
    module = ModuleType("foundation_sqlite_inline")
    for name in (
        "DatabaseError",
        "Error",
        "IntegrityError",
        "NotSupportedError",
        "OperationalError",
        "ProgrammingError",
        "sqlite_version",
        "sqlite_version_info",
    ):
        setattr(module, name, getattr(sqlite3, name))
    module.connect = connect  # type: ignore[attr-defined]
    module.Connection = Connection  # type: ignore[attr-defined]
    module.Cursor = Cursor  # type: ignore[attr-defined]
    module.__version__ = __version__  # type: ignore[attr-defined]
    return module


class InlineSQLiteDialect(SQLiteDialect_aiosqlite):
    driver = "foundation_sqlite"
    supports_statement_cache = True

    @classmethod
    def import_dbapi(cls) -> AsyncAdapt_aiosqlite_dbapi:  # type: ignore[override]
        return AsyncAdapt_aiosqlite_dbapi(_module(), sqlite3)


registry.register("sqlite.foundation_sqlite", __name__, "InlineSQLiteDialect")


def inline_url(url: str) -> str:
    """``sqlite+aiosqlite://…`` → the same database through the inline driver."""
    return url.replace("sqlite+aiosqlite://", "sqlite+foundation_sqlite://", 1)
