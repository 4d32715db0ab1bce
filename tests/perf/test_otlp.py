"""OTLP publication of the throughput and p95 gauges, received by the embedded collector."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx

from foundation.observability import otlp_env
from foundation.ops.collector import collector_in_thread
from foundation.ops.perf.otlp import publish_run_metrics


def test_publication_reaches_the_embedded_collector(tmp_path: Path) -> None:
    with collector_in_thread(tmp_path / "collector") as running:
        outcome = publish_run_metrics(
            otlp_env.endpoint("metrics", running.url),
            throughput=12.5,
            p95_ms=42.0,
            tenant="tenant-alfa",
            mode="ci",
            run_id="run-1",
        )
        assert outcome == {"endpoint": f"{running.url}/v1/metrics", "published": True, "error": None}
        stats = httpx.get(f"{running.url}/stats", timeout=5).json()
        assert stats["metrics"] >= 2 and stats["errors"] == 0
        exposition = httpx.get(f"{running.url}/metrics", timeout=5).text
    throughput = [line for line in exposition.splitlines() if line.startswith("foundation_api_throughput")]
    p95 = [line for line in exposition.splitlines() if line.startswith("foundation_api_latency_p95_ms")]
    assert throughput and p95, exposition
    for line in throughput + p95:
        assert 'tenant="tenant-alfa"' in line and 'mode="ci"' in line and 'scenario="smoke"' in line
    assert throughput[0].rstrip().endswith(" 12.5")
    assert p95[0].rstrip().endswith(" 42.0")
    stored = [
        json.loads(line)
        for path in (tmp_path / "collector").rglob("*")
        if path.is_file()
        for line in path.read_text().splitlines()
        if line.strip()
    ]
    assert any("foundation_api_throughput" in json.dumps(point) for point in stored)


def test_unreachable_endpoint_is_a_reported_failure_not_a_crash() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: connections are refused
        outcome = publish_run_metrics(
            f"http://127.0.0.1:{port}", throughput=1.0, p95_ms=1.0, tenant="t", mode="local", run_id="r",
            timeout_seconds=2.0,
        )  # fmt: skip
    assert outcome["published"] is False
    assert outcome["error"]
