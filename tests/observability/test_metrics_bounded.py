"""/metrics stays bounded and cheap: size independent of registrations, a constant number of statements on
a connection of its own, folding above FOUNDATION_METRICS_MAX_TENANTS, failed parts counted, one render for
many concurrent scrapes. Folding across real worker processes: test_workers.py."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
import structlog
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from foundation.db import Database
from foundation.observability import scrape as scrape_module
from foundation.observability import tenant_series
from foundation.observability.scrape import MetricsEndpoint
from foundation.observability.tenant_series import (
    OTHER_TENANT,
    SeriesReader,
    SeriesStore,
    TenantCounter,
    kept_tenants,
)
from foundation.ops.devtools.bulk_load import registration_request
from foundation.scaffolds.service import Attempt, register_batch
from foundation.tenancy.service import TenantDirectory, TenantRef
from tests.conftest import BACKEND
from tests.observability.servers import sample_value

Families = dict[str, Any]


async def scrape(client: httpx.AsyncClient) -> tuple[Families, str]:
    response = await client.get("/metrics")
    assert response.status_code == 200
    return {f.name: f for f in text_string_to_metric_families(response.text)}, response.text


async def register_many(db: Database, tenant: TenantRef, count: int, prefix: str, minutes: float = 3) -> None:
    async with db.write(tenant.id) as connection:
        attempts = [
            Attempt.of(f"{prefix}-{i}", registration_request(f"{prefix}-{i}", int(minutes * 60_000)))
            for i in range(count)
        ]
        results = await register_batch(
            connection, [(tenant, attempt) for attempt in attempts], timedelta(hours=24)
        )
    assert not [r for r in results if isinstance(r, Exception)]


@pytest.fixture
def platform_url(request: pytest.FixtureRequest, database_url: str) -> str:
    """Where tenants are created: the schema owner on PostgreSQL (the API's role may not insert tenants)."""
    return str(request.getfixturevalue("owner_database_url")) if BACKEND == "postgres" else database_url


async def new_tenants(url: str, count: int, start: int = 0) -> list[TenantRef]:
    db = Database(url)
    try:
        directory = TenantDirectory(db)
        return [await directory.create(f"bounded-{start + i:02d}", f"Bounded {i}") for i in range(count)]
    finally:
        await db.dispose()


@contextmanager
def statements(engine: AsyncEngine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


def series(families: Families, name: str) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    family = families.get(name)
    return {(s.name, tuple(sorted(s.labels.items()))) for s in family.samples} if family else set()


async def test_exposition_does_not_grow_with_registrations_and_reads_twice_per_scrape(
    make_client: Callable[..., httpx.AsyncClient],
    platform_url: str,
) -> None:
    async with make_client(metrics_sc001_recent_features=5) as client:
        app: Any = client.app  # type: ignore[attr-defined]
        db: Database = app.state.services[Database]
        tenants = await new_tenants(platform_url, 3)
        for tenant in tenants:
            await register_many(db, tenant, 20, "first")
        small, small_text = await scrape(client)
        for tenant in tenants:
            await register_many(db, tenant, 400, "more", minutes=45)
        with statements(app.state.services[MetricsEndpoint].sc001.engine) as seen:
            large, large_text = await scrape(client)
        more_tenants = await new_tenants(platform_url, 40, start=10)
        for tenant in more_tenants:
            await register_many(db, tenant, 1, "one")
        with statements(app.state.services[MetricsEndpoint].sc001.engine) as seen_many_tenants:
            await scrape(client)

    # 1,260 registrations against 60: as many SC-001 series (the recent features are newer ones), the same
    # tenant series, a few more digits in the values.
    small_series, large_series = (series(f, "sc_001_scaffolding_minutes") for f in (small, large))
    assert len(small_series) == len(large_series)
    tenant_series_of = [{s for s in found if "__all__" in str(s)} for found in (small_series, large_series)]
    assert tenant_series_of[0] == tenant_series_of[1]
    assert sc001_count(large, "bounded-00") == 420
    sc001_lines = [[ln for ln in t.splitlines() if ln.startswith("sc_001")] for t in (small_text, large_text)]
    assert len(sc001_lines[0]) == len(sc001_lines[1]) == 19 * (3 + 5)  # 3 tenants' __all__ + 5 recent
    assert len(large_text) < len(small_text) * 1.15  # 21 times the registrations
    # Two statements per scrape however many tenants (3, then 43): no statement per tenant.
    assert len(seen) == len(seen_many_tenants) == 2, (seen, seen_many_tenants)


def sc001_count(families: Families, tenant: str, feature: str = "__all__") -> float:
    name = "sc_001_scaffolding_minutes_count"
    return sample_value(families, name, tenant_slug=tenant, feature_slug=feature)


async def test_sc001_tenant_series_fold_above_max_tenants(
    make_client: Callable[..., httpx.AsyncClient],
    platform_url: str,
) -> None:
    async with make_client(metrics_max_tenants=2, metrics_sc001_recent_features=2) as client:
        db: Database = client.app.state.services[Database]  # type: ignore[attr-defined]
        tenants = await new_tenants(platform_url, 5)
        for tenant, count, minutes in zip(tenants, (8, 4, 2, 1, 1), (1, 2, 5, 30, 600), strict=True):
            await register_many(db, tenant, count, "f", minutes=minutes)
        families, _ = await scrape(client)

    all_series = {
        s.labels["tenant_slug"]
        for s in families["sc_001_scaffolding_minutes"].samples
        if s.labels["feature_slug"] == "__all__"
    }
    # Busiest by registrations (8 and 4); the other three summed (2 + 1 + 1 registrations).
    assert all_series == {"bounded-00", "bounded-01", OTHER_TENANT}
    assert sc001_count(families, "bounded-00") == 8
    assert sc001_count(families, OTHER_TENANT) == 4
    other_sum = sample_value(
        families, "sc_001_scaffolding_minutes_sum", tenant_slug=OTHER_TENANT, feature_slug="__all__"
    )
    assert other_sum == 2 * 5 + 30 + 600
    le = {"tenant_slug": OTHER_TENANT, "feature_slug": "__all__"}
    assert sample_value(families, "sc_001_scaffolding_minutes_bucket", le="5.0", **le) == 2
    assert sample_value(families, "sc_001_scaffolding_minutes_bucket", le="30.0", **le) == 3
    assert sample_value(families, "sc_001_scaffolding_minutes_bucket", le="+Inf", **le) == 4
    # Per-feature series keep their tenant: they are bounded by their own number (the 2 most recent).
    recent = {
        (s.labels["tenant_slug"], s.labels["feature_slug"])
        for s in families["sc_001_scaffolding_minutes"].samples
        if s.labels["feature_slug"] != "__all__"
    }
    assert recent == {("bounded-03", "f-0"), ("bounded-04", "f-0")}


def test_busiest_tenants_by_power_of_two_then_slug() -> None:
    activity = {"a": 1000.0, "b": 1900.0, "c": 600.0, "d": 3.0, "none": 10_000.0}
    # b (1900) is in [1024, 2048) and ranks first; a (1000) and c (600) are both in [512, 1024): a tie,
    # broken by slug; "none" is not a tenant.
    assert kept_tenants(activity, activity, 2) == {"b", "a"}
    assert kept_tenants(activity, activity, 4) is None  # four tenants ("none" is not one): nothing folds
    assert kept_tenants({"x": 5.0, "y": 7.0, "z": 4.0}, ["x", "y", "z"], 1) == {"x"}  # all in [4, 8): slug


def test_fold_sums_the_rest_into_other_and_keeps_none() -> None:
    family = TenantCounter("test_fold_requests_total", "test", ("route", "tenant"))
    other_family = TenantCounter("test_fold_outcomes_total", "test", ("tenant", "outcome"))
    store, reader = (
        SeriesStore(),
        SeriesReader(ranking=family.name),
    )  # in memory: PROMETHEUS_MULTIPROC_DIR is not set here
    totals = {
        (family.name, ("/a", "big")): 100.0,
        (family.name, ("/a", "small")): 3.0,
        (family.name, ("/b", "small")): 2.0,
        (family.name, ("/a", "tiny")): 1.0,
        (family.name, ("/a", "none")): 7.0,
        (other_family.name, ("tiny", "created")): 5.0,
        (other_family.name, ("big", "created")): 1.0,
    }
    try:
        for (name, labels), value in totals.items():
            store.add(store.slot(name, labels), value)
        first = reader.read(store).fold(max_tenants=1)
        store.add(store.slot(family.name, ("/a", "small")), 1000.0)  # small becomes the busiest
        store.add(store.slot(family.name, ("/c", "new")), 1.0)  # a series first seen after a scrape
        second = reader.read(store).fold(max_tenants=1)
        unfolded = reader.read(store).fold(max_tenants=10)
    finally:
        tenant_series.FAMILIES.pop(family.name)
        tenant_series.FAMILIES.pop(other_family.name)
    assert first[family.name] == {
        ("/a", "big"): 100.0,
        ("/a", OTHER_TENANT): 4.0,
        ("/b", OTHER_TENANT): 2.0,
        ("/a", "none"): 7.0,
    }
    # The same kept set in every family, ranked by the requests of `family`.
    assert first[other_family.name] == {("big", "created"): 1.0, (OTHER_TENANT, "created"): 5.0}
    assert second[family.name] == {
        ("/a", "small"): 1003.0,
        ("/b", "small"): 2.0,
        ("/a", OTHER_TENANT): 101.0,
        ("/c", OTHER_TENANT): 1.0,
        ("/a", "none"): 7.0,
    }
    assert unfolded[family.name][("/c", "new")] == 1.0 and len(unfolded[family.name]) == 6


@pytest.mark.skipif(BACKEND != "sqlite", reason="breaks its SQLite copy of the schema")
async def test_a_failed_part_is_counted_logged_and_the_rest_served(
    make_client: Callable[..., httpx.AsyncClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with make_client() as client:
        db: Database = client.app.state.services[Database]  # type: ignore[attr-defined]
        before, _ = await scrape(client)
        assert "sc_001_scaffolding_minutes" in before
        async with db.engine.begin() as connection:
            await connection.exec_driver_sql("ALTER TABLE sc001_histograms RENAME TO sc001_gone")
        with structlog.testing.capture_logs() as logs:
            # A logger made under the capture: the module's own may already be cached by an earlier test.
            monkeypatch.setattr(scrape_module, "log", structlog.get_logger(component="foundation.metrics"))
            after, _ = await scrape(client)

    assert "sc_001_scaffolding_minutes" not in after
    errors = "foundation_metrics_scrape_errors_total"
    assert sample_value(after, errors, part="sc_001") - sample_value(before, errors, part="sc_001") == 1
    assert "http_server_requests" in after and "http_server_request_duration_seconds" in after
    assert "process_cpu_seconds" in after
    failed = [e for e in logs if e["event"] == "metrics_part_failed"]
    assert len(failed) == 1 and failed[0]["part"] == "sc_001" and failed[0]["log_level"] == "warning"
    assert "no such table" in failed[0]["error"]


async def test_concurrent_scrapes_share_one_render_and_no_request_connection(
    make_client: Callable[..., httpx.AsyncClient],
) -> None:
    async with make_client(metrics_cache_seconds=30) as client:
        app: Any = client.app  # type: ignore[attr-defined]
        checkouts: list[object] = []
        event.listen(
            app.state.services[Database].engine.sync_engine, "checkout", lambda *a: checkouts.append(a)
        )
        with statements(app.state.services[Database].engine) as request_pool:
            responses = await asyncio.gather(*(client.get("/metrics") for _ in range(50)))
        endpoint = app.state.services[MetricsEndpoint]
    assert [r.status_code for r in responses] == [200] * 50
    assert len({r.content for r in responses}) == 1
    assert endpoint.renders == 1
    assert checkouts == [] and request_pool == []  # the request pool was not touched


async def test_scrapes_during_a_render_wait_for_it_even_without_cache(
    make_client: Callable[..., httpx.AsyncClient],
) -> None:
    async with make_client(metrics_cache_seconds=0) as client:
        responses = await asyncio.gather(*(client.get("/metrics") for _ in range(50)))
        endpoint = client.app.state.services[MetricsEndpoint]  # type: ignore[attr-defined]
    assert [r.status_code for r in responses] == [200] * 50
    assert endpoint.renders < 5  # 1 in practice: the others arrive while it runs (single flight)
