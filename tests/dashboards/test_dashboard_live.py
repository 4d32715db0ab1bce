"""Real Prometheus scraping a fake /metrics endpoint: PNG renderer and the live page in headless Chromium,
for both dashboards (observability and success criteria)."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from foundation.ops.dashboards import browser
from foundation.ops.dashboards.panels import CORE_PANEL_IDS, PANELS, SC_PANELS, SUCCESS_CRITERIA
from foundation.ops.dashboards.png import drawn_series, render_dashboard_png, render_panels_png
from foundation.ops.procs import WaitTimeout, free_port, wait_until
from foundation.ops.stack import config, procs

pytestmark = [pytest.mark.integration, pytest.mark.prometheus]


class _Counter:
    value = 0


HTTP = "http_server_requests_total"


def _metrics_text(n: int) -> str:
    lines = [
        f'{HTTP}{{method="GET",route="/health",status_code="200",tenant="none"}} {n * 10}',
        f'{HTTP}{{method="POST",route="/x",status_code="201",tenant="tenant-alfa"}} {n * 2}',
    ]
    for le, share in (("0.005", 0.5), ("0.05", 0.9), ("0.5", 1.0), ("+Inf", 1.0)):
        lines.append(
            f'http_server_request_duration_seconds_bucket{{method="GET",route="/health",status_code="200",'
            f'le="{le}"}} {int(n * 10 * share)}'
        )
    lines += [
        'http_server_request_duration_seconds_count{method="GET",route="/health",status_code="200"}'
        f" {n * 10}",
        f'http_server_request_duration_seconds_count{{method="POST",route="/x",status_code="201"}} {n * 2}',
    ]
    lines += [
        'sc_001_scaffolding_minutes_sum{tenant_slug="tenant-alfa",feature_slug="loan-tracking"} 7.5',
        'sc_001_scaffolding_minutes_count{tenant_slug="tenant-alfa",feature_slug="loan-tracking"} 1',
        'sc_001_scaffolding_minutes_sum{tenant_slug="tenant-alfa",feature_slug="__all__"} 7.5',
        'sc_001_scaffolding_minutes_count{tenant_slug="tenant-alfa",feature_slug="__all__"} 1',
        'foundation_api_throughput{tenant="tenant-default",mode="ci",scenario="smoke"} 42',
    ]
    return "\n".join(lines + _scorecard_lines()) + "\n"


# The scorecard families as the API renders them (success_metrics/scorecard_metrics.py): tenant-alfa meets
# every criterion, tenant-beta misses SC-004 and has no SC-005 sample (no value, status no_data).
SC_VALUES = {
    "tenant-alfa": {"SC-001": 42.0, "SC-002": 97.5, "SC-003": 100.0, "SC-004": 99.0, "SC-005": 0.0},
    "tenant-beta": {"SC-001": 12.0, "SC-002": 95.0, "SC-003": 100.0, "SC-004": 90.0, "SC-005": None},
}
SC_TARGETS = {"SC-001": 60.0, "SC-002": 95.0, "SC-003": 100.0, "SC-004": 98.0, "SC-005": 0.0}


def _scorecard_lines() -> list[str]:
    lines = []
    for tenant, values in SC_VALUES.items():
        for code, value in values.items():
            labels = f'tenant="{tenant}",code="{code}"'
            if value is not None:
                lines.append(f"foundation_sc_value{{{labels}}} {value}")
            lines.append(f"foundation_sc_target{{{labels}}} {SC_TARGETS[code]}")
    for code in SC_TARGETS:
        missed = 1 if code == "SC-004" else 0
        no_data = 1 if code == "SC-005" else 0
        for status, count in (("met", 2 - missed - no_data), ("missed", missed), ("no_data", no_data)):
            lines.append(f'foundation_sc_tenants{{code="{code}",status="{status}"}} {count}')
    return lines


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return None

    def do_GET(self) -> None:
        _Counter.value += 1
        body = _metrics_text(_Counter.value).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = config.find_prometheus()
    assert binary is not None  # the prometheus marker skipped (or failed) the test otherwise
    tmp = tmp_path_factory.mktemp("prom")
    fake = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=fake.serve_forever, daemon=True)
    thread.start()
    target = f"127.0.0.1:{fake.server_address[1]}"
    cfg = config.write_prometheus_config(
        tmp / "prometheus.yml", config.prometheus_config(target, target, config.find_rules_file(), "1s")
    )
    port = free_port()
    cmd = [
        binary,
        f"--config.file={cfg}",
        f"--storage.tsdb.path={tmp / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    proc = procs.start(cmd, tmp / "prometheus.log")
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_until(
                lambda: httpx.get(
                    f"{url}/api/v1/query", params={"query": "sum(rate(http_server_requests_total[5m]))"}
                ).json()["data"]["result"],
                60,
                0.3,
                what="a request-rate series in Prometheus",
                ignore=(httpx.HTTPError, ValueError, KeyError),
            )
        except WaitTimeout as exc:
            pytest.fail(f"{exc}\n{(tmp / 'prometheus.log').read_text()}")
        yield url
    finally:
        procs.stop(proc.pid)
        proc.wait(timeout=10)
        fake.shutdown()
        fake.server_close()


def test_png_panels_drawn(prometheus: str, tmp_path: Path) -> None:
    now = time.time()
    paths = render_panels_png(prometheus, tmp_path, now - 300, now)
    assert [p.name for p in paths] == [f"panel-{p.id}-{p.slug}.png" for p in PANELS]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.stat().st_size > 5000
    assert drawn_series(paths[0]) == 2  # GET and POST (requests by method)


def test_png_success_criteria_panels_drawn(prometheus: str, tmp_path: Path) -> None:
    """Every success-criteria panel draws its series: value and target per tenant, counts per status."""
    now = time.time()
    paths = render_dashboard_png(prometheus, SUCCESS_CRITERIA, tmp_path, now - 300, now)
    assert paths == [tmp_path / SUCCESS_CRITERIA.slug / f"panel-{p.id}-{p.slug}.png" for p in SC_PANELS]
    drawn = {path.name: drawn_series(path) for path in paths}
    for panel in SC_PANELS[:5]:
        code = panel.title.split(" ")[0]
        values = sum(values.get(code) is not None for values in SC_VALUES.values())
        # value series of the tenants that have one, plus one target series per tenant
        assert drawn[f"panel-{panel.id}-{panel.slug}.png"] == values + len(SC_VALUES), (panel.slug, drawn)
    assert drawn[f"panel-{SC_PANELS[5].id}-{SC_PANELS[5].slug}.png"] == 15  # 5 criteria × 3 statuses


@pytest.fixture
def dashboard(prometheus: str, tmp_path: Path) -> Iterator[str]:
    """`python -m foundation.ops.dashboards.server` against the real Prometheus; yields its root URL."""
    port = free_port()
    cmd = [sys.executable, "-m", "foundation.ops.dashboards.server", "--port", str(port)]
    proc = procs.start([*cmd, "--prometheus", prometheus], tmp_path / "dashboard.log")
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until(
            lambda: httpx.get(url + "health").status_code == 200,
            20,
            0.3,
            what="the dashboard server's /health",
            ignore=(httpx.HTTPError,),
        )
        yield url
    finally:
        procs.stop(proc.pid)
        proc.wait(timeout=10)


def test_panels_json_per_dashboard(dashboard: str) -> None:
    main = httpx.get(dashboard + "panels.json").json()
    assert [p["id"] for p in main["panels"]] == [p.id for p in PANELS]
    links = {board["slug"]: board["url"] for board in main["dashboards"]}
    assert links == {
        "iabank-foundation": "./",
        SUCCESS_CRITERIA.slug: f"./?dashboard={SUCCESS_CRITERIA.slug}",
    }
    sc = httpx.get(dashboard + "panels.json", params={"dashboard": SUCCESS_CRITERIA.slug}).json()
    assert sc["title"] == SUCCESS_CRITERIA.title
    assert [p["id"] for p in sc["panels"]] == [p.id for p in SC_PANELS]
    assert [t["expr"] for t in sc["panels"][0]["targets"]] == [t.expr for t in SC_PANELS[0].targets]
    unknown = httpx.get(dashboard + "panels.json", params={"dashboard": "nope"})
    assert unknown.status_code == 404 and "nope" in unknown.json()["error"]


@pytest.mark.chromium
def test_live_dashboard_in_chromium(dashboard: str, tmp_path: Path) -> None:
    page = browser.dump_dom(dashboard)
    assert page.ready == "true", page.dom[:2000]
    by_id = {panel.id: panel for panel in page.panels}
    assert len(by_id) == len(PANELS)
    for panel_id in CORE_PANEL_IDS:
        panel = by_id[f"panel-{panel_id}"]
        assert panel.state == "data" and panel.points > 0, panel
    link = f'href="./?dashboard={SUCCESS_CRITERIA.slug}"'
    assert link in page.dom, "no link to the success-criteria dashboard"
    shot = browser.screenshot(dashboard, tmp_path / "dashboard.png")
    assert shot.stat().st_size > 10_000


@pytest.mark.chromium
def test_live_success_criteria_dashboard_in_chromium(dashboard: str, tmp_path: Path) -> None:
    url = f"{dashboard}?dashboard={SUCCESS_CRITERIA.slug}"
    page = browser.dump_dom(url)
    assert page.ready == "true", page.dom[:2000]
    assert f'data-dashboard="{SUCCESS_CRITERIA.slug}"' in page.dom
    assert [panel.slug for panel in page.panels] == [panel.slug for panel in SC_PANELS]
    for panel in page.panels[:5]:  # each tenant's value (where it has one) and target
        assert panel.state == "data" and panel.series >= 3 and panel.points > 0, panel
    counts = page.panels[5]
    assert counts.state == "data" and counts.series == 15, counts
    assert 'href="./"' in page.dom and 'aria-current="page"' in page.dom
    shot = browser.screenshot(url, tmp_path / "success-criteria.png")
    assert shot.stat().st_size > 10_000
