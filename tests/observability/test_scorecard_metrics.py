"""/metrics shows every tenant's scorecard as GET …/sc/summary computes it (issue #17), on both backends.

Samples go in through the real POST …/sc and targets through PUT …/sc/targets; each criterion sits on or just
past its target's boundary. The comparison is tenant by tenant, criterion by criterion, with the API's own
answer — value, target and status — so the two paths cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event

from foundation.observability.scrape import MetricsEndpoint

ALFA, BETA = "tenant-alfa", "tenant-beta"
CODES = ("SC-001", "SC-002", "SC-003", "SC-004", "SC-005")


def ago(minutes: float) -> str:
    moment = datetime.now(UTC) - timedelta(hours=1, minutes=minutes)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


async def post(client: httpx.AsyncClient, tenant: str, code: str, values: list[float]) -> None:
    samples = [
        {"code": code, "value": v, "collectedAt": ago(len(values) - i), "source": "manual"}
        for i, v in enumerate(values)
    ]
    path = f"/api/v1/tenant-metrics/{tenant}/sc"
    response = await client.post(path, headers={"X-Tenant-Id": tenant}, json={"samples": samples})
    assert response.status_code == 201, response.text


async def summary(client: httpx.AsyncClient, tenant: str) -> dict[str, dict[str, Any]]:
    path = f"/api/v1/tenant-metrics/{tenant}/sc/summary"
    response = await client.get(path, headers={"X-Tenant-Id": tenant})
    assert response.status_code == 200, response.text
    return {c["code"]: c for c in response.json()["criteria"]}


async def families(client: httpx.AsyncClient) -> dict[str, list[Any]]:
    response = await client.get("/metrics")
    assert response.status_code == 200
    out: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(response.text):
        out.setdefault(family.name, []).extend(family.samples)
    return out


def labelled(samples: list[Any], **labels: str) -> list[Any]:
    return [s for s in samples if all(s.labels.get(k) == v for k, v in labels.items())]


async def fill(client: httpx.AsyncClient) -> None:
    # alfa: SC-001 p95 (nearest rank of 20: the 19th) exactly 60 min; SC-002 latest exactly 95 %;
    # SC-004 mean exactly 98 %; SC-005 one incident (missed); SC-003 no data.
    await post(client, ALFA, "SC-001", [float(m) for m in range(42, 60)] + [60.0, 500.0])
    await post(client, ALFA, "SC-002", [99.0, 95.0])
    await post(client, ALFA, "SC-004", [97.5, 98.5])
    await post(client, ALFA, "SC-005", [1.0])
    # beta: SC-003 99.5 % against its own target of 99.5 (met; the default 100 would miss it).
    await post(client, BETA, "SC-003", [99.5])
    path = f"/api/v1/tenant-metrics/{BETA}/sc/targets"
    response = await client.put(
        path, headers={"X-Tenant-Id": BETA}, json={"targets": [{"code": "SC-003", "value": 99.5}]}
    )
    assert response.status_code == 200, response.text


async def test_metrics_show_each_tenants_scorecard_as_the_api_answers_it(
    make_client: Callable[..., httpx.AsyncClient],
) -> None:
    async with make_client(
        metrics_scorecard_seconds=0, metrics_cache_seconds=0, rate_limit_enabled=False
    ) as c:
        await fill(c)
        exposed = await families(c)
        cards = {tenant: await summary(c, tenant) for tenant in (ALFA, BETA)}
    expected = {
        ALFA: {"SC-001": "met", "SC-002": "met", "SC-003": "no_data", "SC-004": "met", "SC-005": "missed"},
        BETA: {
            "SC-001": "no_data",
            "SC-002": "no_data",
            "SC-003": "met",
            "SC-004": "no_data",
            "SC-005": "no_data",
        },
    }
    for tenant, card in cards.items():
        assert {code: card[code]["status"] for code in CODES} == expected[tenant]
        for code in CODES:
            where = {"tenant": tenant, "code": code}
            status = labelled(exposed["foundation_sc_status"], **where)
            assert [(s.labels["status"], s.value) for s in status] == [(card[code]["status"], 1.0)]
            (target,) = labelled(exposed["foundation_sc_target"], **where)
            assert target.value == card[code]["target"]["value"]
            values = [s.value for s in labelled(exposed.get("foundation_sc_value", []), **where)]
            assert values == ([] if card[code]["value"] is None else [card[code]["value"]])
    assert [s.value for s in labelled(exposed["foundation_sc_value"], tenant=ALFA, code="SC-001")] == [60.0]
    missed = labelled(exposed["foundation_sc_tenants"], code="SC-005", status="missed")
    assert [s.value for s in missed] == [1.0]


async def test_tenants_beyond_the_limit_are_counted_as_other_and_statements_do_not_grow(
    make_client: Callable[..., httpx.AsyncClient],
) -> None:
    settings = {"metrics_scorecard_seconds": 0, "metrics_cache_seconds": 0, "rate_limit_enabled": False}
    async with make_client(metrics_max_tenants=1, **settings) as c:
        await fill(c)  # alfa has 25 samples in the window, beta 1: alfa is the busiest
        endpoint = c.app.state.services[MetricsEndpoint]  # type: ignore[attr-defined]
        engines = (endpoint.sc001.engine, endpoint.scorecard.board.engine)
        seen: list[str] = []
        listener = lambda *args: seen.append(args[2])  # noqa: E731
        for engine in engines:
            event.listen(engine.sync_engine, "before_cursor_execute", listener)
        try:
            exposed = await families(c)
        finally:
            for engine in engines:
                event.remove(engine.sync_engine, "before_cursor_execute", listener)
    tenants_shown = {s.labels["tenant"] for s in exposed["foundation_sc_status"]}
    assert tenants_shown == {ALFA, "__other__"}
    assert not labelled(exposed["foundation_sc_target"], tenant=BETA)
    other = labelled(exposed["foundation_sc_status"], tenant="__other__", code="SC-003")
    by_status = {s.labels["status"]: s.value for s in other}
    total = sum(s.value for s in labelled(exposed["foundation_sc_tenants"], code="SC-003"))
    assert by_status.get("met") == 1.0 and sum(by_status.values()) == total - 1  # all but alfa folded
    met = labelled(exposed["foundation_sc_tenants"], code="SC-003", status="met")
    assert [s.value for s in met] == [1.0]
    # SC-001 (two statements) and the scorecard (three: computed on the scrape with
    # FOUNDATION_METRICS_SCORECARD_SECONDS=0), whatever the number of tenants.
    assert len(seen) == 5, seen
