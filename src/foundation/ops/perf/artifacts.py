"""Evidence of a run: its own folder, the k6-style summary, the throughput document, the Markdown summary,
the legacy well-known copies and the index of runs."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from foundation.ops.perf.stats import RunStats, endpoint_json, r3
from foundation.ops.perf.verdict import Thresholds, Verdict

K6_FILE = "k6-smoke.json"
THROUGHPUT_FILE = "foundation-api-throughput.json"
SUMMARY_FILE = "summary.md"
CHART_FILE = "latency.png"
INDEX_FILE = "index.json"
METRIC_NAME = "foundation_api_throughput"


def run_id_for(started: datetime, mode: str, vus: int) -> str:
    return f"{started.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}-{mode}-{vus}vu"


def create_run_dir(output_dir: Path, run_id: str) -> Path:
    """Create ``output_dir/run_id`` atomically; add ``-2``, ``-3``... when it already exists."""
    output_dir.mkdir(parents=True, exist_ok=True)
    candidate, n = run_id, 1
    while True:
        path = output_dir / candidate
        try:
            path.mkdir()
            return path
        except FileExistsError:
            n += 1
            candidate = f"{run_id}-{n}"


def write_json(path: Path, document: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def copy_atomic(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)


def k6_summary(stats: RunStats, *, think_seconds: float, max_vus: int) -> dict[str, Any]:
    o = stats.overall
    elapsed = stats.elapsed_seconds
    checks_total = stats.checks_passed + stats.checks_failed
    duration = {
        "avg": r3(o.avg),
        "min": r3(o.min),
        "med": r3(o.med),
        "max": r3(o.max),
        "p(90)": r3(o.p90),
        "p(95)": r3(o.p95),
        "p(99)": r3(o.p99),
    }
    return {
        "metrics": {
            "http_reqs": {"count": o.count, "rate": r3(stats.throughput)},
            "http_req_duration": duration,
            "http_req_failed": {
                "rate": r3(o.error_rate) if o.count else 0.0,
                "passes": o.failed,
                "fails": o.count - o.failed,
            },
            "iterations": {
                "count": stats.iterations,
                "rate": r3(stats.iterations / elapsed) if elapsed > 0 else 0.0,
            },
            "vus": {"value": stats.vus, "min": min(stats.vus, max_vus), "max": max_vus},
            "vus_max": {"value": max_vus, "min": max_vus, "max": max_vus},
            "checks": {
                "passes": stats.checks_passed,
                "fails": stats.checks_failed,
                "rate": r3(stats.checks_passed / checks_total) if checks_total else 0.0,
            },
        },
        "state": {"testRunDurationMs": r3(elapsed * 1000), "isStdOutTTY": False, "isStdErrTTY": False},
        "endpoints": {name: endpoint_json(dist, elapsed) for name, dist in stats.endpoints.items()},
        "root_group": {
            "name": "",
            "path": "",
            "checks": {
                "passes": stats.checks_passed,
                "fails": stats.checks_failed,
            },
            "thinkTimeSeconds": think_seconds,
        },
    }


def throughput_document(
    stats: RunStats,
    verdict: Verdict,
    thresholds: Thresholds,
    *,
    run_id: str,
    mode: str,
    base_url: str,
    tenant: str,
    think_seconds: float,
    started_at: datetime,
    warnings: list[str],
    otlp: dict[str, Any],
) -> dict[str, Any]:
    o = stats.overall
    return {
        "metric": METRIC_NAME,
        "throughput": r3(stats.throughput),
        "totalRequests": o.count,
        "durationSeconds": r3(stats.elapsed_seconds),
        "status": verdict.status,
        "thresholds": thresholds.to_json(),
        "p95Ms": r3(o.p95),
        "p99Ms": r3(o.p99),
        "errorRate": round(o.error_rate, 6),
        "vus": stats.vus,
        "mode": mode,
        "decidedBy": verdict.decided_by,
        "runId": run_id,
        "baseUrl": base_url,
        "tenant": tenant,
        "thinkTimeSeconds": think_seconds,
        "startedAt": started_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "expectedThroughput": None if thresholds.expected is None else r3(thresholds.expected),
        "warnings": list(warnings),
        "otlp": otlp,
    }


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if value else "0"
    return str(value)


def _section(title: str, body: list[str]) -> list[str]:
    """A Markdown section; one with nothing to say is left out."""
    return ["", f"## {title}", "", *body] if body else []


def summary_markdown(
    document: dict[str, Any],
    k6: dict[str, Any],
    verdict: Verdict,
    failures: list[tuple[str, int]],
    server_log: bool = False,
) -> str:
    d = document
    files = [K6_FILE, THROUGHPUT_FILE, CHART_FILE] + (
        ["server.log (the self-started server's log)"] if server_log else []
    )
    lines = [
        *_overview(d, k6["metrics"]["iterations"]["count"]),
        *_section("Figures", _figures(d, k6["metrics"])),
        *_section("Criteria", _criteria(verdict, d["thresholds"])),
        *_section("Endpoints", _endpoints(k6["endpoints"])),
        *_section("Most frequent failures", [f"- {n} x {message}" for message, n in failures]),
        *_section("OTLP publication", [_otlp(d["otlp"])]),
        *_section("Warnings", [f"- {w}" for w in d["warnings"]]),
        *_section("Files", [f"- `{name}`" for name in files]),
        "",
    ]
    return "\n".join(lines)


def _overview(d: dict[str, Any], iterations: int) -> list[str]:
    return [
        f"# Performance smoke {d['runId']}",
        "",
        f"**Verdict: {d['status'].upper()}** (decided by `{d['decidedBy']}`)",
        "",
        f"- Target: `{d['baseUrl']}` tenant `{d['tenant']}`; mode `{d['mode']}`, {d['vus']} VUs, "
        f"think time {_fmt(d['thinkTimeSeconds'])} s; started {d['startedAt']}",
        f"- Real elapsed time: {_fmt(d['durationSeconds'])} s; iterations: {iterations}",
    ]


def _figures(d: dict[str, Any], metrics: dict[str, Any]) -> list[str]:
    duration = {k: _fmt(v) for k, v in metrics["http_req_duration"].items()}
    return [
        "| figure | value |",
        "|---|---|",
        f"| requests | {d['totalRequests']} |",
        f"| throughput (req/s) | {_fmt(d['throughput'])} |",
        f"| expected throughput (req/s) | {_fmt(d['expectedThroughput'])} |",
        f"| error rate | {d['errorRate'] * 100:.2f} % |",
        f"| latency avg / med / max (ms) | {duration['avg']} / {duration['med']} / {duration['max']} |",
        f"| latency p90 / p95 / p99 (ms) | {duration['p(90)']} / {_fmt(d['p95Ms'])} / {_fmt(d['p99Ms'])} |",
        f"| checks passed / failed | {metrics['checks']['passes']} / {metrics['checks']['fails']} |",
    ]


def _criteria(verdict: Verdict, t: dict[str, Any]) -> list[str]:
    lines = ["| criterion | value | warning at | critical at | status |", "|---|---|---|---|---|"]
    for c in verdict.criteria:
        op = "<" if c.comparison == "min" else (">=" if c.name == "error_rate" else ">")
        warn, crit = _fmt(r3(c.warning_limit)), _fmt(r3(c.critical_limit))
        lines.append(f"| {c.name} | {_fmt(r3(c.value))} | {op} {warn} | {op} {crit} | {c.status} |")
    lines += [
        "",
        f"Thresholds: throughput critical {_fmt(t['critical'])} req/s, warning {_fmt(t['warning'])} req/s; "
        f"p95 {_fmt(t['p95Ms'])} ms; p99 {_fmt(t['p99Ms'])} ms; error rate {t['errorRate'] * 100:g} %.",
    ]
    return lines


def _endpoints(endpoints: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "| endpoint | requests | req/s | avg ms | p95 ms | p99 ms | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, e in endpoints.items():
        figures = " | ".join(_fmt(e[key]) for key in ("rate", "avg", "p95", "p99"))
        lines.append(f"| {name} | {e['count']} | {figures} | {e['errors']} |")
    return lines


def _otlp(otlp: dict[str, Any]) -> str:
    if not otlp.get("endpoint"):
        return "- no OTLP endpoint configured"
    state = "published" if otlp.get("published") else f"NOT published: {otlp.get('error')}"
    return f"- `{otlp['endpoint']}`: {state}"


def legacy_paths(output_dir: Path) -> tuple[Path, Path]:
    """``<output-dir>/k6-smoke.json`` and ``<output-dir>/../foundation-api-throughput.json``."""
    return output_dir / K6_FILE, output_dir.parent / THROUGHPUT_FILE


def refresh_legacy(output_dir: Path, run_dir: Path) -> tuple[Path, Path]:
    k6_target, throughput_target = legacy_paths(output_dir)
    copy_atomic(run_dir / K6_FILE, k6_target)
    copy_atomic(run_dir / THROUGHPUT_FILE, throughput_target)
    return k6_target, throughput_target


def load_run(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / THROUGHPUT_FILE).read_text(encoding="utf-8"))


def list_runs(output_dir: Path) -> list[dict[str, Any]]:
    """Every run folder under ``output_dir`` (those holding a throughput document), oldest first."""
    runs: list[dict[str, Any]] = []
    if not output_dir.is_dir():
        return runs
    for child in output_dir.iterdir():
        if not child.is_dir() or not (child / THROUGHPUT_FILE).is_file():
            continue
        try:
            doc = load_run(child)
        except (OSError, ValueError):
            continue
        runs.append(
            {
                "runId": doc.get("runId", child.name),
                "path": child.name,
                "startedAt": doc.get("startedAt"),
                "mode": doc.get("mode"),
                "vus": doc.get("vus"),
                "durationSeconds": doc.get("durationSeconds"),
                "totalRequests": doc.get("totalRequests"),
                "throughput": doc.get("throughput"),
                "p95Ms": doc.get("p95Ms"),
                "p99Ms": doc.get("p99Ms"),
                "errorRate": doc.get("errorRate"),
                "status": doc.get("status"),
                "decidedBy": doc.get("decidedBy"),
            }
        )
    runs.sort(key=lambda r: (str(r.get("startedAt") or ""), r["path"]))
    return runs


def write_index(output_dir: Path) -> Path:
    runs = list_runs(output_dir)
    path = output_dir / INDEX_FILE
    write_json(
        path,
        {
            "updatedAt": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "latest": runs[-1]["path"] if runs else None,
            "runs": runs,
        },
    )
    return path
