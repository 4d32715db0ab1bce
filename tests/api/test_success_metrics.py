"""Tenant success metrics: ingestion with de-duplication, listing and filters."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.helpers import ALFA, JSON_CT, assert_problem, assert_ratelimit_headers, metrics_path, sample

ALFA_HDR = {"X-Tenant-Id": "tenant-alfa"}


async def ingest(client: httpx.AsyncClient, samples: list[dict[str, Any]]) -> httpx.Response:
    return await client.post(metrics_path(), headers=ALFA_HDR, json={"samples": samples})


async def listed(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await client.get(metrics_path(), headers=ALFA_HDR, params={"page_size": 100, **params})
    assert response.status_code == 200, response.text
    return response.json()["data"]  # type: ignore[no-any-return]


async def test_ingest_and_duplicates(client: httpx.AsyncClient) -> None:
    batch = [
        sample("SC-002", 0.5, "2026-04-01T10:00:00Z"),
        sample("SC-003", 97, "2026-04-01T11:00:00Z", "lighthouse", featureSlug="loans"),
    ]
    first = await ingest(client, batch)
    assert first.status_code == 201
    assert first.headers["content-type"] == JSON_CT
    assert first.json() == {"accepted": 2, "duplicates": 0}
    assert_ratelimit_headers(first, 60)
    again = await ingest(client, [*batch, sample("SC-002", 0.6, "2026-04-01T10:00:00Z", "manual")])
    assert again.json() == {"accepted": 1, "duplicates": 2}
    # Same instant written with another offset is the same sample.
    shifted = await ingest(client, [sample("SC-002", 0.5, "2026-04-01T12:00:00+02:00")])
    assert shifted.json() == {"accepted": 0, "duplicates": 1}
    # featureSlug is part of the key.
    other = await ingest(client, [sample("SC-002", 0.5, "2026-04-01T10:00:00Z", featureSlug="x")])
    assert other.json() == {"accepted": 1, "duplicates": 0}


async def test_duplicates_within_one_batch(client: httpx.AsyncClient) -> None:
    response = await ingest(client, [sample(), sample()])
    assert response.status_code == 201
    assert response.json() == {"accepted": 1, "duplicates": 1}


async def test_newest_first_and_filters(client: httpx.AsyncClient) -> None:
    await ingest(
        client,
        [
            sample("SC-004", 1, "2026-05-01T00:00:00Z", "manual"),
            sample("SC-004", 3, "2026-05-03T00:00:00Z", "manual"),
            sample("SC-005", 2, "2026-05-02T00:00:00Z", "manual", featureSlug="f1"),
        ],
    )
    data = await listed(client)
    stamps = [item["collectedAt"] for item in data]
    assert stamps == sorted(stamps, reverse=True)
    sc4 = await listed(client, code="SC-004")
    assert [(i["value"], i["collectedAt"]) for i in sc4] == [
        (3, "2026-05-03T00:00:00.000Z"),
        (1, "2026-05-01T00:00:00.000Z"),
    ]
    assert sc4[0] == {
        "code": "SC-004",
        "value": 3,
        "collectedAt": "2026-05-03T00:00:00.000Z",
        "source": "manual",
    }
    since = await listed(client, since="2026-05-02T00:00:00Z")
    assert {(i["code"], i["value"]) for i in since} == {("SC-004", 3), ("SC-005", 2)}
    since_offset = await listed(client, since="2026-05-02T02:00:00+02:00")
    assert since_offset == since
    assert (await listed(client, code="SC-005", since="2026-05-02T00:00:00Z"))[0]["featureSlug"] == "f1"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"code": "SC-006"}, "code"),
        ({"code": "sc-001"}, "code"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-05-02T00:00:00"}, "since"),
        ({"since": "2026-05-02"}, "since"),
    ],
)
async def test_bad_filters(client: httpx.AsyncClient, params: dict[str, str], field: str) -> None:
    response = await client.get(metrics_path(), headers=ALFA_HDR, params=params)
    assert_problem(response, 400, "invalid_request", fields=[field])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"samples": []}, "samples"),
        ({}, "samples"),
        ({"samples": [sample()] * 501}, "samples"),
        ({"samples": [sample(code="SC-000")]}, "samples[0].code"),
        ({"samples": [sample(source="jenkins")]}, "samples[0].source"),
        ({"samples": [sample(collected_at="2026-04-01T10:00:00")]}, "samples[0].collectedAt"),
        ({"samples": [sample(collected_at="2026-04-01")]}, "samples[0].collectedAt"),
        ({"samples": [sample(collected_at="not a date")]}, "samples[0].collectedAt"),
        ({"samples": [sample(collected_at=1700000000)]}, "samples[0].collectedAt"),
        ({"samples": [sample(collected_at="1700000000")]}, "samples[0].collectedAt"),
        ({"samples": [sample(collected_at="0001-01-01T00:30:00+01:00")]}, "samples[0].collectedAt"),
        ({"samples": [sample(collected_at="9999-12-31T23:59:59-01:00")]}, "samples[0].collectedAt"),
        ({"samples": [sample(collected_at="2026-02-30T00:00:00Z")]}, "samples[0].collectedAt"),
        ({"samples": [sample(value="1")]}, "samples[0].value"),
        ({"samples": [sample(value=True)]}, "samples[0].value"),
        ({"samples": [sample(), sample(featureSlug="Bad Slug")]}, "samples[1].featureSlug"),
    ],
)
async def test_invalid_batches_write_nothing(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    before = await listed(client)
    response = await client.post(metrics_path(), headers=ALFA_HDR, json=body)
    problem = assert_problem(response, 400, "invalid_request")
    assert field in [v["field"] for v in problem["violations"]], problem["violations"]
    assert await listed(client) == before


async def test_500_samples_accepted(client: httpx.AsyncClient) -> None:
    samples = [sample("SC-002", i, f"2026-06-01T00:00:{i % 60:02d}.{i // 60:03d}Z") for i in range(500)]
    response = await ingest(client, samples)
    assert response.status_code == 201
    assert response.json() == {"accepted": 500, "duplicates": 0}


@pytest.mark.parametrize("source", ["ci", "chromatic", "lighthouse", "manual"])
async def test_sources(client: httpx.AsyncClient, source: str) -> None:
    assert (await ingest(client, [sample(source=source)])).json()["accepted"] == 1
    assert (await listed(client, code="SC-002"))[0]["source"] == source


async def test_tenant_id_forms(client: httpx.AsyncClient) -> None:
    for tenant in (ALFA.upper(), "tenant-alfa"):
        response = await client.get(metrics_path(tenant), headers={"X-Tenant-Id": ALFA})
        assert response.status_code == 200
