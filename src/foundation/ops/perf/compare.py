"""Compare two runs figure by figure (A, B, delta, delta %)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from foundation.ops.perf.artifacts import K6_FILE, THROUGHPUT_FILE


class RunNotFound(LookupError):
    pass


@dataclass(frozen=True)
class Row:
    figure: str
    a: Any
    b: Any
    delta: float | None
    delta_pct: float | None


def resolve_run(reference: str, output_dir: Path) -> Path:
    """A run id under ``output_dir`` or a path to a run folder (or to a file inside it)."""
    candidates = [Path(reference), output_dir / reference]
    for candidate in candidates:
        folder = candidate.parent if candidate.is_file() else candidate
        if (folder / THROUGHPUT_FILE).is_file():
            return folder
    raise RunNotFound(
        f"no run {reference!r} (looked for {THROUGHPUT_FILE} in {' and '.join(map(str, candidates))})"
    )


def load_figures(run_dir: Path) -> dict[str, Any]:
    """Flatten the figures of a run into ordered ``name -> value``."""
    doc = json.loads((run_dir / THROUGHPUT_FILE).read_text(encoding="utf-8"))
    figures: dict[str, Any] = {"runId": doc.get("runId", run_dir.name)}
    for key in (
        "status",
        "decidedBy",
        "mode",
        "vus",
        "thinkTimeSeconds",
        "durationSeconds",
        "totalRequests",
        "throughput",
        "expectedThroughput",
        "p95Ms",
        "p99Ms",
        "errorRate",
    ):
        figures[key] = doc.get(key)
    for key, value in (doc.get("thresholds") or {}).items():
        figures[f"thresholds.{key}"] = value
    k6_path = run_dir / K6_FILE
    if k6_path.is_file():
        k6 = json.loads(k6_path.read_text(encoding="utf-8"))
        metrics = k6.get("metrics", {})
        for key, value in (metrics.get("http_req_duration") or {}).items():
            figures[f"http_req_duration.{key}"] = value
        figures["iterations.count"] = (metrics.get("iterations") or {}).get("count")
        figures["checks.fails"] = (metrics.get("checks") or {}).get("fails")
        for name, endpoint in (k6.get("endpoints") or {}).items():
            for key in ("count", "rate", "p95", "p99", "errors"):
                figures[f"{name}.{key}"] = endpoint.get(key)
    return figures


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def compare_runs(a_dir: Path, b_dir: Path) -> list[Row]:
    a, b = load_figures(a_dir), load_figures(b_dir)
    rows = []
    for key in list(a) + [k for k in b if k not in a]:
        va, vb = a.get(key), b.get(key)
        na, nb = _number(va), _number(vb)
        delta = nb - na if na is not None and nb is not None else None
        pct = (delta / na * 100.0) if delta is not None and na not in (None, 0.0) else None
        rows.append(Row(key, va, vb, delta, pct))
    return rows
