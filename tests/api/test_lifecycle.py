"""The feature lifecycle over HTTP (api.md §3): startedAt / initiatedAt, events, transitions, replays, the one
SC-001 sample per registration, the registrations list, and racing events. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from foundation.scaffolds.lifecycle import minutes_between
from tests.api.helpers import (
    ALFA,
    BETA,
    RFC3339_Z,
    WEAK_ETAG,
    assert_problem,
    assert_ratelimit_headers,
    metrics_path,
    register,
    scaffold_path,
)


def at(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def now() -> datetime:
    return datetime.now(UTC)


def events_path(slug: str, tenant: str = ALFA) -> str:
    return f"{scaffold_path(tenant)}/{slug}/events"


async def event(
    client: httpx.AsyncClient,
    slug: str,
    kind: str,
    *,
    key: str | None = None,
    tenant: str = ALFA,
    **fields: Any,
) -> httpx.Response:
    return await client.post(
        events_path(slug, tenant),
        json={"type": kind, **fields},
        headers={"X-Tenant-Id": tenant, "Idempotency-Key": key or f"event-{uuid.uuid4()}"},
    )


async def sc001_samples(client: httpx.AsyncClient, slug: str, tenant: str = ALFA) -> list[dict[str, Any]]:
    response = await client.get(
        metrics_path(tenant), params={"code": "SC-001", "page_size": 100}, headers={"X-Tenant-Id": tenant}
    )
    assert response.status_code == 200, response.text
    return [item for item in response.json()["data"] if item.get("featureSlug") == slug]


async def histogram_count(client: httpx.AsyncClient, slug: str, tenant_slug: str = "tenant-alfa") -> float:
    """``sc_001_scaffolding_minutes_count`` of one feature as the app's /metrics renders it (0: absent)."""
    text = (await client.get("/metrics")).text
    prefix = f'sc_001_scaffolding_minutes_count{{tenant_slug="{tenant_slug}",feature_slug="{slug}"}} '
    values = [float(line[len(prefix) :]) for line in text.splitlines() if line.startswith(prefix)]
    assert len(values) <= 1, values
    return values[0] if values else 0.0


# --- registration: startedAt and the new representation fields ----------------------------------------------


async def test_started_at_becomes_initiated_at(client: httpx.AsyncClient) -> None:
    started = now() - timedelta(minutes=10)
    response = await register(client, "with-start", startedAt=at(started))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["initiatedAt"] == at(started)
    assert body["events"] == [] and body["leadTimeMinutes"] is None and body["status"] == "initiated"
    assert (await client.get(f"{scaffold_path()}/with-start", headers={"X-Tenant-Id": ALFA})).json() == body

    plain = (await register(client, "without-start")).json()
    assert plain["initiatedAt"] == plain["recordedAt"] and RFC3339_Z.match(plain["initiatedAt"])


async def test_started_at_is_part_of_the_fingerprint(client: httpx.AsyncClient) -> None:
    started = (now() - timedelta(minutes=3)).replace(microsecond=250_000)
    first = await register(client, "fingerprinted", key="fp-key", startedAt=at(started))
    assert first.status_code == 201
    # The same instant written with another offset is the same payload: a replay.
    other_offset = started.astimezone(timezone(timedelta(hours=-3))).isoformat()
    replay = await register(client, "fingerprinted", key="fp-key", startedAt=other_offset)
    assert replay.status_code == 200 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()
    moved = await register(
        client, "fingerprinted", key="fp-key", startedAt=at(started - timedelta(seconds=1))
    )
    assert_problem(moved, 422, "idempotency_payload_mismatch")
    dropped = await register(client, "fingerprinted", key="fp-key")
    assert_problem(dropped, 422, "idempotency_payload_mismatch")


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        (timedelta(minutes=4), True),
        (timedelta(minutes=6), False),
        (-timedelta(hours=23), True),
        (-timedelta(hours=25), False),
    ],
)
async def test_started_at_clock_skew_bounds(
    client: httpx.AsyncClient, offset: timedelta, accepted: bool
) -> None:
    response = await register(client, "skewed", startedAt=at(now() + offset))
    if accepted:
        assert response.status_code == 201, response.text
    else:
        assert_problem(response, 400, "invalid_request", fields=["startedAt"])


