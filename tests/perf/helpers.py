"""Synthetic runs for the perf tests (no locust, no server)."""

from __future__ import annotations

from pathlib import Path

from foundation.ops.perf.smoke import SmokeConfig
from foundation.ops.perf.stats import ENDPOINTS, Recorder, RunStats, summarize


def synthetic_stats(
    *,
    requests_per_endpoint: int = 30,
    latency_ms: float = 10.0,
    failing: str | None = None,
    elapsed: float = 30.0,
) -> RunStats:
    recorder = Recorder(started_at=0.0)
    for i in range(requests_per_endpoint):
        at = elapsed * i / requests_per_endpoint
        for j, name in enumerate(ENDPOINTS):
            failed = name == failing
            recorder.record(
                name, latency_ms + j + (i % 5), failed, at, "HTTP 500 internal_error" if failed else None
            )
            recorder.count_checks(2, 1 if failed else 0)
        recorder.iterations += 1
    return summarize(recorder, elapsed, vus=1)


def config(output_dir: Path, **overrides: object) -> SmokeConfig:
    values: dict[str, object] = {
        "mode": "local",
        "vus": 1,
        "duration_seconds": 30.0,
        "think_seconds": 1.0,
        "tenant": "tenant-alfa",
        "output_dir": output_dir,
        "base_url": "http://127.0.0.1:1",
    }
    values.update(overrides)
    return SmokeConfig(**values)  # type: ignore[arg-type]
