"""The shortcuts — the response cache and the direct dispatcher — answer exactly as the framework route does.

The same sequence of requests runs against two apps, each on its own fresh database: one with the shortcuts
on (the default), one with both off. Every answer must match — status, body, headers, the rate-limit budget
left — and so must the outcome and rate-limit counters. (Besides this, `make test` runs the whole HTTP and
auth suites once more with the shortcuts off.)
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.api.helpers import (
    STORIES,
    THEME_PATH,
    metrics_path,
    sample,
    scaffold_body,
    scaffold_path,
    story,
)
from tests.conftest import ALFA, BETA, SHORTCUTS_OFF

ALFA_HDR = {"X-Tenant-Id": ALFA}
# Differ between any two registrations, whichever path answers (random ids, clocks).
VOLATILE_FIELDS = {"scaffoldId", "recordedAt", "collectedAt", "traceId", "id", "updatedAt"}
VOLATILE_HEADERS = {"date", "etag", "ratelimit-reset", "retry-after", "content-length"}
COUNTERS = ("foundation_scaffold_registrations_total", "foundation_rate_limited_total")

Step = tuple[str, str, dict[str, str], Any]


def post(key: str, body: Any, **headers: str) -> Step:
    return ("POST", scaffold_path(), {**ALFA_HDR, "Idempotency-Key": key, **headers}, body)


def get(path: str, **headers: str) -> Step:
    return ("GET", path, headers, None)


REGISTRATIONS: list[Step] = [
    post("k-1", scaffold_body("one")),  # created
    post("k-1", scaffold_body("one")),  # replayed
    post("k-2", scaffold_body("one")),  # another key for a registered slug: 409 with Location
    post("k-1", scaffold_body("one", durationMs=1)),  # same key, other payload: 422
    post("k-3", {**scaffold_body("bad"), "featureSlug": "Not A Slug", "slices": []}),  # 400 with violations
    post("k-4", b"{not json"),
    post("k-5", b"\xff\xfe{}"),  # not UTF-8
    post("k-6", b""),
    ("POST", scaffold_path(), {**ALFA_HDR}, scaffold_body("two")),  # no key
    post("bad key with spaces", scaffold_body("two")),
    ("POST", scaffold_path(), {"Idempotency-Key": "k-7"}, scaffold_body("two")),  # no X-Tenant-Id
    post("k-8", scaffold_body("two"), **{"X-Tenant-Id": BETA}),  # mismatched header
    ("POST", scaffold_path("tenant-nope"), {"X-Tenant-Id": "tenant-nope", "Idempotency-Key": "k"}, {}),
    post("k-9", scaffold_body("three", durationMs=600_000)),
    post("k-9", scaffold_body("three", durationMs=600_000), **{"If-None-Match": "*"}),  # 412
    post("k-9", scaffold_body("three", durationMs=600_000), **{"If-None-Match": 'W/"nope"'}),  # 200
    post("k-10", scaffold_body("four")),
    post("k-11", scaffold_body("five")),  # over the budget of 12: 429
    post("k-12", scaffold_body("six")),
    get(f"{scaffold_path()}/one", **ALFA_HDR),
    get(f"{scaffold_path()}/nope", **ALFA_HDR),
]

READS: list[Step] = [
    get(THEME_PATH, **ALFA_HDR),
    get(THEME_PATH, **ALFA_HDR),
    get(THEME_PATH, **ALFA_HDR, **{"If-None-Match": "*"}),
    get(THEME_PATH),
    get(THEME_PATH, **{"X-Tenant-Id": BETA}),
    get(THEME_PATH.replace(ALFA, "tenant-nope"), **ALFA_HDR),
    get(metrics_path(), **ALFA_HDR),
    get(metrics_path() + "?page=2&per_page=1", **ALFA_HDR),
    get(metrics_path() + "?page=2&per_page=1", **ALFA_HDR),
    get(metrics_path() + "?page=0", **ALFA_HDR),
    get(STORIES, **ALFA_HDR),
    get(STORIES, **ALFA_HDR),
    get(STORIES),
    get(STORIES),
    get(STORIES, **{"X-Tenant-Id": "tenant-nope"}),
    ("PUT", STORIES, {}, {"stories": [story(story_id="button--new", tenant=None)]}),
    get(STORIES, **ALFA_HDR),
    ("POST", metrics_path(), ALFA_HDR, {"samples": [sample(value=0.5)]}),
    get(metrics_path(), **ALFA_HDR),
    *[get(THEME_PATH, **ALFA_HDR) for _ in range(7)],  # past the theme budget of 8: 429s
]


def normalised(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "<volatile>" if k in VOLATILE_FIELDS else normalised(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalised(item) for item in value]
    return value


def answer_of(response: httpx.Response) -> tuple[int, Any, list[tuple[str, str]]]:
    body: Any = response.content
    if response.content and "json" in response.headers.get("content-type", ""):
        body = normalised(json.loads(response.content))
    headers = sorted((k, v) for k, v in response.headers.items() if k not in VOLATILE_HEADERS)
    return response.status_code, body, headers


async def counters(client: httpx.AsyncClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families((await client.get("/metrics")).text):
        for s in family.samples:
            if s.name in COUNTERS:
                found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


async def run(client: httpx.AsyncClient, steps: list[Step]) -> list[tuple[int, Any, list[tuple[str, str]]]]:
    answers = []
    for method, path, headers, body in steps:
        content = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else None
        if content is not None:
            headers = {**headers, "Content-Type": "application/json"}
        answers.append(answer_of(await client.request(method, path, headers=headers, content=content)))
    return answers


@pytest.mark.parametrize("steps", [REGISTRATIONS, READS], ids=["registrations", "reads"])
async def test_shortcuts_answer_like_the_framework(
    make_settings: Callable[..., Any], fresh_database: Callable[[], str], steps: list[Step]
) -> None:
    from foundation.app import create_app
    from tests.conftest import AppClient

    limits = {"rate_limit_scaffold_per_minute": 12, "rate_limit_theme_read_per_minute": 8}
    shortcuts = {"read_cache_seconds": 60.0, "direct_dispatch": True}
    answers, counted = [], []
    for options in (shortcuts, SHORTCUTS_OFF):
        # In a thread: on PostgreSQL the clone runs its own event loop (asyncio.run) and this one is running.
        database_url = await asyncio.to_thread(fresh_database)
        settings = make_settings(database_url=database_url, **limits, **options)
        async with AppClient(create_app(settings)) as client:
            before = await counters(client)  # the registry is the process's: count this run's increments
            answers.append(await run(client, steps))
            after = await counters(client)
            counted.append({key: value - before.get(key, 0) for key, value in after.items()})
    for index, (with_shortcuts, without) in enumerate(zip(*answers, strict=True)):
        assert with_shortcuts == without, (index, steps[index][:2])
    assert counted[0] == counted[1]
    statuses = [status for status, _, _ in answers[0]]
    assert 429 in statuses and 200 in statuses, statuses
