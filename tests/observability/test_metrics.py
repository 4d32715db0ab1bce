"""GET /metrics in process: names, labels, buckets, SC-001 from the database, bounded per-feature series.

Counters are process globals shared by every app in this test process, so HTTP and outcome counters are
checked as deltas between two scrapes; SC-001 is rendered from the test's own fresh database, so it is
checked absolutely. Folding across workers is tested with real servers in test_workers.py.
"""

from __future__ import annotations

import gzip
import secrets
from collections.abc import Callable
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from foundation.observability.metrics import HTTP_BUCKETS, SC001_BUCKETS
from tests.observability.servers import ALFA, BETA, THEME_ROUTE, sample_value

SCAFFOLD_ROUTE = "/api/v1/tenants/{tenantId}/features/scaffold"
Families = dict[str, Any]


async def scrape(client: httpx.AsyncClient) -> Families:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {family.name: family for family in text_string_to_metric_families(response.text)}


def scaffold(slug: str, duration_ms: int | None = 90_000) -> dict[str, Any]:
    body: dict[str, Any] = {
        "featureSlug": slug,
        "initiatedBy": "8c9f8a0e-3c1e-4c7e-9b58-1f9f0b7d2a11",
        "slices": [
            {"slice": "features", "files": [{"path": f"src/features/{slug}.ts", "checksum": "c" * 64}]}
        ],
        "lintCommitHash": "d" * 40,
        "scReferences": ["@SC-001"],
    }
    if duration_ms is not None:
        body["durationMs"] = duration_ms
    return body


async def register(
    client: httpx.AsyncClient,
    tenant: tuple[str, str],
    slug: str,
    key: str | None = None,
    duration_ms: int | None = 90_000,
) -> httpx.Response:
    tenant_id, tenant_slug = tenant
    return await client.post(
        f"/api/v1/tenants/{tenant_id}/features/scaffold",
        json=scaffold(slug, duration_ms),
        headers={"X-Tenant-Id": tenant_slug, "Idempotency-Key": key or secrets.token_hex(8)},
    )


TENANT_ALFA = (ALFA, "tenant-alfa")
TENANT_BETA = (BETA, "tenant-beta")


def sc001(families: Families, tenant: str, feature: str, suffix: str = "_count", **labels: str) -> float:
    return sample_value(
        families, f"sc_001_scaffolding_minutes{suffix}", tenant_slug=tenant, feature_slug=feature, **labels
    )


def sc001_features(families: Families, tenant: str) -> set[str]:
    family = families.get("sc_001_scaffolding_minutes")
    if family is None:
        return set()
    return {s.labels["feature_slug"] for s in family.samples if s.labels["tenant_slug"] == tenant}


async def test_http_metrics_use_route_templates_and_tenant_slugs(
    make_client: Callable[..., httpx.AsyncClient],
) -> None:
    async with make_client(rate_limit_enabled=False) as client:
        before = await scrape(client)
        for _ in range(3):
            response = await client.get(
                f"/api/v1/tenants/{ALFA}/themes/current", headers={"X-Tenant-Id": "tenant-alfa"}
            )
            assert response.status_code == 200
        assert (await client.get(f"/nowhere/{ALFA}")).status_code == 404
        after = await scrape(client)
        text = (await client.get("/metrics")).text

    labels = {"method": "GET", "route": THEME_ROUTE, "status_code": "200", "tenant": "tenant-alfa"}
    delta = sample_value(after, "http_server_requests_total", **labels) - sample_value(
        before, "http_server_requests_total", **labels
    )
    assert delta == 3
    untenanted = {k: v for k, v in labels.items() if k != "tenant"}
    duration = sample_value(after, "http_server_request_duration_seconds_count", **untenanted) - sample_value(
        before, "http_server_request_duration_seconds_count", **untenanted
    )
    assert duration == 3
    # No tenant label on the histogram (observability.md): 15 bucket series per tenant otherwise.
    assert all("tenant" not in s.labels for s in after["http_server_request_duration_seconds"].samples)
    unmatched = {"method": "GET", "route": "unmatched", "status_code": "404", "tenant": "none"}
    assert sample_value(after, "http_server_requests_total", **unmatched) >= 1

    # Never a raw id in a label value, whatever the request path was.
    for family in after.values():
        for sample in family.samples:
            assert ALFA not in "".join(sample.labels.values()), sample

    buckets = [
        s.labels["le"]
        for s in after["http_server_request_duration_seconds"].samples
        if s.name.endswith("_bucket")
        and s.labels["route"] == THEME_ROUTE
        and s.labels["status_code"] == "200"
        and s.labels["method"] == "GET"  # one series: other tests in this process add other label sets
    ]
    assert [float(b) for b in buckets[:-1]] == list(HTTP_BUCKETS) and buckets[-1] == "+Inf"
    assert HTTP_BUCKETS[0] == 0.005 and HTTP_BUCKETS[-1] == 10.0

    assert after["http_server_requests"].type == "counter"
    assert after["http_server_request_duration_seconds"].type == "histogram"
    # Process collectors.
    for name in ("process_cpu_seconds", "process_resident_memory_bytes", "process_open_fds"):
        assert name in after, name
    assert "# TYPE http_server_requests_total counter" in text


