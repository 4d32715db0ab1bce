"""Prometheus metrics: HTTP RED metrics, scaffold outcomes, rate limiting and the SC-001 histogram.

Process-local metrics use prometheus_client and work under several workers in its multiprocess mode
(``PROMETHEUS_MULTIPROC_DIR``, set by ``foundation serve --workers N``).

``sc_001_scaffolding_minutes`` is rendered at scrape time from the database: the tenant-level series
(``feature_slug="__all__"``) carries the complete distribution, and per-feature series exist only for the
most recent N registrations of each tenant. The database is the one place every worker and instance
agrees on, and it keeps the exposition bounded however many features accumulate (the previous
implementation's per-feature histogram reached 4 MB per scrape).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
    multiprocess,
)

HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
LOOP_LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
SC001_BUCKETS = (1, 2, 3, 5, 8, 13, 21, 30, 45, 60, 90, 120, 240, 480, 720, 1440)
ALL_FEATURES = "__all__"

http_requests = Counter(
    "http_server_requests_total",
    "HTTP requests served, by route template.",
    ["method", "route", "status_code", "tenant"],
)
http_duration = Histogram(
    "http_server_request_duration_seconds",
    "HTTP request duration, by route template.",
    ["method", "route", "status_code", "tenant"],
    buckets=HTTP_BUCKETS,
)
scaffold_registrations = Counter(
    "foundation_scaffold_registrations_total",
    "Scaffold registration attempts by outcome (created, replayed, conflict, rejected).",
    ["tenant", "outcome"],
)
rate_limited = Counter(
    "foundation_rate_limited_total",
    "Requests rejected with 429, by tenant and endpoint class.",
    ["tenant", "endpoint"],
)
rate_limit_store_errors = Counter(
    "foundation_rate_limit_store_errors_total",
    "Rate-limit counter store failures (e.g. Redis unreachable), by the policy applied.",
    ["policy"],
)
response_cache = Counter(
    "foundation_response_cache_total",
    "Admitted cacheable reads by result: hit (answered from memory), refresh (the entry was due for refresh:"
    " recomputed by the route and kept), miss (no usable entry: answered by the route and kept).",
    ["route", "result"],
)
event_loop_lag = Histogram(
    "foundation_event_loop_lag_seconds",
    "How late the worker's event loop ran a timer set every 0.25 s: what a ready request waits before the"
    " worker gets to it.",
    buckets=LOOP_LAG_BUCKETS,
)
spans_dropped = Counter(
    "foundation_otel_spans_dropped_total",
    "Spans dropped before export (queue full or exporter failure).",
    ["reason"],
)


# Bound children by label values: labels() validates and locks on every call. The label set is already
# bounded (route templates, status codes, tenants), so this dict is too.
_request_children: dict[tuple[str, str, int, str], tuple[Counter, Histogram]] = {}


def observe_request(method: str, route: str, status_code: int, tenant: str, seconds: float) -> None:
    children = _request_children.get((method, route, status_code, tenant))
    if children is None:
        labels = (method, route, str(status_code), tenant)
        children = (http_requests.labels(*labels), http_duration.labels(*labels))
        _request_children[(method, route, status_code, tenant)] = children
    children[0].inc()
    children[1].observe(seconds)


@dataclass(frozen=True)
class Sc001Distribution:
    """One histogram series: cumulative bucket counts aligned with :data:`SC001_BUCKETS`."""

    tenant_slug: str
    feature_slug: str
    bucket_counts: Sequence[int]
    count: int
    total_minutes: float


SC001_HELP = (
    "SC-001: minutes from scaffold to green pipeline, per tenant (feature_slug=__all__) and for the "
    "most recent features of each tenant."
)
_BUCKET_LABELS = [repr(float(bound)) for bound in SC001_BUCKETS]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render_sc001(series: Iterable[Sc001Distribution]) -> bytes:
    """Prometheus text for the SC-001 histogram, written directly.

    prometheus_client's generic writer spent ~15 ms per scrape on these ~1,200 lines (label escaping and
    float formatting per line); the layout is the same as its histogram output.
    """
    name = "sc_001_scaffolding_minutes"
    lines = [f"# HELP {name} {SC001_HELP}", f"# TYPE {name} histogram"]
    for item in series:
        labels = f'tenant_slug="{_escape(item.tenant_slug)}",feature_slug="{_escape(item.feature_slug)}"'
        for le, count in zip(_BUCKET_LABELS, item.bucket_counts, strict=True):
            lines.append(f'{name}_bucket{{{labels},le="{le}"}} {float(count)!r}')
        lines.append(f'{name}_bucket{{{labels},le="+Inf"}} {float(item.count)!r}')
        lines.append(f"{name}_count{{{labels}}} {float(item.count)!r}")
        lines.append(f"{name}_sum{{{labels}}} {float(item.total_minutes)!r}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def cumulative_buckets(values: Iterable[float]) -> list[int]:
    ordered = sorted(values)
    counts, index = [], 0
    for bound in SC001_BUCKETS:
        while index < len(ordered) and ordered[index] <= bound:
            index += 1
        counts.append(index)
    return counts


def render_exposition(sc001: Iterable[Sc001Distribution]) -> tuple[bytes, str]:
    """The full /metrics payload: process-local (or multiprocess-merged) metrics plus SC-001."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        ProcessCollector(registry=registry)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    return body + render_sc001(sc001), CONTENT_TYPE_LATEST
