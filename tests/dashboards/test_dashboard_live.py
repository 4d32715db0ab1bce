"""Real Prometheus scraping a fake /metrics endpoint: PNG renderer and the live page in headless Chromium."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from foundation.ops.dashboards import browser
from foundation.ops.dashboards.panels import CORE_PANEL_IDS, PANELS
from foundation.ops.dashboards.png import render_panels_png
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
    return "\n".join(lines) + "\n"


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


@pytest.mark.chromium
def test_live_dashboard_in_chromium(prometheus: str, tmp_path: Path) -> None:
    port = free_port()
    cmd = [
        shutil.which("python3") or "python3",
        "-m",
        "foundation.ops.dashboards.server",
        "--port",
        str(port),
        "--prometheus",
        prometheus,
    ]
    import sys

    cmd[0] = sys.executable
    proc = procs.start(cmd, tmp_path / "dashboard.log")
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until(
            lambda: httpx.get(url + "health").status_code == 200,
            20,
            0.3,
            what="the dashboard server's /health",
            ignore=(httpx.HTTPError,),
        )
        page = browser.dump_dom(url)
        assert page.ready == "true", page.dom[:2000]
        by_id = {panel.id: panel for panel in page.panels}
        assert len(by_id) == len(PANELS)
        for panel_id in CORE_PANEL_IDS:
            panel = by_id[f"panel-{panel_id}"]
            assert panel.state == "data" and panel.points > 0, panel
        shot = browser.screenshot(url, tmp_path / "dashboard.png")
        assert shot.stat().st_size > 10_000
    finally:
        procs.stop(proc.pid)
        proc.wait(timeout=10)
