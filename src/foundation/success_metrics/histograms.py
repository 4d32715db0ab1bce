"""What ``/metrics`` reads from the database for ``sc_001_scaffolding_minutes``: two statements per scrape.

1. every tenant's SC-001 distribution of registrations from ``sc001_histograms``, which database triggers
   keep up to date (migration 0006) — no sample is counted at scrape time — folded in the database: above
   ``max_tenants`` tenants, those with the most registrations keep their row and the others are summed as
   ``__other__`` (at most ``max_tenants + 1`` rows out; building 10,000 rows in Python took ~100 ms);
2. the N most recent registrations across all tenants (``ix_sc_samples_registered_recent``), the per-feature
   series.

On PostgreSQL both are ``SECURITY DEFINER`` functions: the application role sees one tenant per transaction
under row-level security, and these aggregates are the only cross-tenant reads it is allowed.

The scrape never borrows a connection from the request pool: :class:`Sc001Reader` opens its own connection
per read (no pool at all) and closes it at once, bounded by a timeout.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from foundation.observability.metrics import Sc001Distribution, cumulative_buckets
from foundation.observability.tenant_series import OTHER_TENANT
from foundation.sqlite_inline import inline_url
from foundation.success_metrics.models import SC001_BUCKET_COLUMNS


def band(column: str, low: int = 0, high: int = 41) -> str:
    """SQL for the bit length of ``column`` (as ``int.bit_length()``, 0 … 41) by binary search: six
    comparisons a row on either backend, where a sum of 41 comparisons cost SQLite ~20 ms per 10,000 rows."""
    if low == high:
        return str(low)
    middle = (low + high + 1) // 2
    return (
        f"CASE WHEN {column} >= {1 << (middle - 1)} THEN {band(column, middle, high)} "
        f"ELSE {band(column, low, middle - 1)} END"
    )


# The busiest tenants by band, then slug (code-point order, as tenant_series.kept_tenants), keep their row;
# the others are summed into one "__other__" row (NULL sums when nobody is folded). Assembled from constants
# (column names, bucket bounds); the only value, max_tenants, is a bound parameter.
_COLUMNS = ", ".join(f"h.{c}" for c in SC001_BUCKET_COLUMNS)
_SUMS = ", ".join(f"sum(h.{c})" for c in SC001_BUCKET_COLUMNS)
SQLITE_TENANTS = text(
    " ".join(
        [
            "WITH kept AS (SELECT h.tenant_id AS id_",
            "FROM sc001_histograms h JOIN tenants t ON t.id = h.tenant_id",
            f"WHERE h.observations > 0 ORDER BY {band('h.observations')} DESC, t.slug LIMIT :max_tenants)",
            f"SELECT t.slug, h.observations, h.total_minutes, {_COLUMNS}",
            "FROM sc001_histograms h JOIN tenants t ON t.id = h.tenant_id",
            "WHERE h.tenant_id IN (SELECT id_ FROM kept)",
            f"UNION ALL SELECT '{OTHER_TENANT}', sum(h.observations), sum(h.total_minutes), {_SUMS}",
            "FROM sc001_histograms h WHERE h.observations > 0 AND h.tenant_id NOT IN (SELECT id_ FROM kept)",
        ]
    )
)
SQLITE_RECENT = text(
    "SELECT t.slug, s.feature_slug, s.value FROM sc_samples s JOIN tenants t ON t.id = s.tenant_id "
    "WHERE s.code = 'SC-001' AND s.scaffold_id IS NOT NULL "
    "ORDER BY s.collected_at DESC, s.created_at DESC LIMIT :limit"
)
POSTGRES_TENANTS = text("SELECT * FROM foundation_sc001_histograms(:max_tenants)")
POSTGRES_RECENT = text("SELECT * FROM foundation_sc001_recent(:limit)")


def own_connection_engine(database_url: str, timeout_seconds: float, *, inline: bool) -> AsyncEngine:
    """An engine that opens a connection per use and closes it after (``NullPool``): never the request pool.

    ``timeout_seconds`` bounds lock waits (SQLite) and each statement (PostgreSQL). SQLite with ``inline``:
    calls run on the event loop thread (sqlite_inline.py; for statements of milliseconds); without, in
    aiosqlite's thread, so a long read leaves the loop free (SQLite releases the GIL while it steps)."""
    if inline and database_url.startswith("sqlite+aiosqlite://"):
        database_url = inline_url(database_url)
    connect_args: dict[str, Any] = {"timeout": timeout_seconds}
    if database_url.startswith("postgresql+asyncpg"):
        connect_args["command_timeout"] = timeout_seconds
    return create_async_engine(database_url, poolclass=NullPool, connect_args=connect_args)


@dataclass(frozen=True)
class Sc001Snapshot:
    tenants: list[Sc001Distribution]  # feature_slug "__all__": the kept tenants and "__other__"
    recent: list[Sc001Distribution]  # one observation each, most recent first


class Sc001Reader:
    """Reads :class:`Sc001Snapshot` over a connection of its own (``NullPool``: nothing stays open)."""

    def __init__(
        self, database_url: str, *, max_tenants: int, recent_features: int, timeout_seconds: float
    ) -> None:
        self.max_tenants = max_tenants
        self.recent_features = recent_features
        self.timeout_seconds = timeout_seconds
        self.is_sqlite = database_url.startswith("sqlite")
        self.engine = own_connection_engine(database_url, timeout_seconds, inline=True)

    async def read(self) -> Sc001Snapshot:
        return await asyncio.wait_for(self._read(), timeout=self.timeout_seconds)

    async def _read(self) -> Sc001Snapshot:
        async with self.engine.connect() as connection:
            return await read_snapshot(
                connection, self.max_tenants, self.recent_features, postgres=not self.is_sqlite
            )

    async def dispose(self) -> None:
        await self.engine.dispose()


async def read_snapshot(
    connection: AsyncConnection, max_tenants: int, recent_features: int, *, postgres: bool
) -> Sc001Snapshot:
    tenants_statement, recent_statement = (
        (POSTGRES_TENANTS, POSTGRES_RECENT) if postgres else (SQLITE_TENANTS, SQLITE_RECENT)
    )
    tenants = [
        Sc001Distribution(row[0], "__all__", [int(count) for count in row[3:]], int(row[1]), float(row[2]))
        for row in await connection.execute(tenants_statement, {"max_tenants": max_tenants})
        if row[1] is not None  # the "__other__" row when nobody is folded
    ]
    tenants.sort(key=lambda t: (t.tenant_slug == OTHER_TENANT, t.tenant_slug))
    recent: list[Sc001Distribution] = []
    if recent_features > 0:
        recent = [
            Sc001Distribution(slug, feature, cumulative_buckets([value]), 1, float(value))
            for slug, feature, value in await connection.execute(recent_statement, {"limit": recent_features})
        ]
    await connection.rollback()  # read only; nothing to keep
    return Sc001Snapshot(tenants, recent)
