"""Thresholds and the ok / warning / critical verdict of a smoke run (pure functions).

Rules (documented in docs/perf-smoke.md):

* throughput = total requests / real elapsed seconds of the load phase;
* expected throughput = VUs x R / (think + R x mean latency), R = requests per iteration (4): each virtual
  user runs R requests back to back, then pauses the think time. This is the brief's "VUs / (think + latency)"
  expressed per request rather than per iteration;
* default critical = 50 % of expected, default warning = 80 % of expected. An overridden critical moves the
  warning default to critical x 1.25 unless the warning is overridden too; an overridden warning below the
  default critical pulls the critical down to it;
* p95 > 600 ms or p99 > 1000 ms is critical; above 80 % of those limits (480 ms / 800 ms) is a warning;
* error rate >= 1 % (ci) / 5 % (local) is critical; at or above half the limit (and errors > 0) is a warning;
* zero requests is critical, decided by throughput.

``decidedBy`` is the criterion that set the final status: when several share the worst status the first of
``error_rate, p95, p99, throughput`` wins (errors invalidate the other figures; slow responses usually
explain low throughput). It is ``all`` when every criterion is ok.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

OK = "ok"
WARNING = "warning"
CRITICAL = "critical"
SEVERITY = {OK: 0, WARNING: 1, CRITICAL: 2}

REQUESTS_PER_ITERATION = 4
P95_LIMIT_MS = 600.0
P99_LIMIT_MS = 1000.0
LATENCY_WARNING_FRACTION = 0.8
CRITICAL_FRACTION_OF_EXPECTED = 0.5
WARNING_FRACTION_OF_EXPECTED = 0.8
WARNING_FOLLOWS_CRITICAL = 1.25
ERROR_RATE_LIMITS = {"ci": 0.01, "local": 0.05}
DECISION_ORDER = ("error_rate", "p95", "p99", "throughput")
MODES = ("local", "ci")


@dataclass(frozen=True)
class Thresholds:
    critical: float
    warning: float
    error_rate: float
    p95_ms: float = P95_LIMIT_MS
    p99_ms: float = P99_LIMIT_MS
    expected: float | None = None

    def to_json(self) -> dict[str, float]:
        return {
            "critical": round(self.critical, 3),
            "warning": round(self.warning, 3),
            "p95Ms": self.p95_ms,
            "p99Ms": self.p99_ms,
            "errorRate": self.error_rate,
        }


@dataclass(frozen=True)
class Criterion:
    name: str
    value: float
    status: str
    critical_limit: float
    warning_limit: float
    comparison: str  # "min": value must stay above the limits; "max": value must stay below them

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "status": self.status,
            "criticalLimit": self.critical_limit,
            "warningLimit": self.warning_limit,
            "comparison": self.comparison,
        }


@dataclass(frozen=True)
class Verdict:
    status: str
    decided_by: str
    criteria: list[Criterion] = field(default_factory=list)


def error_rate_limit(mode: str) -> float:
    if mode not in ERROR_RATE_LIMITS:
        raise ValueError(f"unknown mode {mode!r} (expected one of: {', '.join(MODES)})")
    return ERROR_RATE_LIMITS[mode]


def expected_throughput(
    vus: int, think_seconds: float, mean_latency_ms: float, per_iteration: int = REQUESTS_PER_ITERATION
) -> float | None:
    """Requests per second a healthy system should sustain; ``None`` when unbounded (no think, no latency)."""
    cycle = think_seconds + per_iteration * max(mean_latency_ms, 0.0) / 1000.0
    if cycle <= 0:
        return None
    return vus * per_iteration / cycle


def resolve_thresholds(
    mode: str,
    vus: int,
    think_seconds: float,
    mean_latency_ms: float,
    critical_override: float | None = None,
    warning_override: float | None = None,
) -> Thresholds:
    for label, value in (("critical", critical_override), ("warning", warning_override)):
        if value is not None and value < 0:
            raise ValueError(f"throughput {label} threshold must be >= 0 (got {value})")
    if (
        critical_override is not None
        and warning_override is not None
        and warning_override < critical_override
    ):
        raise ValueError(
            f"throughput warning threshold ({warning_override}) must be >= critical ({critical_override})"
        )
    expected = expected_throughput(vus, think_seconds, mean_latency_ms)
    base = expected if expected is not None else 0.0
    if critical_override is not None:
        critical = critical_override
        warning = warning_override if warning_override is not None else critical * WARNING_FOLLOWS_CRITICAL
    else:
        critical = base * CRITICAL_FRACTION_OF_EXPECTED
        warning = warning_override if warning_override is not None else base * WARNING_FRACTION_OF_EXPECTED
        critical = min(critical, warning)
    return Thresholds(
        critical=critical, warning=warning, error_rate=error_rate_limit(mode), expected=expected
    )


def _min_status(value: float, critical: float, warning: float) -> str:
    if value < critical:
        return CRITICAL
    if value < warning:
        return WARNING
    return OK


def _max_status(value: float, critical: float, warning: float, *, inclusive: bool = False) -> str:
    if (value >= critical) if inclusive else (value > critical):
        return CRITICAL
    if (value >= warning) if inclusive else (value > warning):
        return WARNING
    return OK


def evaluate(
    *,
    total_requests: int,
    elapsed_seconds: float,
    p95_ms: float,
    p99_ms: float,
    error_rate: float,
    thresholds: Thresholds,
) -> Verdict:
    throughput = total_requests / elapsed_seconds if elapsed_seconds > 0 else 0.0
    t = thresholds
    throughput_status = CRITICAL if total_requests == 0 else _min_status(throughput, t.critical, t.warning)
    p95_warn = t.p95_ms * LATENCY_WARNING_FRACTION
    p99_warn = t.p99_ms * LATENCY_WARNING_FRACTION
    err_warn = t.error_rate / 2
    err_status = OK if error_rate <= 0 else _max_status(error_rate, t.error_rate, err_warn, inclusive=True)
    criteria = [
        Criterion("throughput", throughput, throughput_status, t.critical, t.warning, "min"),
        Criterion("p95", p95_ms, _max_status(p95_ms, t.p95_ms, p95_warn), t.p95_ms, p95_warn, "max"),
        Criterion("p99", p99_ms, _max_status(p99_ms, t.p99_ms, p99_warn), t.p99_ms, p99_warn, "max"),
        Criterion("error_rate", error_rate, err_status, t.error_rate, err_warn, "max"),
    ]
    if total_requests == 0:
        return Verdict(CRITICAL, "throughput", criteria)
    worst = max((c.status for c in criteria), key=SEVERITY.__getitem__)
    if worst == OK:
        return Verdict(OK, "all", criteria)
    by_name = {c.name: c for c in criteria}
    decided = next(name for name in DECISION_ORDER if by_name[name].status == worst)
    return Verdict(worst, decided, criteria)


def exit_code(status: str, mode: str, fail_on: str | None) -> int:
    """ci exits 1 on critical; local exits 0 unless ``fail_on`` (warning|critical) is reached."""
    if fail_on is not None and SEVERITY[status] >= SEVERITY[fail_on]:
        return 1
    if mode == "ci" and status == CRITICAL:
        return 1
    return 0