@pytest.mark.parametrize("value", ["2026-01-10T10:00:00", "2026-01-10", 1767225600, "yesterday"])
async def test_started_at_must_be_rfc3339_with_offset(client: httpx.AsyncClient, value: Any) -> None:
    assert_problem(await register(client, "bad-start", startedAt=value), 400, "invalid_request")


async def test_registration_without_started_at_keeps_its_fingerprint(client: httpx.AsyncClient) -> None:
    """Clients that never send startedAt (and a retry across the upgrade) keep replaying."""
    first = await register(client, "old-client", key="old-key")
    again = await register(client, "old-client", key="old-key", startedAt=None)
    assert first.status_code == 201 and again.status_code == 200


# --- events: forward transitions, lead time and the SC-001 sample -------------------------------------------


async def test_forward_lifecycle_publishes_one_sc001_sample(client: httpx.AsyncClient) -> None:
    started = now() - timedelta(minutes=42, seconds=30)
    registered = (await register(client, "loan-offers", startedAt=at(started))).json()
    commit = "c" * 40
    steps = [
        ("linted", now() - timedelta(minutes=30), {"commitHash": commit}),
        ("tested", now() - timedelta(minutes=20), {"pipelineUrl": "https://ci.example/runs/7"}),
        ("published", now() - timedelta(minutes=1), {"detail": "deployed to production"}),
    ]
    body: dict[str, Any] = registered
    for kind, when, fields in steps:
        response = await event(client, "loan-offers", kind, occurredAt=at(when), **fields)
        assert response.status_code == 201, response.text
        assert_ratelimit_headers(response)
        assert response.headers["location"] == f"/api/v1/tenants/{ALFA}/features/scaffold/loan-offers"
        assert WEAK_ETAG.match(response.headers["etag"])
        body = response.json()
        assert body["status"] == kind
    assert [e["type"] for e in body["events"]] == ["linted", "tested", "published"]
    assert body["events"][0]["commitHash"] == commit
    assert body["events"][1]["pipelineUrl"] == "https://ci.example/runs/7"
    assert body["events"][2]["detail"] == "deployed to production"
    published_at = parse(body["events"][2]["occurredAt"])
    expected = minutes_between(parse(body["initiatedAt"]), published_at)
    assert body["leadTimeMinutes"] == pytest.approx(expected) and 41 < expected < 42
    assert body["metrics"] == [
        {
            "code": "SC-001",
            "value": body["leadTimeMinutes"],
            "collectedAt": body["events"][2]["occurredAt"],
            "source": "ci",
            "featureSlug": "loan-offers",
        }
    ]
    assert await sc001_samples(client, "loan-offers") == body["metrics"]
    assert await histogram_count(client, "loan-offers") == 1
    read = await client.get(f"{scaffold_path()}/loan-offers", headers={"X-Tenant-Id": ALFA})
    assert read.json() == body and read.headers["etag"] == response.headers["etag"]
    not_modified = await client.get(
        f"{scaffold_path()}/loan-offers",
        headers={"X-Tenant-Id": ALFA, "If-None-Match": response.headers["etag"]},
    )
    assert not_modified.status_code == 304


async def test_skipping_forward_and_default_occurred_at(client: httpx.AsyncClient) -> None:
    await register(client, "straight-to-prod", startedAt=at(now() - timedelta(minutes=5)))
    before = now()
    response = await event(client, "straight-to-prod", "published")
    after = now()
    assert response.status_code == 201, response.text
    body = response.json()
    occurred = parse(body["events"][0]["occurredAt"])
    assert before - timedelta(milliseconds=1) <= occurred <= after
    assert body["status"] == "published" and 4.9 < body["leadTimeMinutes"] < 6


