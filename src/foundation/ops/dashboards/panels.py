"""The dashboard, defined once: every renderer (Grafana JSON, live page, PNG) reads these panels.

Queries are written to be robust on a fresh stack:
- the 5xx ratio answers 0 (not "no data") when there are no errors, and even when there is no traffic yet;
- SC-001 mean per feature uses ``_sum / _count`` without ``rate()``, so one registration is enough to see it;
- totals (by method, 5xx share) count requests with the duration histogram's ``_count``, which has no tenant
  label: the tenant counter folds the less busy tenants into ``__other__`` (observability.md, "Bounded"),
  and a tenant moving out of ``__other__`` lowers it — a counter reset for ``rate()``, a spike in any sum
  over tenants. Only the per-tenant panel reads ``http_server_requests_total``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DASHBOARD_TITLE = "IABank Foundation — Observabilidade Local"
DASHBOARD_UID = "iabank-foundation-local"
DATASOURCE_UID = "iabank-prometheus"
DATASOURCE_NAME = "Prometheus (IABank Foundation)"

HTTP_TOTAL = "http_server_requests_total"  # tenant-labelled, folded: per-tenant views only
HTTP_COUNT = "http_server_request_duration_seconds_count"  # every request, no tenant label
HTTP_DURATION_BUCKET = "http_server_request_duration_seconds_bucket"

FIVE_XX_PERCENT = (
    f'100 * (sum(rate({HTTP_COUNT}{{status_code=~"5.."}}[5m])) or vector(0))'
    f" / (sum(rate({HTTP_COUNT}[5m])) > 0 or vector(1))"
)
HTTP_BY_METHOD = f"sum by (method) (rate({HTTP_COUNT}[5m]))"
HTTP_P95 = f"histogram_quantile(0.95, sum by (le) (rate({HTTP_DURATION_BUCKET}[5m])))"
SC001_MEAN_BY_FEATURE = (
    'sum by (feature_slug) (sc_001_scaffolding_minutes_sum{feature_slug!="__all__"})'
    ' / sum by (feature_slug) (sc_001_scaffolding_minutes_count{feature_slug!="__all__"})'
)
# SC-001 p95 lead time per tenant over 7 days; the same expression as the recording rule
# foundation:sc_001_lead_time_minutes:p95_7d (tests/infra check both agree), written out here so the panel
# shows the first registration at once instead of after the rule's next evaluation.
SC001_LEAD_TIME_P95_7D = (
    "histogram_quantile(0.95, sum by (tenant_slug, le) ("
    '(sc_001_scaffolding_minutes_bucket{feature_slug="__all__"}'
    ' - sc_001_scaffolding_minutes_bucket{feature_slug="__all__"} offset 7d)'
    ' or sc_001_scaffolding_minutes_bucket{feature_slug="__all__"}))'
)
# The target from the rules file, 60 (api.md §3) where the rules are not loaded.
SC001_TARGET = "max(foundation:sc_001_lead_time_target_minutes) or vector(60)"
TENANT_RATE = f"sum by (tenant) (rate({HTTP_TOTAL}[5m]))"
RATE_LIMITED = "sum by (tenant, endpoint) (rate(foundation_rate_limited_total[5m])) or vector(0)"
PERF_THROUGHPUT = "max by (mode, tenant, scenario) (foundation_api_throughput)"
LOOP_LAG_P99 = (
    "histogram_quantile(0.99, sum by (le, instance) (rate(foundation_event_loop_lag_seconds_bucket[5m])))"
)


@dataclass(frozen=True)
class Target:
    expr: str
    legend: str
    ref_id: str = "A"


@dataclass(frozen=True)
class Panel:
    id: int
    slug: str
    title: str
    unit: str  # Grafana unit id: reqps, percent, s, m, short
    targets: tuple[Target, ...]
    description: str = ""
    kind: str = "timeseries"
    width: int = 12
    height: int = 8
    tags: tuple[str, ...] = field(default_factory=tuple)


PANELS: tuple[Panel, ...] = (
    Panel(
        id=1,
        slug="http-requests-by-method",
        title="HTTP requests by method (req/s)",
        unit="reqps",
        targets=(Target(HTTP_BY_METHOD, "{{method}}"),),
        description="Request rate over 5 minutes, per HTTP method.",
    ),
    Panel(
        id=2,
        slug="http-5xx-percent",
        title="5xx errors (%)",
        unit="percent",
        targets=(Target(FIVE_XX_PERCENT, "5xx %"),),
        description="Share of responses with a 5xx status; 0 when there are none (never 'No data').",
    ),
    Panel(
        id=3,
        slug="http-latency-p95",
        title="HTTP latency p95 (s)",
        unit="s",
        targets=(Target(HTTP_P95, "p95"),),
        description="95th percentile of the server request duration, all routes.",
    ),
    Panel(
        id=4,
        slug="sc-001-mean-minutes",
        title="SC-001 — mean scaffolding duration (min) per feature",
        unit="m",
        targets=(Target(SC001_MEAN_BY_FEATURE, "{{feature_slug}}"),),
        description="Histogram sum / count, no rate(): visible right after the first registration.",
    ),
    Panel(
        id=5,
        slug="http-requests-by-tenant",
        title="HTTP requests by tenant (req/s)",
        unit="reqps",
        targets=(Target(TENANT_RATE, "{{tenant}}"),),
        description="The busiest tenants (FOUNDATION_METRICS_MAX_TENANTS, 100 by default); the others are"
        " summed as __other__.",
    ),
    Panel(
        id=6,
        slug="rate-limited-requests",
        title="Rate-limited requests (req/s)",
        unit="reqps",
        targets=(Target(RATE_LIMITED, "{{tenant}} {{endpoint}}"),),
        description="429 answers per tenant and endpoint class; 0 when nothing was limited.",
    ),
    Panel(
        id=7,
        slug="perf-smoke-throughput",
        title="Perf smoke throughput (req/s)",
        unit="reqps",
        targets=(Target(PERF_THROUGHPUT, "{{mode}} {{scenario}}"),),
        description="foundation_api_throughput published by `perf smoke` over OTLP, via the collector.",
    ),
    Panel(
        id=8,
        slug="event-loop-lag-p99",
        title="Event-loop lag p99 (s)",
        unit="s",
        targets=(Target(LOOP_LAG_P99, "{{instance}}"),),
        description="How late the API workers' event loops run (p99 over 5 minutes, per instance): a few ms"
        " when they keep up, tens of ms when saturated; FoundationEventLoopSaturated fires above 100 ms.",
    ),
    Panel(
        id=9,
        slug="sc-001-lead-time-p95",
        title="SC-001 — lead time p95 vs target",
        unit="m",
        targets=(
            Target(SC001_LEAD_TIME_P95_7D, "{{tenant_slug}} p95 (7 d)"),
            Target(SC001_TARGET, "target", ref_id="B"),
        ),
        description="p95 of the minutes from scaffold to publish over the last 7 days, per tenant, against "
        "the SC-001 target (60 min unless foundation:sc_001_lead_time_target_minutes says otherwise); "
        "FoundationSc001LeadTimeAboveTarget fires above it.",
    ),
)

CORE_PANEL_IDS = (1, 2, 3, 4)

# "IABank Foundation — Success criteria": one panel per criterion of the scorecard, each tenant's value
# against its target (foundation_sc_* families of /metrics, docs/success-criteria.md). Workers and instances
# report the same database-derived snapshot, so series are combined with max. The busiest tenants are shown
# (FOUNDATION_METRICS_MAX_TENANTS); the last panel counts every tenant per criterion and status.
SC_DASHBOARD_TITLE = "IABank Foundation — Success criteria"
SC_DASHBOARD_UID = "iabank-foundation-success-criteria"
_SC = (
    ("SC-001", "lead time p95 (min), target: at most", "m"),
    ("SC-002", "visual coverage of critical components (%), target: at least", "percent"),
    ("SC-003", "verified contracts before deploy (%), target: at least", "percent"),
    ("SC-004", "WCAG 2.2 AA conformance (%), target: at least", "percent"),
    ("SC-005", "PII/CSP incidents this quarter, target: at most", "short"),
)


def _sc_panel(index: int, code: str, title: str, unit: str) -> Panel:
    return Panel(
        id=101 + index,
        slug=f"{code.lower()}-against-target",
        title=f"{code} — {title}",
        unit=unit,
        targets=(
            Target(f'max by (tenant) (foundation_sc_value{{code="{code}"}})', "{{tenant}}"),
            Target(f'max by (tenant) (foundation_sc_target{{code="{code}"}})', "{{tenant}} target", "B"),
        ),
        description=f"Each tenant's {code} as GET …/sc/summary reports it (default window) and its target;"
        " a tenant without samples in the period has no value (status no_data).",
    )


SC_PANELS: tuple[Panel, ...] = (
    *(_sc_panel(i, code, title, unit) for i, (code, title, unit) in enumerate(_SC)),
    Panel(
        id=106,
        slug="sc-tenants-by-status",
        title="Tenants per criterion and status",
        unit="short",
        targets=(Target("max by (code, status) (foundation_sc_tenants)", "{{code}} {{status}}"),),
        description="Every tenant counted (none folded); FoundationSC00xMissed fires after 15 min missed.",
    ),
)


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    panels: tuple[Panel, ...]
    slug: str  # file names: dashboards/<slug>.json, grafana-dashboard-<slug>.json


OBSERVABILITY = Dashboard(DASHBOARD_UID, DASHBOARD_TITLE, PANELS, "iabank-foundation")
SUCCESS_CRITERIA = Dashboard(SC_DASHBOARD_UID, SC_DASHBOARD_TITLE, SC_PANELS, "iabank-success-criteria")
DASHBOARDS = (OBSERVABILITY, SUCCESS_CRITERIA)


def format_legend(template: str, labels: dict[str, str]) -> str:
    """Grafana-style ``{{label}}`` legend; falls back to the label set, or the template itself."""
    out = template
    for key, value in labels.items():
        out = out.replace("{{" + key + "}}", value)
    if "{{" in out:
        out = out.split("{{")[0].strip() or ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "value"
    return out or "value"
