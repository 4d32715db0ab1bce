"""Each tenant's success-criteria scorecard in the `foundation validate` report: a table and a chart.

Which tenants: the API has no tenant list, so the tenants come from the stack's Prometheus, which names every
tenant that keeps its own ``foundation_sc_status`` series (at most ``FOUNDATION_METRICS_MAX_TENANTS``, the
busiest; the others are folded into ``__other__``). The report shows the first ``limit`` of them by slug
(``--scorecard-tenants``, 20 by default), each one's scorecard read from the API under test
(``GET /api/v1/tenant-metrics/{slug}/sc/summary``, default window ``P30D``), and how many tenants are in each
status per criterion over **every** tenant (``foundation_sc_tenants``, as of Prometheus' last scrape; the API
recomputes that snapshot every ``FOUNDATION_METRICS_SCORECARD_SECONDS``). The answers are kept as evidence
in ``scorecards.json``; the chart is ``scorecards.png``.
"""

from __future__ import annotations

import contextlib
import html
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from foundation.ops.dashboards.prom import Prometheus, PrometheusError, instant_values
from foundation.ops.procs import WaitTimeout, wait_until
from foundation.ops.stack.report import embedded_png, write_json

DEFAULT_LIMIT = 20
CODES = ("SC-001", "SC-002", "SC-003", "SC-004", "SC-005")
STATUSES = ("met", "missed", "no_data")
TENANTS_QUERY = 'max by (tenant) (foundation_sc_status{tenant!="__other__"})'
COUNTS_QUERY = "max by (code, status) (foundation_sc_tenants)"
_COLORS = {"met": "#2e9e44", "missed": "#d23b3b", "no_data": "#9a9a9a"}


@dataclass
class TenantCard:
    """One tenant's ``GET …/sc/summary`` answer (``criteria`` in code order), or why there is none."""

    slug: str
    status: int
    criteria: list[dict[str, Any]] = field(default_factory=list)
    window: dict[str, Any] = field(default_factory=dict)
    error: str = ""


@dataclass
class Scorecards:
    tenants: list[TenantCard]
    named: int  # tenants Prometheus names (their own series), of which the first `limit` are shown
    limit: int
    counts: dict[str, dict[str, int]]  # code -> status -> tenants (every tenant)
    evidence: Path | None = None
    chart: Path | None = None
    error: str = ""


def _named_tenants(prom: Prometheus, timeout: float) -> list[str]:
    """Slugs with their own scorecard series, waiting up to ``timeout`` for the first scrape to carry any."""

    def named() -> list[str]:
        return sorted({labels["tenant"] for labels, _ in instant_values(prom.query(TENANTS_QUERY))})

    with contextlib.suppress(WaitTimeout):
        found: list[str] = wait_until(named, timeout, 1.0, what="scorecard series", ignore=(PrometheusError,))
        return found
    return named()


def _counts(prom: Prometheus) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for labels, value in instant_values(prom.query(COUNTS_QUERY)):
        counts.setdefault(labels.get("code", "?"), {})[labels.get("status", "?")] = int(value)
    return counts


def fetch_card(api: httpx.Client, slug: str) -> TenantCard:
    path = f"/api/v1/tenant-metrics/{slug}/sc/summary"
    try:
        response = api.get(path, headers={"X-Tenant-Id": slug})
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        return TenantCard(slug, 0, error=f"{path}: {exc}")
    if response.status_code != 200 or not isinstance(body, dict):
        detail = body.get("detail") or body.get("title") if isinstance(body, dict) else body
        return TenantCard(slug, response.status_code, error=f"{path}: HTTP {response.status_code} {detail}")
    return TenantCard(slug, 200, list(body.get("criteria") or []), dict(body.get("window") or {}))


def collect(
    api_url: str,
    prometheus_url: str,
    run_dir: Path,
    *,
    token: str | None = None,
    limit: int = DEFAULT_LIMIT,
    timeout: float = 45.0,
) -> Scorecards:
    """The scorecards of the first ``limit`` tenants by slug, the status counts, evidence and chart."""
    try:
        with Prometheus(prometheus_url) as prom:
            slugs = _named_tenants(prom, timeout)
            counts = _counts(prom)
    except PrometheusError as exc:
        result = Scorecards([], 0, limit, {}, error=f"Prometheus: {exc}")
    else:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        with httpx.Client(base_url=api_url.rstrip("/"), timeout=15.0, headers=headers) as api:
            cards = [fetch_card(api, slug) for slug in slugs[:limit]]
        result = Scorecards(cards, len(slugs), limit, counts)
    result.evidence = run_dir / "scorecards.json"
    write_json(result.evidence, {**asdict(result), "evidence": None, "chart": None})
    if result.tenants:
        result.chart = render_chart(result, run_dir / "scorecards.png")
    return result


def criterion(card: TenantCard, code: str) -> dict[str, Any] | None:
    return next((item for item in card.criteria if item.get("code") == code), None)


def _bar(ax: Any, row: int, item: dict[str, Any] | None) -> None:
    if item is None:
        ax.text(0, row, " error", va="center", fontsize=8, color=_COLORS["missed"])
        return
    status = str(item.get("status"))
    target = (item.get("target") or {}).get("value")
    if item.get("value") is None:
        ax.text(0, row, " no data", va="center", fontsize=8, color=_COLORS["no_data"])
    else:
        ax.barh(row, float(item["value"]), color=_COLORS.get(status, "#5794f2"), height=0.6)
    if target is not None:
        ax.plot([float(target)] * 2, [row - 0.4, row + 0.4], color="black", linewidth=1.5)


