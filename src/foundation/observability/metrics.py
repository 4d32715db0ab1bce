"""Prometheus metrics: HTTP RED metrics, scaffold outcomes, rate limiting and the SC-001 histogram.

Process-local metrics use prometheus_client and work under several workers in its multiprocess mode
(``PROMETHEUS_MULTIPROC_DIR``, set by ``foundation serve --workers N``), except the three tenant-labelled
counters, which live in :mod:`foundation.observability.tenant_series` (compact per-process files, folded to
the busiest tenants at scrape time).

``sc_001_scaffolding_minutes`` is rendered at scrape time from the database (one row per tenant kept by
triggers, plus the N most recent registrations across all tenants), so every worker and instance agrees on
it and its size depends on the number of tenants, never on the number of registrations.
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
from prometheus_client.utils import floatToGoString

from foundation.observability.buckets import HTTP_BUCKETS, LOOP_LAG_BUCKETS, SC001_BUCKETS
from foundation.observability.tenant_series import STORE, TenantCounter

ALL_FEATURES = "__all__"

# Tenant-labelled: above FOUNDATION_METRICS_MAX_TENANTS tenants, the busiest keep their series and the rest
# are summed into tenant="__other__" at scrape time (tenant_series.py).
http_requests = TenantCounter(
    "http_server_requests_total",
    "HTTP requests served, by route template and tenant (the less busy tenants folded into __other__).",
    ("method", "route", "status_code", "tenant"),
)
scaffold_registrations = TenantCounter(
    "foundation_scaffold_registrations_total",
    "Scaffold registration attempts by outcome (created, replayed, conflict, rejected).",
    ("tenant", "outcome"),
)
rate_limited = TenantCounter(
    "foundation_rate_limited_total",
    "Requests rejected with 429, by tenant and endpoint class.",
    ("tenant", "endpoint"),
)
TENANT_FAMILIES = (http_requests, scaffold_registrations, rate_limited)
# No tenant label on histograms (observability.md): 15 bucket series per tenant would dominate the exposition.
http_duration = Histogram(
    "http_server_request_duration_seconds",
    "HTTP request duration, by route template.",
    ["method", "route", "status_code"],
    buckets=HTTP_BUCKETS,
)
scrape_errors = Counter(
    "foundation_metrics_scrape_errors_total",
    "Parts of a /metrics answer that failed and were left out (sc_001: the database read; tenant_series;"
    " registry: the prometheus_client metrics); the rest of the answer is still served.",
    ["part"],
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
sqlite_checkpoint_failures = Counter(
    "foundation_sqlite_checkpoint_failures_total",
    "Background WAL checkpoints of the embedded SQLite database that failed (the next one retries).",
)
spans_dropped = Counter(
    "foundation_otel_spans_dropped_total",
    "Spans dropped before export (queue full or exporter failure).",
    ["reason"],
)


# Children by label values: labels() validates and locks on every call. Per (method, route, status): the
# duration histogram's child and, per tenant, the request counter's slot (a small int per tenant).
_request_children: dict[tuple[str, str, int], tuple[Histogram, dict[str, int]]] = {}


def observe_request(method: str, route: str, status_code: int, tenant: str, seconds: float) -> None:
    entry = _request_children.get((method, route, status_code))
    if entry is None:
        entry = (http_duration.labels(method, route, str(status_code)), {})
        _request_children[(method, route, status_code)] = entry
    slot = entry[1].get(tenant)
    if slot is None:
        slot = entry[1][tenant] = http_requests.slot((method, route, str(status_code), tenant))
    STORE.add(slot)
    entry[0].observe(seconds)


@dataclass(frozen=True)
class Sc001Distribution:
    """One histogram series: cumulative bucket counts aligned with :data:`SC001_BUCKETS`."""

    tenant_slug: str
    feature_slug: str
    bucket_counts: Sequence[int]
    count: int
    total_minutes: float


SC001_HELP = (
    "SC-001: minutes from scaffold to green pipeline, per tenant (feature_slug=__all__; the less busy tenants"
    " folded into __other__) and for the most recent features across all tenants."
)
_BUCKET_LABELS = [repr(float(bound)) for bound in SC001_BUCKETS]


def escape_label(value: str) -> str:
    """A label value as the text format wants it (backslash, newline and double quote escaped)."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


_escape = escape_label


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


def render_counters(folded: dict[str, dict[tuple[str, ...], float]]) -> bytes:
    """Prometheus text for the tenant-labelled counters (already folded), series in label order."""
    lines: list[str] = []
    for family in TENANT_FAMILIES:
        lines += [f"# HELP {family.name} {family.documentation}", f"# TYPE {family.name} counter"]
        for values, value in sorted(folded.get(family.name, {}).items()):
            labels = ",".join(
                f'{label}="{_escape(v)}"' for label, v in zip(family.labelnames, values, strict=True)
            )
            lines.append(f"{family.name}{{{labels}}} {floatToGoString(value)}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def cumulative_buckets(values: Iterable[float]) -> list[int]:
    ordered = sorted(values)
    counts, index = [], 0
    for bound in SC001_BUCKETS:
        while index < len(ordered) and ordered[index] <= bound:
            index += 1
        counts.append(index)
    return counts


def render_registry() -> bytes:
    """The prometheus_client metrics: this process's, or every worker's merged in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry(auto_describe=False)
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        ProcessCollector(registry=registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


CONTENT_TYPE = CONTENT_TYPE_LATEST
