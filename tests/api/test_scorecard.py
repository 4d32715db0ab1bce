"""The success-criteria scorecard: GET …/sc/summary and PUT …/sc/targets (api.md §3), on both backends.

Samples go in through the real POST …/sc; their times are placed relative to now because the window ends at
the request time. Every target is checked at its boundary (exactly on it, just past it, no data).
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from foundation.success_metrics.scorecard import quarter_start
from tests.api.helpers import (
    ALFA,
    BETA,
    JSON_CT,
    WEAK_ETAG,
    assert_problem,
    assert_ratelimit_headers,
    metrics_path,
)
from tests.auth import conftest as auth_fixtures
from tests.auth.conftest import bearer
from tests.conftest import BACKEND

# The JWT fixtures of tests/auth (keys on disk, token minting, a client with FOUNDATION_AUTH=jwt).
_key_material, keys = auth_fixtures._key_material, auth_fixtures.keys
mint, secured = auth_fixtures.mint, auth_fixtures.secured

CODES = ["SC-001", "SC-002", "SC-003", "SC-004", "SC-005"]
DEFAULT_TARGETS = {
    "SC-001": {"aggregate": "p95", "op": "<=", "value": 60.0, "unit": "min"},
    "SC-002": {"aggregate": "latest", "op": ">=", "value": 95.0, "unit": "%"},
    "SC-003": {"aggregate": "latest", "op": ">=", "value": 100.0, "unit": "%"},
    "SC-004": {"aggregate": "mean", "op": ">=", "value": 98.0, "unit": "%"},
    "SC-005": {"aggregate": "sum", "op": "<=", "value": 0.0, "unit": "incidents"},
}
ALFA_HDR = {"X-Tenant-Id": "tenant-alfa"}


def summary_path(tenant: str = ALFA) -> str:
    return f"{metrics_path(tenant)}/summary"


def targets_path(tenant: str = ALFA) -> str:
    return f"{metrics_path(tenant)}/targets"


def ago(**delta: float) -> str:
    moment = datetime.now(UTC) - timedelta(**delta)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


async def post(client: httpx.AsyncClient, code: str, values: list[float], *, tenant: str = ALFA) -> None:
    """One sample per value, one minute apart, newest last (the last value is the latest)."""
    samples = [
        {
            "code": code,
            "value": value,
            "collectedAt": ago(hours=1, minutes=len(values) - i),
            "source": "manual",
        }
        for i, value in enumerate(values)
    ]
    response = await client.post(
        metrics_path(tenant), headers={"X-Tenant-Id": tenant}, json={"samples": samples}
    )
    assert response.status_code == 201, response.text
    assert response.json()["accepted"] == len(values)


async def card(client: httpx.AsyncClient, tenant: str = ALFA, **params: str) -> dict[str, Any]:
    response = await client.get(summary_path(tenant), headers={"X-Tenant-Id": tenant}, params=params)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def criterion(body: dict[str, Any], code: str) -> dict[str, Any]:
    return next(item for item in body["criteria"] if item["code"] == code)


def parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


async def test_empty_scorecard_shape_headers_and_conditional_get(client: httpx.AsyncClient) -> None:
    response = await client.get(summary_path("tenant-alfa"), headers=ALFA_HDR)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == JSON_CT
    assert response.headers["cache-control"] == "private, no-cache"
    assert WEAK_ETAG.match(response.headers["etag"])
    assert_ratelimit_headers(response, 60)
    body = response.json()
    assert body["tenantId"] == ALFA
    assert [item["code"] for item in body["criteria"]] == CODES
    for item in body["criteria"]:
        assert item["target"] == DEFAULT_TARGETS[item["code"]]
        assert (item["value"], item["samples"], item["status"], item["lastCollectedAt"]) == (
            None,
            0,
            "no_data",
            None,
        )
        assert item["title"]
    start, end = parse(body["window"]["from"]), parse(body["window"]["to"])
    assert end - start == timedelta(days=30)
    assert abs((datetime.now(UTC) - end).total_seconds()) < 60
    assert parse(body["quarter"]["from"]) == quarter_start(end)
    assert body["quarter"]["to"] == body["window"]["to"]

    again = await client.get(
        summary_path(), headers={**ALFA_HDR, "If-None-Match": f'"x", {response.headers["etag"]}'}
    )
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == response.headers["etag"]
    await post(client, "SC-002", [96])
    changed = await client.get(
        summary_path(), headers={**ALFA_HDR, "If-None-Match": response.headers["etag"]}
    )
    assert changed.status_code == 200
    assert changed.headers["etag"] != response.headers["etag"]


async def test_sc001_p95_is_nearest_rank_and_60_minutes_is_met(client: httpx.AsyncClient) -> None:
    await post(client, "SC-001", [60.0])
    item = criterion(await card(client), "SC-001")
    assert (item["value"], item["samples"], item["status"]) == (60.0, 1, "met")
    # 20 samples: rank ceil(0.95 * 20) = 19 → the 19th smallest, 60 (the single 120 is the 20th).
    await post(client, "SC-001", [10.0] * 18 + [120.0])
    item = criterion(await card(client), "SC-001")
    assert (item["value"], item["samples"], item["status"]) == (60.0, 20, "met")
    # 21 samples: rank ceil(19.95) = 20 → 120 (an interpolated p95 would be 72 here; nearest rank never is).
    await post(client, "SC-001", [120.0])
    item = criterion(await card(client), "SC-001")
    assert (item["value"], item["samples"], item["status"]) == (120.0, 21, "missed")


async def test_sc001_just_over_60_minutes_is_missed(client: httpx.AsyncClient) -> None:
    await post(client, "SC-001", [60.001])
    assert criterion(await card(client), "SC-001")["status"] == "missed"


async def test_sc002_latest_exactly_95_percent_is_met(client: httpx.AsyncClient) -> None:
    await post(client, "SC-002", [99.0, 95.0])
    item = criterion(await card(client), "SC-002")
    assert (item["value"], item["samples"], item["status"]) == (95.0, 2, "met")
    await post(client, "SC-002", [94.999])  # newer: the latest, although older ones were higher
    item = criterion(await card(client), "SC-002")
    assert (item["value"], item["samples"], item["status"]) == (94.999, 3, "missed")


async def test_sc003_needs_all_flows_verified(client: httpx.AsyncClient) -> None:
    await post(client, "SC-003", [100.0])
    assert criterion(await card(client), "SC-003")["status"] == "met"
    await post(client, "SC-003", [99.9])
    assert criterion(await card(client), "SC-003")["status"] == "missed"


async def test_sc004_mean_exactly_98_percent_is_met(client: httpx.AsyncClient) -> None:
    await post(client, "SC-004", [98.1, 97.9, 100.0, 96.0])
    item = criterion(await card(client), "SC-004")
    assert (item["value"], item["samples"], item["status"]) == (98.0, 4, "met")
    await post(client, "SC-004", [97.5])
    item = criterion(await card(client), "SC-004")
    assert item["value"] == pytest.approx(97.9) and item["status"] == "missed"


async def test_sc005_zero_is_met_one_incident_is_missed(client: httpx.AsyncClient) -> None:
    await post(client, "SC-005", [0.0])
    item = criterion(await card(client), "SC-005")
    assert (item["value"], item["samples"], item["status"]) == (0.0, 1, "met")
    await post(client, "SC-005", [1.0])
    item = criterion(await card(client), "SC-005")
    assert (item["value"], item["samples"], item["status"]) == (1.0, 2, "missed")


async def test_sc005_counts_the_calendar_quarter_not_the_window(client: httpx.AsyncClient) -> None:
    now = datetime.now(UTC)
    start = quarter_start(now)
    before = start - timedelta(seconds=1)
    samples = [
        {"code": "SC-005", "value": 3, "collectedAt": before.isoformat(), "source": "manual"},
        {"code": "SC-005", "value": 0, "collectedAt": start.isoformat(), "source": "manual"},
    ]
    response = await client.post(metrics_path(), headers=ALFA_HDR, json={"samples": samples})
    assert response.status_code == 201
    # A one-year window holds both, the quarter only the clean audit at its first instant.
    item = criterion(await card(client, window="P1Y"), "SC-005")
    assert (item["value"], item["samples"], item["status"]) == (0.0, 1, "met")
    assert item["lastCollectedAt"] == start.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    # The last incident of the previous quarter shows nowhere, even in a one-day window after it.
    assert criterion(await card(client, window="P1D"), "SC-005")["samples"] == 1


async def test_window_bounds_the_samples(client: httpx.AsyncClient) -> None:
    samples = [
        {"code": "SC-004", "value": 50, "collectedAt": ago(days=10), "source": "lighthouse"},
        {"code": "SC-004", "value": 100, "collectedAt": ago(days=2), "source": "lighthouse"},
    ]
    assert (await client.post(metrics_path(), headers=ALFA_HDR, json={"samples": samples})).status_code == 201
    week = criterion(await card(client, window="P7D"), "SC-004")
    assert (week["value"], week["samples"], week["status"]) == (100.0, 1, "met")
    assert parse(week["lastCollectedAt"]) > datetime.now(UTC) - timedelta(days=3)
    month = criterion(await card(client), "SC-004")
    assert (month["value"], month["samples"], month["status"]) == (75.0, 2, "missed")
    assert criterion(await card(client, window="P1D"), "SC-004")["status"] == "no_data"


@pytest.mark.parametrize(
    ("window", "days"), [("P1D", 1), ("P1W", 7), ("P90D", 90), ("P365D", 365), ("P52W", 364)]
)
async def test_day_based_windows(client: httpx.AsyncClient, window: str, days: int) -> None:
    body = await card(client, window=window)
    assert parse(body["window"]["to"]) - parse(body["window"]["from"]) == timedelta(days=days)


@pytest.mark.parametrize(("window", "months"), [("P1M", 1), ("P3M", 3), ("P12M", 12), ("P1Y", 12)])
async def test_month_based_windows_count_calendar_months(
    client: httpx.AsyncClient, window: str, months: int
) -> None:
    body = await card(client, window=window)
    start, end = parse(body["window"]["from"]), parse(body["window"]["to"])
    index = end.year * 12 + end.month - 1 - months
    year, month = divmod(index, 12)
    assert (start.year, start.month) == (year, month + 1)
    assert start.day == min(end.day, calendar.monthrange(start.year, start.month)[1])
    assert start.time() == end.time()


@pytest.mark.parametrize(
    "window",
    [
        "PT24H",
        "PT23H59M59S",
        "P0D",
        "P030D",
        "p30d",
        "P1M15D",
        "P366D",
        "P53W",
        "P13M",
        "P2Y",
        "P1Y1D",
        "P1.5D",
        "-P1D",
        "P",
        "PT",
        "30",
        "",
        "P1DT",
    ],
)
async def test_rejected_windows(client: httpx.AsyncClient, window: str) -> None:
    response = await client.get(summary_path(), headers=ALFA_HDR, params={"window": window})
    body = assert_problem(response, 400, "invalid_request", fields=["window"])
    assert body["violations"][0]["message"]


async def test_tenants_are_separate_and_the_path_takes_a_slug(client: httpx.AsyncClient) -> None:
    await post(client, "SC-002", [50.0])
    await post(client, "SC-002", [97.0], tenant=BETA)
    alfa = await card(client, "tenant-alfa")
    beta = await card(client, BETA)
    assert criterion(alfa, "SC-002")["status"] == "missed"
    assert (criterion(beta, "SC-002")["value"], beta["tenantId"]) == (97.0, BETA)


async def test_tenant_resolution_problems(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get(summary_path()), 400, "tenant_header_mismatch")
    assert_problem(
        await client.get(summary_path(), headers={"X-Tenant-Id": BETA}), 400, "tenant_header_mismatch"
    )
    missing = "/api/v1/tenant-metrics/no-such-tenant/sc/summary"
    assert_problem(
        await client.get(missing, headers={"X-Tenant-Id": "no-such-tenant"}), 404, "tenant_not_found"
    )
    put = await client.put(targets_path(), json={"targets": [{"code": "SC-002", "value": 90}]})
    assert_problem(put, 400, "tenant_header_mismatch")


async def test_tenant_targets_override_defaults_and_null_restores_them(client: httpx.AsyncClient) -> None:
    await post(client, "SC-002", [92.0])
    response = await client.put(
        targets_path(),
        headers=ALFA_HDR,
        json={"targets": [{"code": "SC-002", "value": 90}, {"code": "SC-005", "value": 2}]},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == JSON_CT
    assert WEAK_ETAG.match(response.headers["etag"])
    assert_ratelimit_headers(response, 60)
    body = response.json()
    assert criterion(body, "SC-002")["target"]["value"] == 90.0
    assert criterion(body, "SC-002")["status"] == "met"
    assert criterion(body, "SC-005")["target"]["value"] == 2.0
    assert criterion(body, "SC-004")["target"] == DEFAULT_TARGETS["SC-004"]
    assert criterion(await card(client), "SC-002")["status"] == "met"
    assert (
        criterion(await card(client, BETA), "SC-002")["target"]["value"] == 95.0
    )  # other tenants keep defaults
    # Same PUT again: same answer (idempotent); then null drops the override.
    again = await client.put(
        targets_path(), headers=ALFA_HDR, json={"targets": [{"code": "SC-002", "value": 90}]}
    )
    assert criterion(again.json(), "SC-002")["target"]["value"] == 90.0
    # Items apply in order: a code given twice ends with its last value.
    twice = [{"code": "SC-002", "value": 80}, {"code": "SC-002", "value": 90}]
    twice_body = (await client.put(targets_path(), headers=ALFA_HDR, json={"targets": twice})).json()
    assert criterion(twice_body, "SC-002")["target"]["value"] == 90.0
    reset = await client.put(
        targets_path(), headers=ALFA_HDR, json={"targets": [{"code": "SC-002", "value": None}]}
    )
    assert criterion(reset.json(), "SC-002")["target"]["value"] == 95.0
    assert criterion(reset.json(), "SC-002")["status"] == "missed"
    assert criterion(reset.json(), "SC-005")["target"]["value"] == 2.0


@pytest.mark.parametrize(
    ("targets", "fields"),
    [
        ([{"code": "SC-002", "value": 101}], ["targets[0]"]),
        ([{"code": "SC-004", "value": -1}], ["targets[0]"]),
        ([{"code": "SC-001", "value": 0}], ["targets[0]"]),
        ([{"code": "SC-005", "value": -0.5}], ["targets[0]"]),
        ([{"code": "SC-002", "value": "90"}], ["targets[0].value"]),
        ([{"code": "SC-006", "value": 1}], ["targets[0].code"]),
        ([], ["targets"]),
    ],
)
async def test_invalid_targets_change_nothing(
    client: httpx.AsyncClient, targets: list[dict[str, Any]], fields: list[str]
) -> None:
    response = await client.put(targets_path(), headers=ALFA_HDR, json={"targets": targets})
    assert_problem(response, 400, "invalid_request", fields=fields)
    assert [item["target"] for item in (await card(client))["criteria"]] == list(DEFAULT_TARGETS.values())


async def test_deployment_defaults_come_from_settings(make_client: Callable[..., httpx.AsyncClient]) -> None:
    async with make_client(sc_target_sc004_percent=90.0, sc_target_sc001_minutes=30.0) as client:
        await post(client, "SC-004", [91.0])
        await post(client, "SC-001", [45.0])
        body = await card(client)
    assert (
        criterion(body, "SC-004")["target"]["value"] == 90.0 and criterion(body, "SC-004")["status"] == "met"
    )
    assert (
        criterion(body, "SC-001")["target"]["value"] == 30.0
        and criterion(body, "SC-001")["status"] == "missed"
    )


async def test_openapi_documents_both_operations(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    summary = document["paths"]["/api/v1/tenant-metrics/{tenantId}/sc/summary"]["get"]
    assert {"200", "304", "400", "404", "429"} <= set(summary["responses"])
    assert any(p["name"] == "window" and p["in"] == "query" for p in summary["parameters"])
    content = summary["responses"]["200"]["content"]["application/json; charset=utf-8"]
    schema = content["schema"]["$ref"].rsplit("/", 1)[-1]
    schemas = document["components"]["schemas"]
    assert set(schemas[schema]["properties"]) == {"tenantId", "window", "quarter", "criteria"}
    assert set(schemas["Period"]["properties"]) == {"from", "to"}
    put = document["paths"]["/api/v1/tenant-metrics/{tenantId}/sc/targets"]["put"]
    assert {"200", "400", "404", "413", "429"} <= set(put["responses"])


async def test_scopes_and_tenant_binding(
    secured: Callable[..., httpx.AsyncClient], mint: Callable[..., str]
) -> None:
    reader = mint(scopes=["metrics.read"], tenant=ALFA)
    writer = mint(scopes=["metrics.write"], tenant=ALFA)
    async with secured() as client:
        assert (await client.get(summary_path(), headers=bearer(reader, **ALFA_HDR))).status_code == 200
        assert_problem(await client.get(summary_path(), headers=ALFA_HDR), 401, "unauthenticated")
        assert_problem(await client.get(summary_path(), headers=bearer(writer, **ALFA_HDR)), 403, "forbidden")
        other = await client.get(summary_path(BETA), headers=bearer(reader, **{"X-Tenant-Id": BETA}))
        assert_problem(other, 403, "forbidden")
        body = {"targets": [{"code": "SC-002", "value": 90}]}
        assert_problem(
            await client.put(targets_path(), headers=bearer(reader, **ALFA_HDR), json=body), 403, "forbidden"
        )
        assert (
            await client.put(targets_path(), headers=bearer(writer, **ALFA_HDR), json=body)
        ).status_code == 200
        refused = await client.put(
            targets_path(BETA), headers=bearer(writer, **{"X-Tenant-Id": BETA}), json=body
        )
        assert_problem(refused, 403, "forbidden")


async def test_rate_limits_are_the_metrics_read_and_write_budgets(
    make_client: Callable[..., httpx.AsyncClient],
) -> None:
    async with make_client(rate_limit_metrics_read_per_minute=2, rate_limit_write_per_minute=1) as client:
        for _ in range(2):
            assert (await client.get(summary_path(), headers=ALFA_HDR)).status_code == 200
        limited = await client.get(summary_path(), headers=ALFA_HDR)
        assert_problem(limited, 429, "rate_limit_exceeded")
        assert int(limited.headers["retry-after"]) >= 0
        body = {"targets": [{"code": "SC-002", "value": 90}]}
        assert (await client.put(targets_path(), headers=ALFA_HDR, json=body)).status_code == 200
        assert_problem(
            await client.put(targets_path(), headers=ALFA_HDR, json=body), 429, "rate_limit_exceeded"
        )


@pytest.mark.skipif(BACKEND != "postgres", reason="PostgreSQL only")
async def test_targets_are_isolated_by_row_level_security(
    client: httpx.AsyncClient, database_url: str
) -> None:
    for tenant in (ALFA, BETA):
        response = await client.put(
            targets_path(tenant),
            headers={"X-Tenant-Id": tenant},
            json={"targets": [{"code": "SC-002", "value": 80}]},
        )
        assert response.status_code == 200, response.text
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    connection = await asyncpg.connect(
        user=url.username, password=url.password, host=url.host, port=url.port, database=url.database
    )
    try:
        async with connection.transaction():
            await connection.execute("SELECT set_config('app.tenant_id', $1, true)", ALFA)
            rows = await connection.fetch("SELECT tenant_id::text AS tenant FROM sc_targets")
            assert {row["tenant"] for row in rows} == {ALFA}
        assert await connection.fetch("SELECT * FROM sc_targets") == []  # no tenant context: nothing
        with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError):
            async with connection.transaction():
                await connection.execute("SELECT set_config('app.tenant_id', $1, true)", ALFA)
                insert = (
                    "INSERT INTO sc_targets (tenant_id, code, value, updated_at) "
                    "VALUES ($1, 'SC-003', 1, now())"
                )
                await connection.execute(insert, BETA)
    finally:
        await connection.close()
