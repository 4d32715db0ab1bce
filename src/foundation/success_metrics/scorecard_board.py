"""Every tenant's scorecard at once, for ``/metrics``: three statements per refresh, none per tenant.

The API's scorecard (scorecard.py) reads one tenant per request. A scrape needs all of them, so here the
statistics of every tenant's samples in the default window (``P30D``; SC-005: the calendar quarter) come
from one grouped statement — count, mean, sum, the latest value and the nearest-rank p95 per tenant and
criterion — plus the tenants and the tenants' own targets. Which statistic a criterion uses, the rounding,
the default targets and the met/missed/no_data rule are scorecard.py's (``pick_value``,
``default_targets``, ``criterion_status``), not repeated here; tests compare ``/metrics`` with
``GET …/sc/summary`` tenant by tenant at the targets' boundaries.

On PostgreSQL the cross-tenant reads are ``SECURITY DEFINER`` functions of migration 0007 (row-level
security keeps the API's role to one tenant per transaction), whose body is this module's statement.

The grouped statement reads every sample of the window (seconds of database work at 10,000 tenants), so it
never runs on a scrape by default: scorecard_metrics.py computes a :class:`Board` in a background task of each
process every ``FOUNDATION_METRICS_SCORECARD_SECONDS`` (60 s) and a scrape serves the latest one, rendered.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import TextClause, bindparam, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from foundation.db import UTCDateTime
from foundation.settings import Settings
from foundation.success_metrics.scorecard import (
    BY_CODE,
    CRITERIA,
    Aggregate,
    criterion_status,
    default_targets,
    parse_window,
    pick_value,
    request_time,
)

STATUSES = ("met", "missed", "no_data")
# ceil(0.95 n) in integer arithmetic (SQLite has no ceil() without its math extension).
STATISTICS_SQL = """
WITH s AS (
  SELECT tenant_id, code, value, collected_at, created_at, id FROM sc_samples
  WHERE code IN ('SC-001', 'SC-002', 'SC-003', 'SC-004', 'SC-005') AND collected_at <= :window_end
    AND collected_at >= CASE WHEN code = 'SC-005' THEN :quarter_start ELSE :window_start END
), ranked AS (
  SELECT tenant_id, code, value,
    row_number() OVER (PARTITION BY tenant_id, code ORDER BY collected_at DESC, created_at DESC, id DESC)
      AS newest,
    row_number() OVER (PARTITION BY tenant_id, code ORDER BY value) AS by_value,
    count(*) OVER (PARTITION BY tenant_id, code) AS n
  FROM s
)
SELECT t.slug, r.code, count(*), avg(r.value), sum(r.value),
  max(CASE WHEN r.newest = 1 THEN r.value END),
  max(CASE WHEN r.by_value = (95 * r.n + 99) / 100 THEN r.value END)
FROM ranked r JOIN tenants t ON t.id = r.tenant_id
GROUP BY t.slug, r.code
"""
TARGETS_SQL = "SELECT t.slug, g.code, g.value FROM sc_targets g JOIN tenants t ON t.id = g.tenant_id"
TENANTS_SQL = "SELECT slug FROM tenants"
POSTGRES_STATISTICS = "SELECT * FROM foundation_sc_statistics(:window_start, :quarter_start, :window_end)"
POSTGRES_TARGETS = "SELECT * FROM foundation_sc_tenant_targets()"


@dataclass(frozen=True)
class CriterionState:
    code: str
    value: float | None
    target: float
    status: str


@dataclass
class Board:
    """Each tenant's criteria (code order) and how many samples it has in the window (its activity)."""

    tenants: dict[str, list[CriterionState]] = field(default_factory=dict)
    activity: dict[str, int] = field(default_factory=dict)
    computed_at: float = 0.0


def _dated(sql: str) -> TextClause:
    names = ("window_start", "quarter_start", "window_end")
    return text(sql).bindparams(*(bindparam(name, type_=UTCDateTime) for name in names))


async def read_board(connection: AsyncConnection, settings: Settings, now: datetime) -> Board:
    """The three statements, then the board assembled in a thread: at 10,000 tenants that is ~50,000 rows
    and ~0.4 s of Python, which would otherwise hold the event loop (and every request) for that long."""
    postgres = connection.dialect.name == "postgresql"
    window = parse_window(None, now)
    dates = {"window_start": window.start, "quarter_start": window.quarter_start, "window_end": window.end}
    slugs = [row[0] for row in await connection.execute(text(TENANTS_SQL))]
    computed_at = time.time()
    statement = _dated(POSTGRES_STATISTICS if postgres else STATISTICS_SQL)
    statistics = [tuple(row) for row in await connection.execute(statement, dates)]
    own = [
        tuple(row) for row in await connection.execute(text(POSTGRES_TARGETS if postgres else TARGETS_SQL))
    ]
    await connection.rollback()  # read only
    return await asyncio.to_thread(
        assemble_board, slugs, statistics, own, default_targets(settings), computed_at
    )


def assemble_board(
    slugs: list[str],
    statistics: list[tuple[Any, ...]],
    own_targets: list[tuple[Any, ...]],
    defaults: dict[str, float],
    computed_at: float,
) -> Board:
    """Each tenant's criteria from the statistics rows (slug, code, count, mean, sum, latest, p95) and the
    tenants' own targets (slug, code, value), by scorecard.py's rules."""
    found: dict[tuple[str, str], Aggregate] = {}
    board = Board(computed_at=computed_at)
    for slug, code, count, mean, total, latest, p95 in statistics:
        value = pick_value(BY_CODE[code], mean=mean, total=total, latest=latest, p95=p95)
        found[(slug, code)] = Aggregate(value, int(count), None)
        board.activity[slug] = board.activity.get(slug, 0) + int(count)
    targets: dict[str, dict[str, float]] = {}
    for slug, code, value in own_targets:
        targets.setdefault(slug, {})[code] = float(value)
    for slug in slugs:
        tenant_targets = {**defaults, **targets.get(slug, {})}
        states = []
        for criterion in CRITERIA:
            aggregate = found.get((slug, criterion.code), Aggregate(None, 0, None))
            target = tenant_targets[criterion.code]
            status = criterion_status(criterion, aggregate, target)
            states.append(CriterionState(criterion.code, aggregate.value, target, status))
        board.tenants[slug] = states
    return board


class ScorecardBoard:
    """Computes a :class:`Board` over ``engine``, a connection of its own each time (never the pool)."""

    def __init__(self, engine: AsyncEngine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings

    async def compute(self) -> Board:
        async with self.engine.connect() as connection:
            return await read_board(connection, self.settings, request_time())

    async def dispose(self) -> None:
        await self.engine.dispose()