async def test_registration_with_duration_keeps_its_own_sample(client: httpx.AsyncClient) -> None:
    registered = (await register(client, "timed", durationMs=540_000)).json()
    assert [m["value"] for m in registered["metrics"]] == [9.0]
    published = (await event(client, "timed", "published")).json()
    assert published["leadTimeMinutes"] is not None
    assert published["metrics"] == registered["metrics"]
    assert [s["value"] for s in await sc001_samples(client, "timed")] == [9.0]
    assert await histogram_count(client, "timed") == 1


async def test_backwards_and_after_publication_are_invalid_transitions(client: httpx.AsyncClient) -> None:
    await register(client, "one-way")
    assert (await event(client, "one-way", "tested")).status_code == 201
    problem = assert_problem(await event(client, "one-way", "linted"), 409, "invalid_transition")
    assert problem["type"].endswith("/lifecycle")
    # The current status again (a re-run pipeline) is recorded and changes nothing else.
    again = await event(client, "one-way", "tested")
    assert again.status_code == 201 and again.json()["status"] == "tested"
    assert [e["type"] for e in again.json()["events"]] == ["tested", "tested"]
    assert (await event(client, "one-way", "published")).status_code == 201
    for kind in ("linted", "tested", "published", "failed"):
        assert_problem(await event(client, "one-way", kind), 409, "invalid_transition")
    assert len(await sc001_samples(client, "one-way")) == 1


async def test_failed_is_recorded_and_leaves_the_status(client: httpx.AsyncClient) -> None:
    await register(client, "flaky")
    await event(client, "flaky", "linted")
    response = await event(client, "flaky", "failed", stage="test", detail="3 tests failed")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "linted"
    assert body["events"][-1] | {"occurredAt": "", "recordedAt": ""} == {
        "type": "failed",
        "stage": "test",
        "detail": "3 tests failed",
        "occurredAt": "",
        "recordedAt": "",
    }
    assert_problem(
        await event(client, "flaky", "tested", stage="test"), 400, "invalid_request", fields=["stage"]
    )


async def test_events_are_ordered_by_occurred_at(client: httpx.AsyncClient) -> None:
    base = now() - timedelta(minutes=30)
    await register(client, "late-report", startedAt=at(base))
    await event(client, "late-report", "tested", occurredAt=at(base + timedelta(minutes=20)))
    # A failure reported late that happened before the tests passed is listed before them.
    body = (
        await event(client, "late-report", "failed", stage="lint", occurredAt=at(base + timedelta(minutes=5)))
    ).json()
    assert [e["type"] for e in body["events"]] == ["failed", "tested"]


@pytest.mark.parametrize(
    ("shift", "field_ok"),
    [
        (lambda started, current: started - timedelta(seconds=1), False),
        (lambda started, current: started, True),
        (lambda started, current: current + timedelta(minutes=4), True),
        (lambda started, current: current + timedelta(minutes=6), False),
    ],
)
async def test_occurred_at_bounds(
    client: httpx.AsyncClient, shift: Callable[[datetime, datetime], datetime], field_ok: bool
) -> None:
    started = now().replace(microsecond=0) - timedelta(hours=2)
    await register(client, "bounded", startedAt=at(started))
    response = await event(client, "bounded", "linted", occurredAt=at(shift(started, now())))
    if field_ok:
        assert response.status_code == 201, response.text
    else:
        assert_problem(response, 400, "invalid_request", fields=["occurredAt"])


