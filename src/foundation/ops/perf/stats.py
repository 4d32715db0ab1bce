"""Raw request samples recorded during a run and the figures derived from them (no locust import)."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

ENDPOINTS = ("theme", "tenant_metrics", "stories", "scaffold")


@dataclass(frozen=True)
class Sample:
    at: float  # seconds since the start of the load phase
    name: str
    ms: float
    failed: bool


@dataclass
class Recorder:
    """Collects every request (fed by locust's request event) plus check and iteration counters."""

    started_at: float = 0.0
    samples: list[Sample] = field(default_factory=list)
    checks_passed: int = 0
    checks_failed: int = 0
    iterations: int = 0
    failure_messages: Counter[str] = field(default_factory=Counter)

    def record(self, name: str, ms: float, failed: bool, now: float, message: str | None = None) -> None:
        self.samples.append(Sample(now - self.started_at, name, float(ms), failed))
        if failed and message:
            self.failure_messages[f"{name}: {message}"[:300]] += 1

    def count_checks(self, passed: int, failed: int) -> None:
        self.checks_passed += passed
        self.checks_failed += failed

    @property
    def total(self) -> int:
        return len(self.samples)

    @property
    def failed(self) -> int:
        return sum(1 for s in self.samples if s.failed)


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); 0.0 for no data."""
    if not sorted_values:
        return 0.0
    if len(sorted_values) == 1:
        return sorted_values[0]
    rank = (len(sorted_values) - 1) * q
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return sorted_values[low]
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (rank - low)


@dataclass(frozen=True)
class Distribution:
    count: int
    failed: int
    avg: float
    min: float
    med: float
    max: float
    p90: float
    p95: float
    p99: float

    @classmethod
    def of(cls, samples: list[Sample]) -> Distribution:
        values = sorted(s.ms for s in samples)
        failed = sum(1 for s in samples if s.failed)
        if not values:
            return cls(0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        return cls(
            count=len(values),
            failed=failed,
            avg=sum(values) / len(values),
            min=values[0],
            med=percentile(values, 0.5),
            max=values[-1],
            p90=percentile(values, 0.9),
            p95=percentile(values, 0.95),
            p99=percentile(values, 0.99),
        )

    @property
    def error_rate(self) -> float:
        return self.failed / self.count if self.count else 0.0


@dataclass(frozen=True)
class TimelinePoint:
    second: int
    count: int
    p50: float
    p95: float
    p99: float


@dataclass(frozen=True)
class RunStats:
    elapsed_seconds: float
    overall: Distribution
    endpoints: dict[str, Distribution]
    timeline: list[TimelinePoint]
    iterations: int
    checks_passed: int
    checks_failed: int
    vus: int
    top_failures: list[tuple[str, int]]

    @property
    def throughput(self) -> float:
        return self.overall.count / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0


def summarize(recorder: Recorder, elapsed_seconds: float, vus: int) -> RunStats:
    samples = recorder.samples
    names = list(ENDPOINTS) + sorted({s.name for s in samples} - set(ENDPOINTS))
    endpoints = {name: Distribution.of([s for s in samples if s.name == name]) for name in names}
    buckets: dict[int, list[Sample]] = {}
    for sample in samples:
        buckets.setdefault(int(sample.at), []).append(sample)
    timeline = []
    for second in sorted(buckets):
        dist = Distribution.of(buckets[second])
        timeline.append(TimelinePoint(second, dist.count, dist.med, dist.p95, dist.p99))
    return RunStats(
        elapsed_seconds=elapsed_seconds,
        overall=Distribution.of(samples),
        endpoints=endpoints,
        timeline=timeline,
        iterations=recorder.iterations,
        checks_passed=recorder.checks_passed,
        checks_failed=recorder.checks_failed,
        vus=vus,
        top_failures=recorder.failure_messages.most_common(10),
    )


def r3(value: float) -> float:
    return round(value, 3)


def endpoint_json(dist: Distribution, elapsed_seconds: float) -> dict[str, Any]:
    return {
        "count": dist.count,
        "rate": r3(dist.count / elapsed_seconds) if elapsed_seconds > 0 else 0.0,
        "avg": r3(dist.avg),
        "med": r3(dist.med),
        "p95": r3(dist.p95),
        "p99": r3(dist.p99),
        "max": r3(dist.max),
        "errors": dist.failed,
    }
