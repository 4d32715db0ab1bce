"""latency.png: percentiles over time (1 s buckets) and per-endpoint percentile bars (matplotlib Agg)."""

from __future__ import annotations

from pathlib import Path

from foundation.ops.perf.stats import RunStats


def render_latency_chart(stats: RunStats, path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 8), constrained_layout=True)
    fig.suptitle(title)
    if stats.timeline:
        seconds = [p.second for p in stats.timeline]
        top.plot(seconds, [p.p50 for p in stats.timeline], label="p50", color="#2b8a3e")
        top.plot(seconds, [p.p95 for p in stats.timeline], label="p95", color="#e67700")
        top.plot(seconds, [p.p99 for p in stats.timeline], label="p99", color="#c92a2a")
        peak = max(p.p99 for p in stats.timeline)
        # The limit lines only when they are in sight: otherwise they squash millisecond latencies flat.
        if peak > 0.3 * 600:
            top.axhline(600, linestyle="--", linewidth=0.8, color="#e67700", label="p95 limit (600 ms)")
        if peak > 0.3 * 1000:
            top.axhline(1000, linestyle=":", linewidth=0.8, color="#c92a2a", label="p99 limit (1000 ms)")
        top.legend(loc="upper left", fontsize="small")
        rate_axis = top.twinx()
        rate_axis.bar(seconds, [p.count for p in stats.timeline], alpha=0.15, color="#1c7ed6", width=0.9)
        rate_axis.set_ylabel("requests / s (bars)")
        top.set_zorder(rate_axis.get_zorder() + 1)
        top.patch.set_visible(False)
    else:
        top.text(0.5, 0.5, "no requests", ha="center", va="center", transform=top.transAxes)
    top.set_xlabel("seconds since start")
    top.set_ylabel("latency (ms)")
    top.set_title("Latency percentiles over time")

    names = [name for name, dist in stats.endpoints.items() if dist.count]
    if names:
        width = 0.25
        positions = list(range(len(names)))
        for offset, (label, attr, color) in enumerate(
            (("p50", "med", "#2b8a3e"), ("p95", "p95", "#e67700"), ("p99", "p99", "#c92a2a"))
        ):
            values = [getattr(stats.endpoints[n], attr) for n in names]
            bottom.bar([x + (offset - 1) * width for x in positions], values, width, label=label, color=color)
        bottom.set_xticks(positions)
        bottom.set_xticklabels(
            [f"{n}\n{stats.endpoints[n].count} req, {stats.endpoints[n].failed} err" for n in names]
        )
        bottom.legend(fontsize="small")
    else:
        bottom.text(0.5, 0.5, "no requests", ha="center", va="center", transform=bottom.transAxes)
    bottom.set_ylabel("latency (ms)")
    bottom.set_title("Latency per endpoint")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
