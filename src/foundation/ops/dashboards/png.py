"""Dashboard panels rendered to PNG with matplotlib from Prometheus range queries (for reports).

Each PNG carries text chunks ``Title`` (the panel's title) and ``Series`` (how many series were drawn, 0 for
"no data"), so a report or a test can tell an empty panel from a drawn one without looking at pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from foundation.ops.dashboards.panels import DASHBOARDS, PANELS, Dashboard, Panel, format_legend
from foundation.ops.dashboards.prom import Prometheus, PrometheusError, range_series

_UNIT_LABEL = {"reqps": "req/s", "percent": "%", "s": "seconds", "m": "minutes", "short": ""}


def render_panel_png(prom: Prometheus, panel: Panel, path: Path, start: float, end: float) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.6), dpi=100)
    drawn = 0
    error = ""
    for target in panel.targets:
        try:
            series = range_series(prom.query_range(target.expr, start, end))
        except PrometheusError as exc:
            error = str(exc)
            continue
        for item in series:
            if not item.points:
                continue
            xs = [mdates.date2num(datetime.fromtimestamp(ts, tz=UTC)) for ts, _ in item.points]
            ys = [value for _, value in item.points]
            marker = "o" if len(item.points) < 3 else None
            ax.plot(xs, ys, label=format_legend(target.legend, item.labels), marker=marker, linewidth=1.8)
            drawn += 1
    ax.set_title(panel.title, fontsize=11)
    ax.set_ylabel(_UNIT_LABEL.get(panel.unit, panel.unit))
    ax.set_xlim(
        mdates.date2num(datetime.fromtimestamp(start, tz=UTC)),
        mdates.date2num(datetime.fromtimestamp(end, tz=UTC)),
    )
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))
    ax.grid(True, alpha=0.3)
    if drawn:
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8, loc="upper left")
    else:
        ax.text(0.5, 0.5, error or "no data", ha="center", va="center", transform=ax.transAxes, color="gray")
    fig.autofmt_xdate()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Title": panel.title, "Series": str(drawn)})
    plt.close(fig)
    return path


def render_panels_png(
    prometheus_url: str,
    out_dir: Path,
    start: float,
    end: float,
    panels: Sequence[Panel] = PANELS,
) -> list[Path]:
    """One ``panel-<id>-<slug>.png`` per panel in ``out_dir``; returns the written paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with Prometheus(prometheus_url) as prom:
        return [
            render_panel_png(prom, panel, out_dir / f"panel-{panel.id}-{panel.slug}.png", start, end)
            for panel in panels
        ]


def dashboard_dir(out_dir: Path, dashboard: Dashboard) -> Path:
    """Where a dashboard's PNGs go: ``out_dir`` itself for the first (observability) dashboard, as before,
    ``out_dir/<slug>`` for the others."""
    return out_dir if dashboard is DASHBOARDS[0] else out_dir / dashboard.slug


def render_dashboard_png(
    prometheus_url: str, dashboard: Dashboard, out_dir: Path, start: float, end: float
) -> list[Path]:
    return render_panels_png(prometheus_url, dashboard_dir(out_dir, dashboard), start, end, dashboard.panels)


def drawn_series(path: Path) -> int:
    """The ``Series`` count written into a panel PNG by :func:`render_panel_png` (-1 when absent)."""
    from PIL import Image

    with Image.open(path) as image:
        text = getattr(image, "text", {})
        return int(text.get("Series", -1))
