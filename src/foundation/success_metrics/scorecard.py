"""The success-criteria scorecard of a tenant: each criterion's aggregate over a window against its target.

Definitions (docs/success-criteria.md, api.md §3):

* the window is ``[to - duration, to]`` (both ends inclusive) where ``to`` is the time of the request;
  SC-005 always uses the calendar quarter (UTC) that contains ``to``: ``[quarter start, to]``;
* SC-001: p95 of the lead-time minutes, **nearest rank** (the ``ceil(0.95 · n)``-th smallest sample: always
  an observed value, no interpolation); SC-002 and SC-003: the latest sample (greatest ``collectedAt``; among
  samples collected at the same instant, the one stored last); SC-004: arithmetic mean; SC-005: sum;
* ``value`` is rounded to 6 decimal places and compared with the target as rounded; no sample in the period
  gives ``value: null`` and ``status: no_data``; otherwise ``met`` when ``value <op> target`` holds.

Targets: the deployment's defaults (``FOUNDATION_SC_TARGET_*``) unless the tenant stored its own.
"""

from __future__ import annotations

import calendar
import math
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from foundation.db import Database, utcnow
from foundation.errors import FieldError, InvalidInput
from foundation.http.json_encoding import rfc3339, weak_etag
from foundation.settings import Settings
from foundation.success_metrics.models import ScSample, ScTarget
from foundation.tenancy.service import TenantRef

DEFAULT_WINDOW = "P30D"
VALUE_DECIMALS = 6


@dataclass(frozen=True)
class Criterion:
    code: str
    title: str
    aggregate: str  # p95 | latest | mean | sum
    op: str  # "<=" | ">="
    unit: str
    setting: str  # Settings attribute holding the deployment default
    minimum: float  # bounds of a target value (inclusive unless strict_minimum)
    maximum: float
    strict_minimum: bool = False


CRITERIA: tuple[Criterion, ...] = (
    Criterion(
        "SC-001",
        "Create and publish a feature: lead time (p95)",
        "p95",
        "<=",
        "min",
        "sc_target_sc001_minutes",
        0,
        1_000_000,
        strict_minimum=True,
    ),
    Criterion(
        "SC-002",
        "Documented visual coverage of critical components",
        "latest",
        ">=",
        "%",
        "sc_target_sc002_percent",
        0,
        100,
    ),
    Criterion(
        "SC-003",
        "Catalogued frontend-backend flows with verified contracts before deploy",
        "latest",
        ">=",
        "%",
        "sc_target_sc003_percent",
        0,
        100,
    ),
    Criterion(
        "SC-004",
        "WCAG 2.2 AA conformance of UI states in active tenants",
        "mean",
        ">=",
        "%",
        "sc_target_sc004_percent",
        0,
        100,
    ),
    Criterion(
        "SC-005",
        "PII leaks in URLs/telemetry and CSP violations per quarter",
        "sum",
        "<=",
        "incidents",
        "sc_target_sc005_incidents",
        0,
        1_000_000,
    ),
)
BY_CODE: Mapping[str, Criterion] = {criterion.code: criterion for criterion in CRITERIA}


def target_problem(code: str, value: float) -> str | None:
    """Why ``value`` cannot be ``code``'s target, or None when it can."""
    criterion = BY_CODE[code]
    if not math.isfinite(value):
        return "must be a finite number"
    too_low = value <= criterion.minimum if criterion.strict_minimum else value < criterion.minimum
    if too_low or value > criterion.maximum:
        lower = "greater than" if criterion.strict_minimum else "at least"
        return (
            f"{code} target must be {lower} {criterion.minimum:g} and at most {criterion.maximum:g} "
            f"({criterion.unit})"
        )
    return None


# --- the window ------------------------------------------------------------------------------------------


class InvalidWindow(ValueError):
    """The ``window`` query is not one of the accepted ISO 8601 durations (one day to one year)."""


