"""Scaffold POSTs answered by the fast path (foundation.scaffolds.fast_path) must be indistinguishable from
the full stack's answers — status, headers, body, budget, outcome metrics — and everything else must be handed
to the full stack and answered as before."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.api.helpers import ALFA, scaffold_body, scaffold_headers, scaffold_path

# Headers that differ between any two registrations whichever path answers.
PER_REGISTRATION = {"etag", "location", "idempotency-key", "ratelimit-remaining", "ratelimit-reset", "date"}


@pytest.fixture
async def client(make_client: Callable[..., httpx.AsyncClient]) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(rate_limit_scaffold_per_minute=1000) as http:
        yield http


async def counters(client: httpx.AsyncClient) -> dict[str, float]:
    """Fast-path results and alfa's registration outcomes, from the scrape."""
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families((await client.get("/metrics")).text):
        for s in family.samples:
            if s.name == "foundation_scaffold_fast_path_total":
                counts[s.labels["result"]] = counts.get(s.labels["result"], 0) + s.value
            elif (
                s.name == "foundation_scaffold_registrations_total"
                and s.labels.get("tenant") == "tenant-alfa"
            ):
                counts[s.labels["outcome"]] = counts.get(s.labels["outcome"], 0) + s.value
    return counts


def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {
        key: after.get(key, 0) - before.get(key, 0)
        for key in after
        if after.get(key, 0) != before.get(key, 0)
    }


async def post(client: httpx.AsyncClient, body: Any, key: str, **headers: str) -> httpx.Response:
    return await client.post(scaffold_path(), json=body, headers=scaffold_headers(ALFA, key, **headers))


def shape(response: httpx.Response) -> tuple[int, list[tuple[str, str]], list[str]]:
    headers = sorted((k, v) for k, v in response.headers.items() if k not in PER_REGISTRATION)
    return response.status_code, headers, sorted(response.json())


async def test_answers_equal_the_full_stack_answers(client: httpx.AsyncClient) -> None:
    before = await counters(client)
    by_full_stack = await post(client, scaffold_body("slug-a"), "key-a")  # tenant not resolved yet
    middle = await counters(client)
    by_fast_path = await post(client, scaffold_body("slug-b"), "key-b")
    after = await counters(client)
    assert delta(before, middle) == {"handed_over": 1, "created": 1}
    assert delta(middle, after) == {"answered": 1, "created": 1}
    assert shape(by_fast_path) == shape(by_full_stack)
    assert set(by_fast_path.headers) == set(by_full_stack.headers)
    assert by_fast_path.headers["idempotency-key"] == "key-b"
    assert by_fast_path.status_code == 201
    assert by_fast_path.headers["location"].endswith(f"{scaffold_path()}/slug-b")
    assert (
        int(by_fast_path.headers["ratelimit-remaining"])
        == int(by_full_stack.headers["ratelimit-remaining"]) - 1
    )
    stored = await client.get(f"{scaffold_path()}/slug-b", headers={"X-Tenant-Id": ALFA})
    assert stored.json() == by_fast_path.json()
    assert stored.headers["etag"] == by_fast_path.headers["etag"]


async def test_replay_is_answered_with_the_stored_registration(client: httpx.AsyncClient) -> None:
    created = await post(client, scaffold_body("replayed"), "key-replayed")
    before = await counters(client)
    replay = await post(client, scaffold_body("replayed"), "key-replayed")
    assert delta(before, await counters(client)) == {"answered": 1, "replayed": 1}
    assert replay.status_code == 200 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == created.json() and replay.headers["etag"] == created.headers["etag"]


@pytest.mark.parametrize(
    ("case", "status", "outcome"),
    [
        ("other key for a registered slug", 409, "conflict"),
        ("same key, other payload", 422, "conflict"),
        ("invalid body", 400, "rejected"),
        ("if-none-match on a replay", 304, "replayed"),
    ],
)
async def test_everything_else_is_handed_over_and_counted_once(
    client: httpx.AsyncClient, case: str, status: int, outcome: str
) -> None:
    created = await post(client, scaffold_body("taken"), "key-taken")
    await post(client, scaffold_body("warm"), "key-warm")  # the tenant is resolved: the fast path is live
    requests: dict[str, tuple[Any, str, dict[str, str]]] = {
        "other key for a registered slug": (scaffold_body("taken"), "key-other", {}),
        "same key, other payload": (scaffold_body("taken", durationMs=1), "key-taken", {}),
        "invalid body": ({**scaffold_body("bad"), "featureSlug": "Not A Slug"}, "key-bad", {}),
        "if-none-match on a replay": (
            scaffold_body("taken"),
            "key-taken",
            {"If-None-Match": created.headers["etag"]},
        ),
    }
    body, key, extra = requests[case]
    before = await counters(client)
    response = await post(client, body, key, **extra)
    assert response.status_code == status
    assert delta(before, await counters(client)) == {"handed_over": 1, outcome: 1}
    if status >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_a_handed_over_request_is_charged_once(client: httpx.AsyncClient) -> None:
    await post(client, scaffold_body("warm-up"), "key-warm-up")
    first = await post(client, scaffold_body("one"), "key-one")
    invalid = await post(client, {"featureSlug": "two"}, "key-two")  # spends here, answered 400 by the stack
    third = await post(client, scaffold_body("three"), "key-three")
    remaining = [int(r.headers["ratelimit-remaining"]) for r in (first, invalid, third)]
    assert invalid.status_code == 400
    assert remaining == [remaining[0], remaining[0] - 1, remaining[0] - 2]


async def test_exhausted_budget_is_answered_by_the_full_stack(
    make_client: Callable[..., httpx.AsyncClient],
) -> None:
    async with make_client(rate_limit_scaffold_per_minute=2) as limited:
        answers = [await post(limited, scaffold_body(f"f-{i}"), f"k-{i}") for i in range(3)]
        assert [a.status_code for a in answers] == [201, 201, 429]
        assert answers[2].headers["content-type"].startswith("application/problem+json")
        assert answers[2].headers["ratelimit-remaining"] == "0" and "retry-after" in answers[2].headers
        assert (await limited.get(f"{scaffold_path()}/f-2", headers={"X-Tenant-Id": ALFA})).status_code == 404