@pytest.mark.parametrize(
    ("fields", "violation"),
    [
        ({"type": "deployed"}, "type"),
        ({"type": "linted", "commitHash": "ABC"}, "commitHash"),
        ({"type": "linted", "pipelineUrl": "ftp://ci.example/1"}, "pipelineUrl"),
        ({"type": "linted", "pipelineUrl": "https://user:secret@ci.example/1"}, "pipelineUrl"),
        ({"type": "linted", "pipelineUrl": "https://ci.example/" + "x" * 600}, "pipelineUrl"),
        ({"type": "failed", "stage": "deploy"}, "stage"),
        ({"type": "failed", "detail": "x" * 1025}, "detail"),
        ({"type": "linted", "occurredAt": "2026-01-10T10:00:00"}, "occurredAt"),
    ],
)
async def test_event_body_validation(
    client: httpx.AsyncClient, fields: dict[str, Any], violation: str
) -> None:
    await register(client, "validated")
    response = await client.post(
        events_path("validated"), json=fields, headers={"X-Tenant-Id": ALFA, "Idempotency-Key": "v-1"}
    )
    assert_problem(response, 400, "invalid_request", fields=[violation])


# --- events: idempotency, unknown registrations, headers ----------------------------------------------------


async def test_event_replay_and_mismatch(client: httpx.AsyncClient) -> None:
    await register(client, "replayed")
    first = await event(client, "replayed", "linted", key="ci-lint-1", commitHash="d" * 40)
    assert first.status_code == 201 and first.headers["idempotency-key"] == "ci-lint-1"
    replay = await event(client, "replayed", "linted", key="ci-lint-1", commitHash="d" * 40)
    assert replay.status_code == 200
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json() and replay.headers["etag"] == first.headers["etag"]
    tested = (await event(client, "replayed", "tested")).json()
    # A replay answers the registration as it is now, and records nothing.
    late_replay = await event(client, "replayed", "linted", key="ci-lint-1", commitHash="d" * 40)
    assert late_replay.status_code == 200 and late_replay.json() == tested
    assert len(tested["events"]) == 2
    other = await event(client, "replayed", "linted", key="ci-lint-1", commitHash="e" * 40)
    assert_problem(other, 422, "idempotency_payload_mismatch")
    await register(client, "elsewhere")
    assert_problem(
        await event(client, "elsewhere", "linted", key="ci-lint-1", commitHash="d" * 40),
        422,
        "idempotency_payload_mismatch",
    )


async def test_replay_after_publication_is_not_a_conflict(client: httpx.AsyncClient) -> None:
    await register(client, "shipped")
    first = await event(client, "shipped", "published", key="deploy-9")
    replay = await event(client, "shipped", "published", key="deploy-9")
    assert first.status_code == 201 and replay.status_code == 200
    assert replay.json() == first.json()


async def test_unknown_registration_tenant_and_key(client: httpx.AsyncClient) -> None:
    assert_problem(await event(client, "never-registered", "linted"), 404, "not_found")
    assert_problem(await event(client, "Not_A_Slug", "linted"), 404, "not_found")
    assert_problem(await event(client, "x", "linted", tenant="tenant-nowhere"), 404, "tenant_not_found")
    await register(client, "keyed")
    missing = await client.post(events_path("keyed"), json={"type": "linted"}, headers={"X-Tenant-Id": ALFA})
    assert_problem(missing, 400, "idempotency_key_required", fields=["Idempotency-Key"])
    mismatch = await client.post(
        events_path("keyed"), json={"type": "linted"}, headers={"X-Tenant-Id": BETA, "Idempotency-Key": "k"}
    )
    assert_problem(mismatch, 400, "tenant_header_mismatch")
    # Another tenant's registration of the same slug is not this one.
    assert_problem(await event(client, "keyed", "linted", tenant=BETA), 404, "not_found")


async def test_events_are_not_registration_attempts(client: httpx.AsyncClient) -> None:
    """foundation_scaffold_registrations_total counts registrations only."""
    await register(client, "counted")

    async def total() -> float:
        exposition = (await client.get("/metrics")).text
        return sum(
            sample.value
            for family in text_string_to_metric_families(exposition)
            if family.name == "foundation_scaffold_registrations"
            for sample in family.samples
            if sample.name.endswith("_total") and sample.labels["tenant"] == "tenant-alfa"
        )

    before = await total()
    assert before >= 1
    await event(client, "counted", "linted")
    await event(client, "counted", "published")
    assert_problem(await event(client, "counted", "tested"), 409, "invalid_transition")
    assert await total() == before


