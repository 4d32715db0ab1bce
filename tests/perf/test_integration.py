"""End-to-end smoke runs in subprocesses (locust monkey-patches the process that imports it).

* against a fake API answering 500 on one endpoint: critical decided by error_rate, ci exits 1, and the
  throughput gauge reaches the embedded collector;
* against the real API self-started by the smoke: a 10 s 5-VU run
  is ok with every artifact, and two consecutive runs keep two folders with the legacy paths on the second.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from foundation.ops.collector import collector_in_thread
from foundation.ops.perf.server import CLI_ENTRY, wait_ready
from foundation.ops.procs import free_port

pytestmark = pytest.mark.integration

FAKE_API = Path(__file__).with_name("fake_api.py")
RUN_FILES = {"k6-smoke.json", "foundation-api-throughput.json", "summary.md", "latency.png"}


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "FOUNDATION_PERF_"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
def fake_api_failing_stories() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(FAKE_API), str(port), "--fail", "stories"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=_env(),
    )
    try:
        url = f"http://127.0.0.1:{port}"
        assert wait_ready(f"{url}/health", 30.0, alive=process), "fake API did not start"
        yield url
    finally:
        _stop(process)


def _smoke(args: list[str], timeout: float = 240) -> subprocess.CompletedProcess[str]:
    prefix = [sys.executable, "-c", CLI_ENTRY, "perf"]  # the real entry point, as the console script calls it
    return subprocess.run(
        [*prefix, "smoke", *args], capture_output=True, text=True, timeout=timeout, env=_env(), cwd=Path.cwd()
    )


def test_500_on_one_endpoint_is_critical_by_error_rate(fake_api_failing_stories: str, tmp_path: Path) -> None:
    out = tmp_path / "artifacts" / "perf"
    with collector_in_thread(tmp_path / "collector") as running:
        result = _smoke(
            [
                "--mode", "ci", "--base-url", fake_api_failing_stories, "--vus", "2", "--duration", "3s",
                "--think-time", "100ms", "--output-dir", str(out), "--otlp-endpoint", running.url,
            ]
        )  # fmt: skip
        exposition = httpx.get(f"{running.url}/metrics", timeout=5).text
    assert result.returncode == 1, result.stdout + result.stderr  # ci exits 1 on critical
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    assert run_dir.name.endswith("-ci-2vu")
    assert {p.name for p in run_dir.iterdir()} == RUN_FILES
    doc = json.loads((run_dir / "foundation-api-throughput.json").read_text())
    assert (doc["status"], doc["decidedBy"]) == ("critical", "error_rate")
    assert doc["errorRate"] == pytest.approx(0.25, abs=0.02)
    assert doc["otlp"]["published"] is True, doc["otlp"]
    k6 = json.loads((run_dir / "k6-smoke.json").read_text())
    assert k6["endpoints"]["stories"]["errors"] == k6["endpoints"]["stories"]["count"] > 0
    assert all(k6["endpoints"][name]["errors"] == 0 for name in ("theme", "tenant_metrics", "scaffold"))
    # every third iteration is conditional: the fake answers 304 and the checks accept it
    assert k6["endpoints"]["theme"]["count"] >= 3
    assert "decided by error_rate" in result.stdout
    assert "foundation_api_throughput{" in exposition and 'mode="ci"' in exposition


def test_unreachable_base_url_is_an_error(tmp_path: Path) -> None:
    port = free_port()
    result = _smoke(
        ["--base-url", f"http://127.0.0.1:{port}", "--duration", "1s", "--output-dir", str(tmp_path)]
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")
    assert not any(tmp_path.iterdir())


@pytest.mark.timing  # the verdict compares p95/p99 with thresholds: a loaded machine can turn it
def test_self_started_server_10s_5vus_is_ok_with_all_artifacts(tmp_path: Path) -> None:
    out = tmp_path / "artifacts" / "perf"
    result = _smoke(["--vus", "5", "--duration", "10s", "--output-dir", str(out)])
    assert result.returncode == 0, result.stdout + result.stderr
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    assert {p.name for p in run_dir.iterdir()} >= RUN_FILES
    doc = json.loads((run_dir / "foundation-api-throughput.json").read_text())
    summary = (run_dir / "summary.md").read_text()
    assert (doc["status"], doc["decidedBy"]) == ("ok", "all"), summary
    assert doc["vus"] == 5 and doc["mode"] == "local" and doc["tenant"] == "tenant-alfa"
    assert 9.5 <= doc["durationSeconds"] <= 13
    k6 = json.loads((run_dir / "k6-smoke.json").read_text())
    assert all(
        k6["endpoints"][name]["count"] > 0 for name in ("theme", "tenant_metrics", "stories", "scaffold")
    )
    assert k6["metrics"]["checks"]["fails"] == 0
    assert (out / "k6-smoke.json").read_bytes() == (run_dir / "k6-smoke.json").read_bytes()
    assert (out.parent / "foundation-api-throughput.json").read_bytes() == (
        run_dir / "foundation-api-throughput.json"
    ).read_bytes()


def test_two_consecutive_runs_keep_two_folders(tmp_path: Path) -> None:
    out = tmp_path / "artifacts" / "perf"
    for _ in range(2):
        result = _smoke(["--vus", "2", "--duration", "3s", "--output-dir", str(out)])
        assert result.returncode == 0, result.stdout + result.stderr
    runs = sorted(p for p in out.iterdir() if p.is_dir())
    assert len(runs) == 2
    index = json.loads((out / "index.json").read_text())
    assert [r["path"] for r in index["runs"]] == [p.name for p in runs]
    latest = index["latest"]
    assert latest == runs[-1].name
    legacy = json.loads((out.parent / "foundation-api-throughput.json").read_text())
    assert legacy["runId"] == latest
    assert (out / "k6-smoke.json").read_bytes() == (out / latest / "k6-smoke.json").read_bytes()
    assert json.loads((runs[0] / "foundation-api-throughput.json").read_text())["runId"] != latest