# One unit, no leading zeros: P1D..P365D, P1W..P52W, P1M..P12M, P1Y. Served in the OpenAPI document as the
# parameter's pattern, so the document describes exactly what is accepted.
WINDOW_PATTERN = (
    r"^P(?:([1-9]|[1-9][0-9]|[12][0-9]{2}|3[0-5][0-9]|36[0-5])D"
    r"|([1-9]|[1-4][0-9]|5[0-2])W|([1-9]|1[0-2])M|(1)Y)$"
)
_WINDOW = re.compile(WINDOW_PATTERN)
WINDOW_DESCRIPTION = (
    "ISO 8601 duration of one unit ending now: P1D..P365D, P1W..P52W, P1M..P12M (calendar months) or P1Y; "
    "default P30D. SC-005 always uses the calendar quarter (UTC) containing the window's end."
)


@dataclass(frozen=True)
class Window:
    duration: str  # as given (normalised to upper case)
    start: datetime
    end: datetime
    quarter_start: datetime


def _minus_months(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + (moment.month - 1) - months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def quarter_start(moment: datetime) -> datetime:
    return datetime(moment.year, 3 * ((moment.month - 1) // 3) + 1, 1, tzinfo=UTC)


def parse_window(text: str | None, end: datetime) -> Window:
    """``[end - duration, end]``: days and weeks are 24 h each, months and the year are calendar months
    counted back from ``end``, the day clamped to the month's length (31 March - P1M = 28/29 February)."""
    raw = DEFAULT_WINDOW if text is None else text
    match = _WINDOW.fullmatch(raw)
    if not match:
        raise InvalidWindow(
            f"{text!r} is not a window: one ISO 8601 duration unit between P1D and P1Y "
            "(P1D..P365D, P1W..P52W, P1M..P12M or P1Y)"
        )
    days, weeks, months, years = (int(group or 0) for group in match.groups())
    months += 12 * years
    days += 7 * weeks
    start = _minus_months(end, months) if months else end - timedelta(days=days)
    return Window(raw, start, end, quarter_start(end))


def request_time() -> datetime:
    """Now, at the millisecond precision the API reports."""
    now = utcnow()
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


# --- aggregation -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Aggregate:
    value: float | None
    samples: int
    last_collected_at: datetime | None


def nearest_rank_p95(sorted_values: Sequence[float]) -> float:
    """The ceil(0.95·n)-th smallest value (1-based), n ≥ 1."""
    return sorted_values[math.ceil(0.95 * len(sorted_values)) - 1]


async def _aggregate(
    connection: AsyncConnection, tenant_id: uuid.UUID, criterion: Criterion, start: datetime, end: datetime
) -> Aggregate:
    where = (
        ScSample.tenant_id == tenant_id,
        ScSample.code == criterion.code,
        ScSample.collected_at >= start,
        ScSample.collected_at <= end,
    )
    count, average, total, last = (
        await connection.execute(
            select(
                func.count(),
                func.avg(ScSample.value),
                func.sum(ScSample.value),
                func.max(ScSample.collected_at),
            ).where(*where)
        )
    ).one()
    if not count:
        return Aggregate(None, 0, None)
    if criterion.aggregate == "mean":
        value = float(average)
    elif criterion.aggregate == "sum":
        value = float(total)
    elif criterion.aggregate == "latest":
        value = (
            await connection.execute(
                select(ScSample.value)
                .where(*where)
                .order_by(ScSample.collected_at.desc(), ScSample.created_at.desc(), ScSample.id.desc())
                .limit(1)
            )
        ).scalar_one()
    else:  # p95, nearest rank: one indexed row at offset rank - 1 in ascending order
        value = (
            await connection.execute(
                select(ScSample.value)
                .where(*where)
                .order_by(ScSample.value)
                .offset(math.ceil(0.95 * count) - 1)
                .limit(1)
            )
        ).scalar_one()
    return Aggregate(round(float(value), VALUE_DECIMALS), int(count), last)


def pick_value(
    criterion: Criterion, *, mean: float | None, total: float | None, latest: float | None, p95: float | None
) -> float | None:
    """The criterion's aggregate among the statistics of its samples, rounded as the scorecard reports it."""
    chosen = {"mean": mean, "sum": total, "latest": latest, "p95": p95}[criterion.aggregate]
    return None if chosen is None else round(float(chosen), VALUE_DECIMALS)


def criterion_status(criterion: Criterion, aggregate: Aggregate, target: float) -> str:
    """``no_data``, ``met`` or ``missed``: the one rule, for the API's scorecard and for ``/metrics``."""
    return _status(criterion, aggregate, target)


def _status(criterion: Criterion, aggregate: Aggregate, target: float) -> str:
    if aggregate.value is None:
        return "no_data"
    met = aggregate.value <= target if criterion.op == "<=" else aggregate.value >= target
    return "met" if met else "missed"


def _criterion_document(criterion: Criterion, aggregate: Aggregate, target: float) -> dict[str, Any]:
    return {
        "code": criterion.code,
        "title": criterion.title,
        "target": {
            "aggregate": criterion.aggregate,
            "op": criterion.op,
            "value": target,
            "unit": criterion.unit,
        },
        "value": aggregate.value,
        "samples": aggregate.samples,
        "status": _status(criterion, aggregate, target),
        "lastCollectedAt": rfc3339(aggregate.last_collected_at) if aggregate.last_collected_at else None,
    }


def default_targets(settings: Settings) -> dict[str, float]:
    return {criterion.code: float(getattr(settings, criterion.setting)) for criterion in CRITERIA}


async def _targets(connection: AsyncConnection, tenant_id: uuid.UUID, settings: Settings) -> dict[str, float]:
    targets = default_targets(settings)
    rows = await connection.execute(
        select(ScTarget.code, ScTarget.value).where(ScTarget.tenant_id == tenant_id)
    )
    targets.update({code: float(value) for code, value in rows})
    return targets


@dataclass(frozen=True)
class Scorecard:
    body: dict[str, Any]
    etag: str


async def scorecard(db: Database, settings: Settings, tenant: TenantRef, window: Window) -> Scorecard:
    async with db.read(tenant.id) as connection:
        targets = await _targets(connection, tenant.id, settings)
        criteria = []
        for criterion in CRITERIA:
            start = window.quarter_start if criterion.code == "SC-005" else window.start
            aggregate = await _aggregate(connection, tenant.id, criterion, start, window.end)
            criteria.append(_criterion_document(criterion, aggregate, targets[criterion.code]))
    body: dict[str, Any] = {
        "tenantId": str(tenant.id),
        "window": {"from": rfc3339(window.start), "to": rfc3339(window.end)},
        "quarter": {"from": rfc3339(window.quarter_start), "to": rfc3339(window.end)},
        "criteria": criteria,
    }
    # Weak validator: the window slides with the clock, so its ends are left out. Two answers with the same
    # ETag differ at most in window.to / window.from / quarter.to (same window length, quarter, criteria).
    etag = weak_etag(
        {
            "tenantId": body["tenantId"],
            "window": window.duration,
            "quarter": body["quarter"]["from"],
            "criteria": criteria,
        }
    )
    return Scorecard(body, etag)


async def set_targets(db: Database, tenant: TenantRef, targets: Mapping[str, float | None]) -> None:
    """Store the tenant's own targets; ``None`` drops the tenant's target (the deployment default applies)."""
    now = utcnow()
    async with db.write(tenant.id) as connection:
        dropped = [code for code, value in targets.items() if value is None]
        if dropped:
            await connection.execute(
                delete(ScTarget).where(ScTarget.tenant_id == tenant.id, ScTarget.code.in_(dropped))
            )
        rows = [
            {"tenant_id": tenant.id, "code": code, "value": float(value), "updated_at": now}
            for code, value in targets.items()
            if value is not None
        ]
        if rows:
            insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
            statement = insert(ScTarget)
            statement = statement.on_conflict_do_update(
                index_elements=["tenant_id", "code"],
                set_={"value": statement.excluded.value, "updated_at": statement.excluded.updated_at},
            )
            await connection.execute(statement, rows)


class ScorecardService:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    async def summary(self, tenant: TenantRef, window: str | None) -> Scorecard:
        try:
            parsed = parse_window(window, request_time())
        except InvalidWindow as exc:
            raise InvalidInput("Invalid scorecard window.", errors=[FieldError("window", str(exc))]) from None
        return await scorecard(self.db, self.settings, tenant, parsed)

    async def set_targets(self, tenant: TenantRef, targets: Mapping[str, float | None]) -> Scorecard:
        """Store the tenant's targets and answer its scorecard over the default window."""
        await set_targets(self.db, tenant, targets)
        return await self.summary(tenant, None)