# --- the list -----------------------------------------------------------------------------------------------


async def test_list_newest_first_with_status_filter_and_pagination(client: httpx.AsyncClient) -> None:
    for slug in ("first", "second", "third"):
        assert (await register(client, f"list-{slug}")).status_code == 201
    await event(client, "list-second", "published")
    await event(client, "list-third", "linted")
    headers = {"X-Tenant-Id": ALFA}
    everything = await client.get(scaffold_path(), headers=headers)
    assert everything.status_code == 200, everything.text
    assert_ratelimit_headers(everything)
    body = everything.json()
    assert [item["featureSlug"] for item in body["data"]] == ["list-third", "list-second", "list-first"]
    assert body["pagination"] == {"page": 1, "perPage": 25, "totalItems": 3, "totalPages": 1}
    single = (await client.get(f"{scaffold_path()}/list-second", headers=headers)).json()
    assert body["data"][1] == single

    published = (await client.get(scaffold_path(), params={"status": "published"}, headers=headers)).json()
    assert [item["featureSlug"] for item in published["data"]] == ["list-second"]
    assert published["pagination"]["totalItems"] == 1

    page_two = (await client.get(scaffold_path(), params={"page": 2, "page_size": 2}, headers=headers)).json()
    assert [item["featureSlug"] for item in page_two["data"]] == ["list-first"]
    assert page_two["pagination"] == {"page": 2, "perPage": 2, "totalItems": 3, "totalPages": 2}
    far = (await client.get(scaffold_path(), params={"page": 10**12}, headers=headers)).json()
    assert far["data"] == [] and far["pagination"]["page"] == 10**12

    other = (await client.get(scaffold_path(BETA), headers={"X-Tenant-Id": BETA})).json()
    assert other["data"] == []
    assert_problem(
        await client.get(scaffold_path(), params={"status": "shipped"}, headers=headers),
        400,
        "invalid_request",
        fields=["status"],
    )
    assert_problem(
        await client.get(scaffold_path(), params={"page_size": 0}, headers=headers),
        400,
        "invalid_pagination",
        fields=["page_size"],
    )


# --- concurrency --------------------------------------------------------------------------------------------


async def test_racing_events_never_5xx_and_never_two_samples(
    make_client: Callable[..., httpx.AsyncClient],
) -> None:
    """Two app instances on one database (two workers) race different events of one registration. Their
    read caches are off: another process's cache may serve a list up to its TTL old (docs/architecture.md)."""
    settings = {"rate_limit_enabled": False, "read_cache_seconds": 0}
    async with make_client(**settings) as one, make_client(**settings) as two:
        for round_number in range(4):
            slug = f"race-{round_number}"
            assert (await register(one, slug)).status_code == 201
            kinds = ["published", "published", "tested", "linted", "published", "failed"]
            clients = [one, two] * 3
            responses = await asyncio.gather(
                *(event(c, slug, kind) for c, kind in zip(clients, kinds, strict=True))
            )
            statuses = [r.status_code for r in responses]
            assert all(s in (201, 409) for s in statuses), [(r.status_code, r.text) for r in responses]
            published = [r for r, kind in zip(responses, kinds, strict=True) if kind == "published"]
            assert [r.status_code for r in published].count(201) == 1, statuses
            final = (await one.get(f"{scaffold_path()}/{slug}", headers={"X-Tenant-Id": ALFA})).json()
            assert final["status"] == "published"
            assert len(final["events"]) == statuses.count(201)
            assert len(await sc001_samples(two, slug)) == 1
            assert await histogram_count(one, slug) == 1


async def test_racing_replays_of_one_key(client: httpx.AsyncClient) -> None:
    await register(client, "same-key-race")
    responses = await asyncio.gather(
        *(event(client, "same-key-race", "published", key="deploy-once") for _ in range(5))
    )
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 200, 201]
    assert len({r.headers["etag"] for r in responses}) == 1
    assert len(await sc001_samples(client, "same-key-race")) == 1
