"""End to end: `stack up` (temp state dir, free ports), traffic, `observe verify`, the live dashboard in
headless Chromium, `validate`, then `stack down` leaves no process and no bound port."""

from __future__ import annotations

import json
import re
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from foundation.http import listeners
from foundation.ops.dashboards import browser
from foundation.ops.dashboards.panels import CORE_PANEL_IDS, PANELS, SC_PANELS, SUCCESS_CRITERIA
from foundation.ops.dashboards.png import drawn_series
from foundation.ops.procs import port_is_free
from foundation.ops.stack import config, procs, state

pytestmark = [pytest.mark.stack, pytest.mark.integration, pytest.mark.prometheus]

COMPONENTS = ("collector", "api", "prometheus", "dashboard")


@dataclass
class Stack:
    state_dir: Path
    urls: dict[str, str]
    pids: dict[str, int]
    ports: dict[str, int]
    up_output: str


def foundation(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(config.cli_command(*args), capture_output=True, text=True, timeout=timeout)


def _rows(report: Path) -> list[tuple[str, str]]:
    rows = re.findall(r"^\| ([^|]+?) \| (PASS|FAIL) \|", report.read_text(encoding="utf-8"), re.M)
    return [(name.strip(), status) for name, status in rows]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state_dir = tmp_path_factory.mktemp("stack")
    ports = ["--api-port", "0", "--collector-port", "0", "--prometheus-port", "0", "--dashboard-port", "0"]
    # Two API workers, the production shape: metrics summed over processes, spans from both.
    result = foundation(
        "stack", "up", "--state-dir", str(state_dir), *ports, "--api-workers", "2", "--timeout", "120"
    )
    current = state.load(state_dir)
    try:
        assert result.returncode == 0, result.stdout + result.stderr
        assert current is not None
        yield Stack(
            state_dir=state_dir,
            urls={n: c.url.rstrip("/") for n, c in current.components.items()},
            pids={n: c.pid for n, c in current.components.items()},
            ports={n: c.port for n, c in current.components.items()},
            up_output=result.stdout,
        )
    finally:
        if state.load(state_dir) is not None:
            foundation("stack", "down", "--state-dir", str(state_dir))


def test_up_prints_one_url_per_component_and_status(stack: Stack) -> None:
    for name in COMPONENTS:
        assert re.search(rf"^{name}: http://127\.0\.0\.1:\d+/?$", stack.up_output, re.M), stack.up_output
        assert (stack.state_dir / f"{name}.pid").read_text().strip() == str(stack.pids[name])
    status = foundation("stack", "status", "--state-dir", str(stack.state_dir))
    assert status.returncode == 0, status.stdout + status.stderr
    assert status.stdout.count("healthy") == len(COMPONENTS)
    if listeners.REUSE_PORT_BALANCES:  # `up` returned once both API workers listened
        assert listeners.listening_sockets(stack.ports["api"]) == 2
    again = foundation("stack", "up", "--state-dir", str(stack.state_dir))
    assert again.returncode == 0 and "already running" in again.stdout


def test_observe_verify_passes(stack: Stack, tmp_path: Path) -> None:
    for _ in range(5):
        httpx.get(stack.urls["api"] + "/health", timeout=5)
    result = foundation(
        "observe", "verify", "--state-dir", str(stack.state_dir), "--output-dir", str(tmp_path)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    [run_dir] = [p for p in tmp_path.iterdir() if p.is_dir()]
    rows = _rows(run_dir / "report.md")
    assert len(rows) == 7 and all(status == "PASS" for _, status in rows), rows
    for name in ("targets.json", "collector-stats.json", "sample-spans.jsonl", "tenant-metrics.json"):
        assert (run_dir / name).is_file(), name
    targets = json.loads((run_dir / "targets.json").read_text())
    assert {t["health"] for t in targets["data"]["activeTargets"]} == {"up"}
    assert len(list((run_dir / "panels").glob("*.png"))) == len(PANELS)
    sc_pngs = sorted((run_dir / "panels" / SUCCESS_CRITERIA.slug).glob("*.png"))
    assert len(sc_pngs) == len(SC_PANELS)
    # every tenant has a target from the first scrape on: each criterion's panel draws at least those
    assert all(drawn_series(path) >= 3 for path in sc_pngs), {p.name: drawn_series(p) for p in sc_pngs}
    assert f"## Dashboard panels: {SUCCESS_CRITERIA.title}" in (run_dir / "report.md").read_text()


@pytest.mark.chromium
def test_live_dashboard_draws_data_in_chromium(stack: Stack, tmp_path: Path) -> None:
    url = stack.urls["dashboard"] + "/"
    page = browser.dump_dom(url, budget_ms=10000)
    assert page.ready == "true", page.dom[:2000]
    panels = {panel.id: panel for panel in page.panels}
    assert len(panels) == len(PANELS)
    for panel_id in CORE_PANEL_IDS:
        assert panels[f"panel-{panel_id}"].points > 0, panels[f"panel-{panel_id}"]
    shot = browser.screenshot(url, tmp_path / "live-dashboard.png", budget_ms=10000)
    assert shot.stat().st_size > 10_000
    sc = browser.dump_dom(f"{url}?dashboard={SUCCESS_CRITERIA.slug}", budget_ms=10000)
    assert sc.ready == "true", sc.dom[:2000]
    assert [panel.slug for panel in sc.panels] == [panel.slug for panel in SC_PANELS]
    assert all(panel.state == "data" and panel.points > 0 for panel in sc.panels), sc.panels


def test_validate_report_every_criterion_passes(stack: Stack, tmp_path: Path) -> None:
    result = foundation(
        "validate",
        "--state-dir",
        str(stack.state_dir),
        "--output-dir",
        str(tmp_path),
        "--local-duration",
        "5s",
        "--ci-duration",
        "5s",
        "--ci-vus",
        "5",
        timeout=280,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    [run_dir] = [p for p in tmp_path.iterdir() if p.is_dir()]
    rows = _rows(run_dir / "report.md")
    assert len(rows) >= 13 and all(status == "PASS" for _, status in rows), rows
    ids = {name.split()[0] for name, _ in rows}
    assert {"P6.1a", "P6.1b", "P6.2a", "P6.2b", "P6.3", "P6.4", "P7.1", "P7.5", "P7.6", "P7.7"} <= ids
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "Executive summary" in page and page.count("data:image/png;base64,") >= 4
    assert 'src="http' not in page  # self-contained
    text = (run_dir / "report.md").read_text(encoding="utf-8")
    assert "## Success criteria per tenant" in text and "| tenant-alfa | " in text, text
    assert (run_dir / "scorecards.png").is_file() and "<h2>Success criteria per tenant</h2>" in page


def test_down_leaves_no_process_and_no_port(stack: Stack) -> None:
    result = foundation("stack", "down", "--state-dir", str(stack.state_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    for name, pid in stack.pids.items():
        assert procs.read_cmdline(pid) is None, f"{name} (pid {pid}) still running"
        assert not (stack.state_dir / f"{name}.pid").exists()
    for name, port in stack.ports.items():
        assert port_is_free(port), f"{name} port {port} still bound"
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"{name} port {port} still accepts connections"
    assert state.load(stack.state_dir) is None
