"""Real `foundation serve` processes: two workers merged in one scrape, multiprocess files wiped between
runs, and a dead collector that costs dropped spans but no failed request."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from foundation.ops.procs import free_port, wait_until
from tests.observability.servers import (
    ALFA,
    THEME_ROUTE,
    running_server,
    sample_value,
    scrape,
    seeded_database,
    server_env,
)

pytestmark = pytest.mark.integration

THEME = f"/api/v1/tenants/{ALFA}/themes/current"
HEADERS = {"X-Tenant-Id": "tenant-alfa"}


def send_fresh_connections(base_url: str, count: int) -> None:
    """``count`` theme GETs, each on a new connection, so the kernel spreads them over the workers."""
    with httpx.Client(base_url=base_url, limits=httpx.Limits(max_keepalive_connections=0)) as client:
        for _ in range(count):
            response = client.get(THEME, headers=HEADERS)
            assert response.status_code == 200, response.text


def theme_count_per_pid(directory: Path) -> dict[str, float]:
    """Read each worker's counter file on its own (the files are named ``counter_<pid>.db``)."""
    counts: dict[str, float] = {}
    for path in directory.glob("counter_*.db"):
        pid = path.stem.split("_", 1)[1]
        for metric in MultiProcessCollector._read_metrics([str(path)]).values():  # type: ignore[no-untyped-call]
            for sample in metric.samples:
                if (
                    sample.name == "http_server_requests_total"
                    and dict(sample.labels).get("route") == THEME_ROUTE
                ):
                    counts[pid] = counts.get(pid, 0.0) + sample.value
    return counts


def test_two_workers_add_up_in_one_scrape_and_files_are_wiped_between_runs(tmp_path: Path) -> None:
    database_url = seeded_database(tmp_path / "db")
    multiproc = tmp_path / "multiproc"
    env = server_env(
        database_url,
        tmp_path / "var",
        FOUNDATION_TRACING_ENABLED="false",
        PROMETHEUS_MULTIPROC_DIR=str(multiproc),
    )
    port = free_port()
    sent = 0
    with running_server(env, tmp_path / "logs", workers=2, port=port) as server:
        # Until both workers have served some (bounded: the kernel decides who accepts a connection).
        for _ in range(5):
            send_fresh_connections(server.url, 200)
            sent += 200
            if len(theme_count_per_pid(multiproc)) >= 2:
                break
        per_pid = theme_count_per_pid(multiproc)
        assert len(per_pid) >= 2, f"only one worker served: {per_pid}"
        families = scrape(server.url)
        total = sample_value(families, "http_server_requests_total", route=THEME_ROUTE, status_code="200")
        assert total == sent == sum(per_pid.values())
        assert sample_value(families, "http_server_request_duration_seconds_count", route=THEME_ROUTE) == sent
        assert "process_cpu_seconds" in families
        pids_first_run = set(per_pid)

    # A new run starts from an empty directory: old workers' counts are gone.
    assert any(multiproc.glob("*.db"))
    with running_server(env, tmp_path / "logs2", workers=2, port=port) as server:
        families = scrape(server.url)
        assert sample_value(families, "http_server_requests_total", route=THEME_ROUTE) == 0
        leftovers = {p.stem.split("_", 1)[1] for p in multiproc.glob("*.db")} & pids_first_run
        assert not leftovers
        send_fresh_connections(server.url, 10)
        assert sample_value(scrape(server.url), "http_server_requests_total", route=THEME_ROUTE) == 10


def test_default_multiprocess_directory_is_per_port_and_wiped(tmp_path: Path) -> None:
    database_url = seeded_database(tmp_path / "db")
    var_dir = tmp_path / "var"
    port = free_port()
    stale = var_dir / f"prometheus-multiproc-{port}"
    stale.mkdir(parents=True)
    (stale / "counter_999999.db").write_bytes(b"stale")
    env = server_env(database_url, var_dir, FOUNDATION_TRACING_ENABLED="false")
    with running_server(env, tmp_path / "logs", workers=2, port=port) as server:
        send_fresh_connections(server.url, 4)
        assert not (stale / "counter_999999.db").exists()
        assert sample_value(scrape(server.url), "http_server_requests_total", route=THEME_ROUTE) == 4


def test_dead_collector_drops_spans_but_every_request_succeeds(tmp_path: Path) -> None:
    database_url = seeded_database(tmp_path / "db")
    closed = free_port()  # bound then released: nothing listens there
    env = server_env(
        database_url,
        tmp_path / "var",
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{closed}",
        OTEL_BSP_SCHEDULE_DELAY="200",
        OTEL_EXPORTER_OTLP_TIMEOUT="1",
    )
    with running_server(env, tmp_path / "logs") as server:
        with httpx.Client(base_url=server.url) as client:
            statuses = [client.get(THEME, headers=HEADERS).status_code for _ in range(200)]
        assert statuses == [200] * 200

        def dropped() -> float:
            return sample_value(scrape(server.url), "foundation_otel_spans_dropped_total")

        assert wait_until(dropped, 60, 0.25, what="foundation_otel_spans_dropped_total > 0") > 0
        assert server.process.poll() is None
    assert os.path.exists(server.stdout)
