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

A snapshot is reused for ``FOUNDATION_METRICS_SCORECARD_SECONDS`` (60 s): the criteria are measured over
days, and the grouped statement reads every sample of the window, so it is not paid on every scrape.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

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
    postgres = connection.dialect.name == "postgresql"
    window = parse_window(None, now)
    dates = {"window_start": window.start, "quarter_start": window.quarter_start, "window_end": window.end}
    slugs = [row[0] for row in await connection.execute(text(TENANTS_SQL))]
    statistics = await connection.execute(_dated(POSTGRES_STATISTICS if postgres else STATISTICS_SQL), dates)
    found: dict[tuple[str, str], Aggregate] = {}
    board = Board(computed_at=time.time())
    for slug, code, count, mean, total, latest, p95 in statistics:
        value = pick_value(BY_CODE[code], mean=mean, total=total, latest=latest, p95=p95)
        found[(slug, code)] = Aggregate(value, int(count), None)
        board.activity[slug] = board.activity.get(slug, 0) + int(count)
    own = await connection.execute(text(POSTGRES_TARGETS if postgres else TARGETS_SQL))
    targets: dict[str, dict[str, float]] = {}
    for slug, code, value in own:
        targets.setdefault(slug, {})[code] = float(value)
    await connection.rollback()  # read only
    defaults = default_targets(settings)
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
    """The latest :class:`Board`, recomputed at most every ``max_age`` seconds over ``engine``."""

    def __init__(
        self,
        engine: AsyncEngine,
        settings: Settings,
        *,
        max_age: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.max_age = max_age
        self.clock = clock
        self._board: Board | None = None
        self._expires = 0.0

    async def read(self, timeout: float) -> Board:
        if self._board is not None and self.clock() < self._expires:
            return self._board
        board = await asyncio.wait_for(self._compute(), timeout=timeout)
        self._board, self._expires = board, self.clock() + self.max_age
        return board

    async def _compute(self) -> Board:
        async with self.engine.connect() as connection:
            return await read_board(connection, self.settings, request_time())
