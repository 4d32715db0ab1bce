"""The response cache (foundation.admission.response_cache): a repeated read answered from memory must be the
same answer the full stack gives — body, headers, 304s, problems, budget, metrics — must never outlive a
write made through this process, and never FOUNDATION_READ_CACHE_SECONDS after a write made elsewhere."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from foundation.admission.pipeline import AdmissionPipeline
from foundation.http.ratelimit import EndpointClass
from tests.api.helpers import (
    STORIES,
    THEME_PATH,
    assert_problem,
    metrics_path,
    sample,
    scaffold_path,
    story,
    theme_path,
)
from tests.conftest import ALFA, BETA

ALFA_HDR = {"X-Tenant-Id": ALFA}
# Long enough that no entry expires inside a test, however slow the machine: hits are then deterministic.
STEADY_TTL = 60.0
CACHED_READS: list[tuple[str, str, dict[str, str]]] = [
    ("theme", THEME_PATH, ALFA_HDR),
    ("stylesheet", THEME_PATH + ".css", ALFA_HDR),
    ("stylesheet with root", THEME_PATH + ".css?root=1", ALFA_HDR),
    ("metrics", metrics_path(), ALFA_HDR),
    ("metrics page 2", metrics_path() + "?page=2&per_page=1", ALFA_HDR),
    ("stories of alfa", STORIES, ALFA_HDR),
    ("stories without header", STORIES, {}),
]
PER_REQUEST = {"ratelimit-remaining", "date"}


@pytest.fixture
async def client(make_client: Callable[..., httpx.AsyncClient]) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(read_cache_seconds=STEADY_TTL) as http:
        yield http


async def cache_counts(client: httpx.AsyncClient, route: str) -> dict[str, float]:
    text = (await client.get("/metrics")).text
    counts = {"hit": 0.0, "refresh": 0.0, "miss": 0.0}
    for family in text_string_to_metric_families(text):
        if family.name == "foundation_response_cache":
            for s in family.samples:
                if s.name.endswith("_total") and s.labels["route"] == route:
                    counts[s.labels["result"]] += s.value
    return counts


def comparable(response: httpx.Response) -> tuple[int, bytes, list[tuple[str, str]]]:
    headers = sorted((k, v) for k, v in response.headers.items() if k not in PER_REQUEST)
    return response.status_code, response.content, headers


async def seed_samples(client: httpx.AsyncClient) -> None:
    samples = [sample(value=float(i), collected_at=f"2026-01-0{i + 1}T10:00:00Z") for i in range(3)]
    response = await client.post(metrics_path(), json={"samples": samples}, headers=ALFA_HDR)
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(("name", "path", "headers"), CACHED_READS, ids=[c[0] for c in CACHED_READS])
async def test_replayed_answer_equals_the_full_stack_answer(
    client: httpx.AsyncClient, name: str, path: str, headers: dict[str, str]
) -> None:
    await seed_samples(client)
    route = path.split("?")[0].replace(ALFA, "{tenantId}")
    before = await cache_counts(client, route)
    first = await client.get(path, headers=headers)
    second = await client.get(path, headers=headers)
    third = await client.get(path, headers=headers)
    after = await cache_counts(client, route)
    assert first.status_code == 200, first.text
    assert comparable(second) == comparable(first) == comparable(third)
    assert after["miss"] - before["miss"] == 1 and after["hit"] - before["hit"] == 2, (before, after)
    remaining = [int(r.headers["ratelimit-remaining"]) for r in (first, second, third)]
    assert remaining[0] - 1 == remaining[1] == remaining[2] + 1, "every replay spends one unit of budget"


@pytest.mark.parametrize("path", [THEME_PATH, THEME_PATH + ".css", STORIES])
async def test_if_none_match_on_a_cached_entry_is_the_same_304(client: httpx.AsyncClient, path: str) -> None:
    first = await client.get(path, headers=ALFA_HDR)
    etag = first.headers["etag"]
    full_stack_304 = None
    async with httpx.AsyncClient(transport=client._transport, base_url=str(client.base_url)) as other:
        # A different query string is a different cache entry: the full stack answers this 304.
        full_stack_304 = await other.get(path + "?page=1", headers={**ALFA_HDR, "If-None-Match": etag})
    replayed_304 = await client.get(path, headers={**ALFA_HDR, "If-None-Match": f'"other", {etag}'})
    replayed_200 = await client.get(path, headers={**ALFA_HDR, "If-None-Match": 'W/"stale"'})
    assert replayed_304.status_code == full_stack_304.status_code == 304
    assert replayed_304.content == b""
    assert comparable(replayed_304)[2] == comparable(full_stack_304)[2]
    assert "content-type" not in replayed_304.headers
    assert comparable(replayed_200) == comparable(first)


async def test_budget_runs_out_on_replays_with_one_charge_per_request(
    make_client: Callable[..., httpx.AsyncClient],
) -> None:
    async with make_client(rate_limit_theme_read_per_minute=3, read_cache_seconds=STEADY_TTL) as http:
        answers = [await http.get(THEME_PATH, headers=ALFA_HDR) for _ in range(4)]
        assert [a.status_code for a in answers[:3]] == [200, 200, 200]
        assert [a.headers["ratelimit-remaining"] for a in answers[:3]] == ["2", "1", "0"]
        assert_problem(answers[3], 429, "rate_limit_exceeded")
        assert answers[3].headers["ratelimit-limit"] == "3"
        assert answers[3].headers["retry-after"].isdigit()
        # The fourth request was charged by the cache layer, then answered 429 by the full stack: one charge.
        limiter = http.app.state.services[AdmissionPipeline].limiter  # type: ignore[attr-defined]
        assert await limiter.spent(ALFA, EndpointClass.theme_read) == 4


@pytest.mark.parametrize(
    ("path", "headers", "status", "title"),
    [
        (THEME_PATH, {}, 400, "tenant_header_mismatch"),
        (THEME_PATH, {"X-Tenant-Id": BETA}, 400, "tenant_header_mismatch"),
        (THEME_PATH, {"X-Tenant-Id": "tenant-nope"}, 400, "tenant_header_mismatch"),
        (THEME_PATH.replace(ALFA, "tenant-nope"), ALFA_HDR, 404, "tenant_not_found"),
        (STORIES, {"X-Tenant-Id": "tenant-nope"}, 404, "tenant_not_found"),
        (metrics_path(), {"X-Tenant-Id": BETA}, 400, "tenant_header_mismatch"),
        (metrics_path() + "?page=0", ALFA_HDR, 400, "invalid_pagination"),
        (THEME_PATH, {**ALFA_HDR, "X-Big": "x" * 20000}, 431, "request_header_fields_too_large"),
    ],
)
async def test_problems_are_unchanged_once_the_entry_is_warm(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], status: int, title: str
) -> None:
    for warm in (THEME_PATH, metrics_path(), STORIES):
        assert (await client.get(warm, headers=ALFA_HDR)).status_code == 200
    assert_problem(await client.get(path, headers=headers), status, title)


async def test_writes_are_visible_at_once(client: httpx.AsyncClient) -> None:
    theme = await client.get(THEME_PATH, headers=ALFA_HDR)
    samples = await client.get(metrics_path(), headers=ALFA_HDR)
    stories = await client.get(STORIES, headers=ALFA_HDR)
    stylesheet = await client.get(THEME_PATH + ".css", headers=ALFA_HDR)
    assert (await client.get(THEME_PATH, headers=ALFA_HDR)).content == theme.content  # warm
    assert (await client.get(THEME_PATH + ".css", headers=ALFA_HDR)).content == stylesheet.content

    tokens = {"foundation": {"color.brand.primary": "#000000", "color.brand.on-primary": "#FFFFFF"}}
    published = await client.put(
        theme_path(ALFA, "7.0.0"), json={"categories": tokens, "makeCurrent": True}, headers=ALFA_HDR
    )
    assert published.status_code == 201, published.text
    after = await client.get(THEME_PATH, headers=ALFA_HDR)
    assert after.json()["version"] == "7.0.0" and after.headers["etag"] != theme.headers["etag"]
    css_after = await client.get(THEME_PATH + ".css", headers=ALFA_HDR)
    assert "theme 7.0.0 of" in css_after.text and "--color-brand-primary: #000000;" in css_after.text

    await seed_samples(client)
    assert (await client.get(metrics_path(), headers=ALFA_HDR)).json()["pagination"]["totalItems"] == (
        samples.json()["pagination"]["totalItems"] + 3
    )

    item = story(story_id="button--cache", tenant=None)
    assert (await client.put(STORIES, json={"stories": [item]}, headers={})).status_code == 200
    assert (await client.get(STORIES, headers=ALFA_HDR)).json()["pagination"]["totalItems"] == (
        stories.json()["pagination"]["totalItems"] + 1
    )


async def test_tenants_never_share_an_entry(client: httpx.AsyncClient) -> None:
    beta_story = story(story_id="button--beta-only", tenant=BETA)
    headers = {"X-Tenant-Id": BETA}
    assert (await client.put(STORIES, json={"stories": [beta_story]}, headers=headers)).status_code == 200
    for _ in range(2):
        alfa = (await client.get(STORIES, headers=ALFA_HDR)).json()
        beta = (await client.get(STORIES, headers=headers)).json()
        default = (await client.get(STORIES)).json()
        assert beta_story["storyId"] in {s["storyId"] for s in beta["data"]}
        assert beta_story["storyId"] not in {s["storyId"] for s in alfa["data"]}
        assert beta_story["storyId"] not in {s["storyId"] for s in default["data"]}
        alfa_theme = await client.get(THEME_PATH, headers=ALFA_HDR)
        beta_theme = await client.get(THEME_PATH.replace(ALFA, BETA), headers=headers)
        assert alfa_theme.json()["tenantId"] == ALFA and beta_theme.json()["tenantId"] == BETA


async def theme_requests_counted(client: httpx.AsyncClient, status: str) -> float:
    families = {f.name: f for f in text_string_to_metric_families((await client.get("/metrics")).text)}
    return sum(
        s.value
        for s in families["http_server_requests"].samples
        if s.name == "http_server_requests_total"
        and s.labels["route"] == "/api/v1/tenants/{tenantId}/themes/current"
        and s.labels["tenant"] == "tenant-alfa"
        and s.labels["status_code"] == status
    )


async def test_replays_are_measured_like_full_answers(client: httpx.AsyncClient) -> None:
    before = {status: await theme_requests_counted(client, status) for status in ("200", "304")}
    first = await client.get(THEME_PATH, headers=ALFA_HDR)
    for _ in range(2):
        assert (await client.get(THEME_PATH, headers=ALFA_HDR)).status_code == 200
    conditional = {**ALFA_HDR, "If-None-Match": first.headers["etag"]}
    assert (await client.get(THEME_PATH, headers=conditional)).status_code == 304
    assert await theme_requests_counted(client, "200") - before["200"] == 3
    assert await theme_requests_counted(client, "304") - before["304"] == 1


async def test_disabled_with_a_zero_ttl(make_client: Callable[..., httpx.AsyncClient]) -> None:
    async with make_client(read_cache_seconds=0) as http:
        route = "/api/v1/tenants/{tenantId}/themes/current"
        before = await cache_counts(http, route)
        for _ in range(3):
            assert (await http.get(THEME_PATH, headers=ALFA_HDR)).status_code == 200
        assert await cache_counts(http, route) == before


async def test_another_process_write_is_seen_after_the_ttl(
    make_client: Callable[..., httpx.AsyncClient],
) -> None:
    """Two apps on one database stand for two workers: the reader's entry lives at most its TTL after the read
    that produced it started, so the other worker's publish is visible once the TTL has passed."""
    ttl = 0.3
    async with make_client(read_cache_seconds=ttl) as reader, make_client() as writer:
        before = await reader.get(THEME_PATH, headers=ALFA_HDR)
        tokens = {"foundation": {"color.brand.primary": "#111111", "color.brand.on-primary": "#FFFFFF"}}
        published = await writer.put(
            theme_path(ALFA, "8.0.0"), json={"categories": tokens, "makeCurrent": True}, headers=ALFA_HDR
        )
        assert published.status_code == 201, published.text
        await asyncio.sleep(ttl)
        after = await reader.get(THEME_PATH, headers=ALFA_HDR)
        assert after.json()["version"] == "8.0.0" and after.headers["etag"] != before.headers["etag"]
        assert (await reader.get(THEME_PATH, headers=ALFA_HDR)).content == after.content


@pytest.mark.parametrize("path", [THEME_PATH, metrics_path(), STORIES])
async def test_concurrent_cold_reads_compute_the_answer_once(client: httpx.AsyncClient, path: str) -> None:
    route = path.replace(ALFA, "{tenantId}")
    # Teach the process the tenant without touching any cached read (an unknown registration: 404).
    assert (await client.get(f"{scaffold_path()}/nothing-here", headers=ALFA_HDR)).status_code == 404
    before = await cache_counts(client, route)
    responses = await asyncio.gather(*(client.get(path, headers=ALFA_HDR) for _ in range(20)))
    after = await cache_counts(client, route)
    assert {r.status_code for r in responses} == {200}
    assert len({r.content for r in responses}) == 1
    assert after["miss"] - before["miss"] == 1, "the others waited for the first answer"
    assert after["hit"] - before["hit"] == 19
