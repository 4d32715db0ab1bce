"""Which failures mean "the database is unavailable for now" (503 + ``Retry-After``), not a bug (500).

:func:`is_transient_unavailability` is the one place that decides it; the Problem mapping
(:func:`foundation.http.problems.unhandled_problem`) calls it for every endpoint, and errors raised inside a
registration batch (``scaffolds/batching.py``) reach it unchanged. It is pure: it only inspects the exception
and what it wraps (SQLAlchemy's ``orig``, ``__cause__``, ``__context__``), imports no driver and opens
nothing.

What a failover, crash or restart of PostgreSQL produces, and how it is recognised (each case is produced by
a real server in tests/postgres/test_db_failures.py):

============================================  ============================================================
what happens                                   what surfaces
============================================  ============================================================
nothing listens (server stopped, moved)        ``OSError`` (``ConnectionRefusedError``), ``TimeoutError``
backend terminated (``pg_terminate_backend``,  SQLSTATE ``57P01`` admin_shutdown, ``57P02`` crash_shutdown
fast or immediate shutdown)
connection lost mid-transaction                class ``08`` (asyncpg ``ConnectionDoesNotExistError``
                                               ``08003``), or SQLAlchemy's ``connection_invalidated``
starting up, crash recovery, shutting down,    ``57P03`` cannot_connect_now ("the database system is
standby that accepts no connections            starting up / not yet accepting connections")
demoted primary (now a read-only standby),     ``25006`` read_only_sql_transaction
``default_transaction_read_only``
too many connections, out of memory/disk       class ``53`` insufficient_resources
idle session closed by the server              ``57P05`` idle_session_timeout
pool exhausted for ``pool_timeout``            ``sqlalchemy.exc.TimeoutError``
SQLite busy/locked, I/O errors                 ``sqlalchemy.exc.OperationalError`` (the DB-API's class for
                                               errors outside the program's control)
============================================  ============================================================

Everything else — constraint violations, syntax or permission errors, a wrong password or database name
(configuration, not an outage) — is not transient and stays a 500 (or the domain's own answer).
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

# SQLSTATE classes and codes (PostgreSQL appendix A) that a failover or restart produces.
TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "53"})
TRANSIENT_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "57P05", "25006"})

# How far to follow wrapped exceptions (SQLAlchemy wraps the adapter's error, which wraps asyncpg's).
_MAX_DEPTH = 12


def is_transient_unavailability(exc: BaseException) -> bool:
    """True when ``exc`` (or an exception it wraps) says the database is unreachable, restarting,
    read-only or saturated: a retry later can succeed, so the answer is 503 with ``Retry-After``."""
    return any(_transient(candidate) for candidate in _chain(exc))


# Two transactions waited on each other's row locks (PostgreSQL aborted one), or a serializable transaction
# lost: the same work in smaller transactions succeeds. Not an outage.
LOCK_CONFLICT_SQLSTATES = frozenset({"40P01", "40001"})


def is_lock_conflict(exc: BaseException) -> bool:
    """True when ``exc`` (or an exception it wraps) is a deadlock or serialization failure."""
    return any(_sqlstate(candidate) in LOCK_CONFLICT_SQLSTATES for candidate in _chain(exc))


def _sqlstate(exc: BaseException) -> str | None:
    code = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    return code if isinstance(code, str) else None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending and len(seen) < _MAX_DEPTH:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for linked in (getattr(current, "orig", None), current.__cause__, current.__context__):
            if isinstance(linked, BaseException):
                pending.append(linked)


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, PoolTimeoutError | DisconnectionError | OperationalError | OSError):
        return True  # OSError covers ConnectionError and TimeoutError (asyncio's too, since 3.11)
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    sqlstate = _sqlstate(exc)
    if sqlstate is not None and len(sqlstate) == 5:
        return sqlstate[:2] in TRANSIENT_SQLSTATE_CLASSES or sqlstate in TRANSIENT_SQLSTATES
    # asyncpg's error for a connection it already knows is closed (no SQLSTATE); SQLAlchemy's asyncpg
    # dialect recognises disconnects by the same text.
    return type(exc).__name__ == "InterfaceError" and "connection is closed" in str(exc)