async def test_sc001_observed_once_per_created_registration(
    make_client: Callable[..., httpx.AsyncClient],
) -> None:
    async with make_client() as client:
        before = await scrape(client)
        assert sc001(before, "tenant-alfa", "__all__") == 0

        key = secrets.token_hex(8)
        created = await register(client, TENANT_ALFA, "checkout", key, duration_ms=90_000)  # 1.5 min
        assert created.status_code == 201, created.text
        replay = await register(client, TENANT_ALFA, "checkout", key, duration_ms=90_000)
        assert replay.status_code == 200, replay.text
        conflict = await register(client, TENANT_ALFA, "checkout", duration_ms=90_000)
        assert conflict.status_code == 409, conflict.text
        mismatch = await register(client, TENANT_ALFA, "checkout-other", key, duration_ms=1)
        assert mismatch.status_code == 422, mismatch.text
        no_duration = await register(client, TENANT_ALFA, "no-duration", duration_ms=None)
        assert no_duration.status_code == 201
        invalid = await register(client, TENANT_ALFA, "too-long", duration_ms=86_400_001)
        assert invalid.status_code == 400, invalid.text
        after = await scrape(client)

    assert after["sc_001_scaffolding_minutes"].type == "histogram"
    assert sc001(after, "tenant-alfa", "__all__") == 1
    assert sc001(after, "tenant-alfa", "__all__", "_sum") == 1.5
    assert sc001(after, "tenant-alfa", "__all__", "_bucket", le="1.0") == 0
    assert sc001(after, "tenant-alfa", "__all__", "_bucket", le="2.0") == 1
    assert sc001(after, "tenant-alfa", "__all__", "_bucket", le="+Inf") == 1
    assert sc001(after, "tenant-alfa", "checkout") == 1
    assert sc001_features(after, "tenant-alfa") == {"__all__", "checkout"}
    assert sc001_features(after, "tenant-beta") == set()
    les = [
        s.labels["le"]
        for s in after["sc_001_scaffolding_minutes"].samples
        if s.name.endswith("_bucket") and s.labels["feature_slug"] == "__all__"
    ]
    assert [float(b) for b in les[:-1]] == [float(b) for b in SC001_BUCKETS] and les[-1] == "+Inf"

    def outcome(families: Families, name: str) -> float:
        return sample_value(
            families, "foundation_scaffold_registrations_total", tenant="tenant-alfa", outcome=name
        )

    assert outcome(after, "created") - outcome(before, "created") == 2
    assert outcome(after, "replayed") - outcome(before, "replayed") == 1
    assert outcome(after, "conflict") - outcome(before, "conflict") == 2  # 409 and 422
    assert outcome(after, "rejected") - outcome(before, "rejected") == 1  # 400
    posted = {"method": "POST", "route": SCAFFOLD_ROUTE, "status_code": "201", "tenant": "tenant-alfa"}
    assert (
        sample_value(after, "http_server_requests_total", **posted)
        - sample_value(before, "http_server_requests_total", **posted)
        == 2
    )


async def test_sc001_per_feature_series_are_the_most_recent_across_tenants(
    make_client: Callable[..., httpx.AsyncClient],
) -> None:
    async with make_client(metrics_sc001_recent_features=3, rate_limit_enabled=False) as client:
        durations = [60_000 * minutes for minutes in (1, 4, 10, 50, 500, 1440)]
        for index, duration in enumerate(durations):
            response = await register(client, TENANT_ALFA, f"feature-{index}", duration_ms=duration)
            assert response.status_code == 201, response.text
        assert (await register(client, TENANT_BETA, "beta-only", duration_ms=30_000)).status_code == 201
        families = await scrape(client)

    # The 3 most recent registrations of all tenants; every tenant's __all__ series stays complete.
    assert sc001_features(families, "tenant-alfa") == {"__all__", "feature-4", "feature-5"}
    assert sc001_features(families, "tenant-beta") == {"__all__", "beta-only"}
    assert sc001(families, "tenant-alfa", "__all__") == 6
    assert sc001(families, "tenant-alfa", "__all__", "_sum") == 1 + 4 + 10 + 50 + 500 + 1440
    assert sc001(families, "tenant-alfa", "__all__", "_bucket", le="5.0") == 2
    assert sc001(families, "tenant-alfa", "__all__", "_bucket", le="720.0") == 5
    assert sc001(families, "tenant-alfa", "__all__", "_bucket", le="1440.0") == 6
    assert sc001(families, "tenant-alfa", "__all__", "_bucket", le="+Inf") == 6
    assert sc001(families, "tenant-beta", "__all__", "_sum") == 0.5
    assert sc001(families, "tenant-alfa", "feature-5", "_sum") == 1440


