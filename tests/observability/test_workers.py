"""Real `foundation serve` processes: two workers merged in one scrape, multiprocess files wiped between
runs, and a dead collector that costs dropped spans but no failed request."""

from __future__ import annotations

import datetime as dt
import os
from array import array
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from foundation.observability.tenant_series import FILE_PREFIX, ParsedKeys
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


def theme_count_per_pid(directory: Path, route: str = THEME_ROUTE) -> dict[str, float]:
    """Read each worker's tenant-series files on their own (``tenant-series_<pid>.keys`` / ``.values``)."""
    counts: dict[str, float] = {}
    for keys_path in directory.glob(f"{FILE_PREFIX}*.keys"):
        pid = keys_path.stem.split("_", 1)[1]
        parsed = ParsedKeys()
        parsed.refresh(str(keys_path))
        values = array("d", keys_path.with_suffix(".values").read_bytes()[: len(parsed.keys) * 8])
        for (family, labels), value in zip(parsed.keys, values, strict=False):
            if family == "http_server_requests_total" and labels[1] == route:
                counts[pid] = counts.get(pid, 0.0) + value
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
        leftovers = {p.stem.split("_", 1)[1] for p in multiproc.glob(f"{FILE_PREFIX}*")} & pids_first_run
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


def add_tenants(database_url: str, slugs: list[str]) -> None:
    import asyncio

    from foundation.db import Database
    from foundation.seed import demo_theme
    from foundation.tenancy.service import TenantDirectory
    from foundation.themes.service import ThemeService

    async def run() -> None:
        db = Database(database_url)
        try:
            for slug in slugs:
                tenant = await TenantDirectory(db).create(slug, slug)
                await ThemeService(db).publish(tenant, "1.0.0", demo_theme("#0F5132"), make_current=True)
        finally:
            await db.dispose()

    asyncio.run(run())


def theme_gets(base_url: str, tenant: str, count: int) -> None:
    with httpx.Client(base_url=base_url, limits=httpx.Limits(max_keepalive_connections=0)) as client:
        for _ in range(count):
            response = client.get(f"/api/v1/tenants/{tenant}/themes/current", headers={"X-Tenant-Id": tenant})
            assert response.status_code == 200, response.text


def tenant_values(families: dict[str, Any]) -> dict[str, float]:
    return {
        s.labels["tenant"]: s.value
        for s in families["http_server_requests"].samples
        if s.name == "http_server_requests_total" and s.labels["route"] == THEME_ROUTE
    }


def test_every_worker_folds_the_same_tenants(tmp_path: Path) -> None:
    database_url = seeded_database(tmp_path / "db")
    add_tenants(database_url, ["tenant-gama", "tenant-delta"])
    multiproc = tmp_path / "multiproc"
    env = server_env(
        database_url,
        tmp_path / "var",
        FOUNDATION_TRACING_ENABLED="false",
        FOUNDATION_METRICS_MAX_TENANTS="2",
        PROMETHEUS_MULTIPROC_DIR=str(multiproc),
    )
    traffic = {"tenant-default": 40, "tenant-alfa": 20, "tenant-beta": 6, "tenant-gama": 2, "tenant-delta": 1}
    with running_server(env, tmp_path / "logs", workers=2) as server:
        for tenant, count in traffic.items():
            theme_gets(server.url, tenant, count)
        assert len(theme_count_per_pid(multiproc)) == 2, "both workers must have served some"
        answers: dict[str, dict[str, float]] = {}  # by the pid of the worker that answered
        for _ in range(40):  # new connections, until both workers answered a scrape
            with httpx.Client(base_url=server.url) as client:  # one keep-alive connection: one worker
                before = theme_count_per_pid(multiproc, route="unmatched")
                assert client.get("/which-worker").status_code == 404

                def changed(before: dict[str, float] = before) -> list[str]:  # counted after the answer
                    after = theme_count_per_pid(multiproc, route="unmatched")
                    return [pid for pid, count in after.items() if count != before.get(pid)]

                [pid] = wait_until(changed, 10, 0.02, what="the 404 counted by the worker that answered")
                text = client.get("/metrics").text
            answers[pid] = tenant_values({f.name: f for f in text_string_to_metric_families(text)})
            if len(answers) == 2:
                break
    assert len(answers) == 2, "one worker answered every scrape"
    # Busiest two keep their series (40 and 20 requests); the rest (6 + 2 + 1) are folded, on both workers.
    for values in answers.values():
        assert values == {"tenant-default": 40, "tenant-alfa": 20, "__other__": 9}


def test_a_corrupt_series_file_is_counted_and_the_rest_is_served(tmp_path: Path) -> None:
    database_url = seeded_database(tmp_path / "db")
    multiproc = tmp_path / "multiproc"
    env = server_env(
        database_url,
        tmp_path / "var",
        FOUNDATION_TRACING_ENABLED="false",
        PROMETHEUS_MULTIPROC_DIR=str(multiproc),
    )
    with running_server(env, tmp_path / "logs", workers=2) as server:
        send_fresh_connections(server.url, 5)
        (multiproc / f"{FILE_PREFIX}999999.keys").write_text("this is not a key line\n")
        (multiproc / f"{FILE_PREFIX}999999.values").write_bytes(bytes(8))
        families = scrape(server.url)
        logs = server.logs()
    errors = "foundation_metrics_scrape_errors_total"
    assert sample_value(families, errors, part="tenant_series") == 1
    assert "http_server_requests" not in families  # the failed part is left out, not half-rendered
    assert sample_value(families, "http_server_request_duration_seconds_count", route=THEME_ROUTE) == 5
    assert "sc_001_scaffolding_minutes" in families
    assert '"part": "tenant_series"' in logs and "metrics_part_failed" in logs


def test_every_worker_refreshes_the_scorecard_off_the_scrape(tmp_path: Path) -> None:
    """Each worker computes the scorecard in its own background task: a posted sample reaches the answer of
    whichever worker takes the scrape, and no scrape fails its scorecard part."""
    database_url = seeded_database(tmp_path / "db")
    env = server_env(
        database_url,
        tmp_path / "var",
        FOUNDATION_TRACING_ENABLED="false",
        FOUNDATION_METRICS_SCORECARD_SECONDS="0.5",
    )
    with running_server(env, tmp_path / "logs", workers=2) as server:
        moment = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        sample = {"code": "SC-002", "value": 97.25, "collectedAt": moment, "source": "manual"}
        response = httpx.post(
            f"{server.url}/api/v1/tenant-metrics/{ALFA}/sc", headers=HEADERS, json={"samples": [sample]}
        )
        assert response.status_code == 201, response.text

        def value_of(families: dict[str, Any]) -> float | None:
            family = families.get("foundation_sc_value")
            found = [
                s.value
                for s in (family.samples if family else [])
                if s.labels == {"tenant": HEADERS["X-Tenant-Id"], "code": "SC-002"}
            ]
            return found[0] if found else None

        # Every scrape over a fresh connection (the kernel picks the worker) until 20 in a row show it.
        streak: list[float | None] = []

        def twenty_in_a_row() -> bool:
            families = scrape(server.url)
            assert sample_value(families, "foundation_metrics_scrape_errors_total", part="scorecard") == 0
            streak.append(value_of(families))
            if streak[-1] is None:
                streak.clear()
            return len(streak) >= 20

        wait_until(twenty_in_a_row, 30, what="20 scrapes in a row showing the posted sample")
    assert streak == [97.25] * 20
