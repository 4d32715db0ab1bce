"""Evidence of a run on synthetic data: run folders, legacy copies, index, runs table, compare."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from foundation.cli import perf as perf_cli
from foundation.ops.perf import artifacts
from foundation.ops.perf.compare import RunNotFound, compare_runs, resolve_run
from foundation.ops.perf.smoke import record_run

from .helpers import config, synthetic_stats

T0 = datetime(2026, 11, 28, 3, 0, 0, tzinfo=UTC)

K6_KEYS = {"avg", "min", "med", "max", "p(90)", "p(95)", "p(99)"}
THROUGHPUT_KEYS = {
    "metric", "throughput", "totalRequests", "durationSeconds", "status", "thresholds", "p95Ms", "p99Ms",
    "errorRate", "vus", "mode", "decidedBy", "runId", "baseUrl", "tenant", "thinkTimeSeconds", "startedAt",
    "warnings", "otlp",
}  # fmt: skip


def _app() -> typer.Typer:
    root = typer.Typer()
    perf_cli.register(root)
    return root


def test_run_folder_holds_every_file_in_the_documented_shape(tmp_path: Path) -> None:
    out = tmp_path / "artifacts" / "perf"
    outcome = record_run(config(out), synthetic_stats(), base_url="http://x", started_at=T0)
    run_dir = outcome.run_dir
    assert run_dir == out / "20261128T030000Z-local-1vu"
    assert {p.name for p in run_dir.iterdir()} == {
        "k6-smoke.json", "foundation-api-throughput.json", "summary.md", "latency.png",
    }  # fmt: skip
    assert (run_dir / "latency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    k6 = json.loads((run_dir / "k6-smoke.json").read_text())
    metrics = k6["metrics"]
    assert metrics["http_reqs"]["count"] == 120
    assert metrics["http_reqs"]["rate"] == pytest.approx(4.0)
    assert set(metrics["http_req_duration"]) == K6_KEYS
    assert metrics["http_req_failed"] == {"rate": 0.0, "passes": 0, "fails": 120}
    assert {"iterations", "vus", "checks"} <= set(metrics)
    assert k6["state"]["testRunDurationMs"] == pytest.approx(30000.0)
    assert list(k6["endpoints"]) == ["theme", "tenant_metrics", "stories", "scaffold"]
    for endpoint in k6["endpoints"].values():
        assert {"count", "rate", "p95", "p99", "errors"} <= set(endpoint)
        assert endpoint["count"] == 30

    doc = json.loads((run_dir / "foundation-api-throughput.json").read_text())
    assert set(doc) >= THROUGHPUT_KEYS
    assert doc["metric"] == "foundation_api_throughput"
    assert (doc["status"], doc["decidedBy"]) == ("ok", "all")
    assert doc["throughput"] == pytest.approx(4.0)
    assert doc["totalRequests"] == 120 and doc["durationSeconds"] == 30.0
    assert set(doc["thresholds"]) == {"critical", "warning", "p95Ms", "p99Ms", "errorRate"}
    assert doc["otlp"] == {"endpoint": None, "published": False, "error": None}
    assert doc["runId"] == run_dir.name and doc["startedAt"] == "2026-11-28T03:00:00Z"

    summary = (run_dir / "summary.md").read_text()
    assert "**Verdict: OK** (decided by `all`)" in summary
    assert "| throughput (req/s) | 4 |" in summary
    assert outcome.exit_code == 0


def test_failing_endpoint_is_critical_by_error_rate_and_ci_exits_1(tmp_path: Path) -> None:
    out = tmp_path / "perf"
    stats = synthetic_stats(failing="stories")
    outcome = record_run(config(out, mode="ci"), stats, base_url="http://x", started_at=T0)
    assert (outcome.document["status"], outcome.document["decidedBy"]) == ("critical", "error_rate")
    assert outcome.k6["endpoints"]["stories"]["errors"] == 30
    assert outcome.exit_code == 1
    assert "30 x stories: HTTP 500 internal_error" in (outcome.run_dir / "summary.md").read_text()


def test_two_runs_keep_two_folders_and_legacy_paths_follow_the_latest(tmp_path: Path) -> None:
    out = tmp_path / "artifacts" / "perf"
    first = record_run(config(out), synthetic_stats(latency_ms=10), base_url="http://x", started_at=T0)
    # Same second, same mode and VUs: the second run gets a suffix instead of overwriting the first.
    second = record_run(config(out), synthetic_stats(latency_ms=20), base_url="http://x", started_at=T0)
    assert first.run_dir.name == "20261128T030000Z-local-1vu"
    assert second.run_dir.name == "20261128T030000Z-local-1vu-2"
    assert first.run_dir.is_dir() and second.run_dir.is_dir()

    k6_legacy, throughput_legacy = (
        out / "k6-smoke.json",
        tmp_path / "artifacts" / "foundation-api-throughput.json",
    )
    assert second.legacy == (k6_legacy, throughput_legacy)
    assert not k6_legacy.is_symlink() and not throughput_legacy.is_symlink()
    assert k6_legacy.read_bytes() == (second.run_dir / "k6-smoke.json").read_bytes()
    assert throughput_legacy.read_bytes() == (second.run_dir / "foundation-api-throughput.json").read_bytes()
    assert json.loads(throughput_legacy.read_text())["runId"] == second.run_dir.name

    third = record_run(
        config(out, mode="ci", vus=50),
        synthetic_stats(),
        base_url="http://x",
        started_at=T0 + timedelta(minutes=1),
    )
    index = json.loads((out / "index.json").read_text())
    assert [r["path"] for r in index["runs"]] == [first.run_dir.name, second.run_dir.name, third.run_dir.name]
    assert index["latest"] == "20261128T030100Z-ci-50vu"
    assert {"runId", "mode", "vus", "throughput", "p95Ms", "errorRate", "status"} <= set(index["runs"][0])

    result = CliRunner().invoke(_app(), ["perf", "runs", "--output-dir", str(out)])
    assert result.exit_code == 0, result.output
    for run in (first, second, third):
        assert run.run_dir.name in result.output  # full run ids, never truncated


def test_compare_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "perf"
    a = record_run(config(out), synthetic_stats(latency_ms=10), base_url="http://x", started_at=T0)
    b = record_run(
        config(out), synthetic_stats(latency_ms=20, failing="scaffold"), base_url="http://x", started_at=T0
    )
    rows = {row.figure: row for row in compare_runs(a.run_dir, b.run_dir)}
    assert rows["totalRequests"].delta == 0
    assert rows["p95Ms"].delta == pytest.approx(b.document["p95Ms"] - a.document["p95Ms"])
    assert rows["p95Ms"].delta_pct == pytest.approx(rows["p95Ms"].delta / a.document["p95Ms"] * 100)
    assert rows["errorRate"].delta == pytest.approx(0.25) and rows["errorRate"].delta_pct is None  # from 0
    assert (rows["status"].a, rows["status"].b) == ("ok", "critical")
    assert rows["scaffold.errors"].b == 30
    assert {"http_req_duration.p(99)", "theme.p95", "thresholds.critical", "throughput"} <= set(rows)

    # by run id, by path, by a file inside the folder
    assert resolve_run(a.run_dir.name, out) == a.run_dir
    assert resolve_run(str(b.run_dir), tmp_path / "elsewhere") == b.run_dir
    assert resolve_run(str(b.run_dir / "k6-smoke.json"), out) == b.run_dir
    with pytest.raises(RunNotFound):
        resolve_run("nope", out)

    result = CliRunner().invoke(
        _app(), ["perf", "compare", a.run_dir.name, str(b.run_dir), "--output-dir", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "p95Ms" in result.output and "scaffold.errors" in result.output and "changed" in result.output

    missing = CliRunner().invoke(
        _app(), ["perf", "compare", "nope", a.run_dir.name, "--output-dir", str(out)]
    )
    assert missing.exit_code == 2
    assert missing.output.strip().startswith("error: no run 'nope'")


def test_runs_on_an_empty_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(_app(), ["perf", "runs", "--output-dir", str(tmp_path / "none")])
    assert result.exit_code == 0
    assert "no runs" in result.output


def test_zero_requests_run_is_critical_by_throughput(tmp_path: Path) -> None:
    stats = synthetic_stats(requests_per_endpoint=0)
    outcome = record_run(config(tmp_path / "perf"), stats, base_url="http://x", started_at=T0)
    assert (outcome.document["status"], outcome.document["decidedBy"]) == ("critical", "throughput")
    assert (outcome.run_dir / "latency.png").is_file()
    assert artifacts.list_runs(tmp_path / "perf")[0]["totalRequests"] == 0