def render_chart(result: Scorecards, path: Path) -> Path:
    """One horizontal bar per tenant and criterion (green met, red missed, "no data"), its target a black
    tick; one subplot per criterion since their units differ (minutes, %, incidents)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cards = result.tenants
    height = 1.6 + 0.32 * len(cards)
    fig, axes = plt.subplots(1, len(CODES), figsize=(15, height), dpi=100, sharey=True)
    for ax, code in zip(axes, CODES, strict=True):
        units = {str((criterion(c, code) or {}).get("target", {}).get("unit", "")) for c in cards}
        ax.set_title(f"{code} ({', '.join(sorted(u for u in units if u)) or '-'})", fontsize=10)
        for row, card in enumerate(cards):
            _bar(ax, row, criterion(card, code))
        ax.set_xlim(left=0)
        ax.grid(True, axis="x", alpha=0.3)
        ax.tick_params(axis="x", labelsize=8)
    axes[0].set_yticks(range(len(cards)), [c.slug for c in cards], fontsize=8)
    axes[0].invert_yaxis()
    fig.suptitle("Success criteria per tenant: value (bar) against target (black tick)", fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def _number(value: Any) -> str:
    return "–" if value is None else f"{float(value):.6g}"


def cell(item: dict[str, Any] | None) -> str:
    """``7.5 min (≤ 60) met``, ``– (≥ 95) no_data``: the value, the target with its comparison, the status."""
    if item is None:
        return "–"
    target = item.get("target") or {}
    op = {"<=": "≤", ">=": "≥"}.get(str(target.get("op")), str(target.get("op")))
    unit = f" {target.get('unit')}" if target.get("unit") else ""
    value = "–" if item.get("value") is None else f"{_number(item['value'])}{unit}"
    return f"{value} ({op} {_number(target.get('value'))}) {item.get('status')}"


def scope_line(result: Scorecards) -> str:
    window = next((c.window for c in result.tenants if c.window), {})
    span = f" Window {window.get('from')} – {window.get('to')} (SC-005: the quarter)." if window else ""
    return (
        f"The first {len(result.tenants)} tenant(s) by slug of the {result.named} with their own scorecard "
        f"series in Prometheus (at most {result.limit} shown, `--scorecard-tenants`), each read from "
        f"`GET /api/v1/tenant-metrics/{{slug}}/sc/summary` of the API under test.{span}"
    )


def table_rows(result: Scorecards) -> list[list[str]]:
    """Header row, then one row per tenant: slug, then one cell per criterion (or the error)."""
    rows = [["tenant", *CODES]]
    for card in result.tenants:
        if card.error:
            rows.append([card.slug, card.error, *[""] * (len(CODES) - 1)])
        else:
            rows.append([card.slug, *(cell(criterion(card, code)) for code in CODES)])
    return rows


def count_rows(result: Scorecards) -> list[list[str]]:
    """Header row, then per criterion how many tenants are met / missed / no_data (every tenant)."""
    rows = [["criterion", *STATUSES]]
    for code in CODES:
        rows.append([code, *(str(result.counts.get(code, {}).get(status, 0)) for status in STATUSES)])
    return rows


def _md_table(rows: list[list[str]]) -> list[str]:
    def line(row: list[str]) -> str:
        return "| " + " | ".join(text.replace("|", "\\|").replace("\n", " ") for text in row) + " |"

    return [line(rows[0]), "|" + "---|" * len(rows[0]), *(line(row) for row in rows[1:])]


def markdown_section(result: Scorecards, run_dir: Path) -> str:
    lines = ["## Success criteria per tenant", ""]
    if result.error:
        lines += [f"Not available: {result.error}.", ""]
    lines += [scope_line(result), ""]
    if result.tenants:
        lines += [*_md_table(table_rows(result)), ""]
    lines += ["Tenants per criterion and status, over every tenant (`foundation_sc_tenants`):", ""]
    lines += [*_md_table(count_rows(result)), ""]
    if result.chart:
        lines += [f"![success criteria per tenant]({result.chart.relative_to(run_dir)})", ""]
    if result.evidence:
        lines += [f"Evidence: [{result.evidence.name}]({result.evidence.relative_to(run_dir)}).", ""]
    return "\n".join(lines)


def _html_table(rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(text)}</th>" for text in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(text)}</td>" for text in row) + "</tr>" for row in rows[1:]
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def html_section(result: Scorecards, run_dir: Path) -> str:
    parts = ["<h2>Success criteria per tenant</h2>"]
    if result.error:
        parts.append(f"<p>Not available: {html.escape(result.error)}.</p>")
    parts.append(f"<p>{html.escape(scope_line(result))}</p>")
    if result.tenants:
        parts.append(_html_table(table_rows(result)))
    parts.append("<p>Tenants per criterion and status, over every tenant (foundation_sc_tenants):</p>")
    parts.append(_html_table(count_rows(result)))
    if result.chart:
        parts.append(embedded_png(result.chart, "Success criteria per tenant"))
    if result.evidence:
        name = html.escape(str(result.evidence.relative_to(run_dir)))
        parts.append(f'<p>Evidence: <a href="{name}">{html.escape(result.evidence.name)}</a>.</p>')
    return "".join(parts)