async def test_per_feature_series_can_be_turned_off(make_client: Callable[..., httpx.AsyncClient]) -> None:
    async with make_client(metrics_sc001_recent_features=0) as client:
        assert (await register(client, TENANT_ALFA, "only-total", duration_ms=60_000)).status_code == 201
        families = await scrape(client)
    assert sc001_features(families, "tenant-alfa") == {"__all__"}


async def test_rate_limited_requests_are_counted(make_client: Callable[..., httpx.AsyncClient]) -> None:
    async with make_client(rate_limit_enabled=True, rate_limit_theme_read_per_minute=1) as client:
        before = await scrape(client)
        statuses = [
            (
                await client.get(
                    f"/api/v1/tenants/{BETA}/themes/current", headers={"X-Tenant-Id": "tenant-beta"}
                )
            ).status_code
            for _ in range(3)
        ]
        after = await scrape(client)
    assert statuses == [200, 429, 429]
    limited = [
        s
        for s in after["foundation_rate_limited"].samples
        if s.name == "foundation_rate_limited_total" and s.labels["tenant"] == "tenant-beta"
    ]
    assert limited, "no foundation_rate_limited_total series for tenant-beta"
    endpoint = limited[0].labels["endpoint"]
    delta = sample_value(after, "foundation_rate_limited_total", tenant="tenant-beta", endpoint=endpoint) - (
        sample_value(before, "foundation_rate_limited_total", tenant="tenant-beta", endpoint=endpoint)
    )
    assert delta == 2
    labels = {"method": "GET", "route": THEME_ROUTE, "status_code": "429"}
    assert (
        sample_value(after, "http_server_requests_total", **labels)
        - sample_value(before, "http_server_requests_total", **labels)
        == 2
    )


async def test_metrics_disabled_records_nothing(make_client: Callable[..., httpx.AsyncClient]) -> None:
    async with make_client(metrics_enabled=False, rate_limit_enabled=False) as client:
        before = await scrape(client)
        response = await client.get(
            f"/api/v1/tenants/{BETA}/themes/current", headers={"X-Tenant-Id": "tenant-beta"}
        )
        assert response.status_code == 200
        after = await scrape(client)
    labels = {"method": "GET", "route": THEME_ROUTE, "status_code": "200", "tenant": "tenant-beta"}
    assert sample_value(after, "http_server_requests_total", **labels) == sample_value(
        before, "http_server_requests_total", **labels
    )


async def test_a_scraper_that_accepts_gzip_gets_the_same_answer_gzipped(
    make_client: Callable[..., httpx.AsyncClient],
) -> None:
    # A long render cache: both answers come from the same render, one of them compressed.
    async with make_client(metrics_cache_seconds=60) as client:
        await client.get(THEME_ROUTE.format(tenantId=ALFA), headers={"X-Tenant-Id": ALFA})
        plain = await client.get("/metrics", headers={"Accept-Encoding": "identity"})
        async with client.stream("GET", "/metrics", headers={"Accept-Encoding": "gzip"}) as gzipped:
            sent = b"".join([chunk async for chunk in gzipped.aiter_raw()])
    assert "content-encoding" not in plain.headers
    assert gzipped.headers["content-encoding"] == "gzip"
    assert plain.headers["vary"] == gzipped.headers["vary"] == "Accept-Encoding"
    assert len(sent) < len(plain.content) / 3
    assert gzip.decompress(sent) == plain.content


async def test_scrapes_are_counted_under_their_route(make_client: Callable[..., httpx.AsyncClient]) -> None:
    async with make_client(metrics_cache_seconds=0) as client:  # every scrape renders: the first one is seen
        await scrape(client)
        families = await scrape(client)
    samples = families["http_server_request_duration_seconds"].samples
    counts = [s for s in samples if s.name.endswith("_count")]
    assert any(s.labels["route"] == "/metrics" and s.value >= 1 for s in counts)
