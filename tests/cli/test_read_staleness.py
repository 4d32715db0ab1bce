"""The documented staleness bound, across real worker processes: a write acknowledged by one worker is seen by
every read that starts FOUNDATION_READ_CACHE_SECONDS later, whichever worker answers it — also when kept
answers live far longer than that bound, because the change feed (foundation.read_changes) tells every worker
what the write changed."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import pytest

from foundation.http import listeners
from tests.api.helpers import scaffold_body, scaffold_headers, scaffold_path
from tests.observability.servers import (
    THEME_ROUTE,
    running_server,
    sample_value,
    scrape,
    seeded_database,
    server_env,
)
from tests.observability.test_workers import HEADERS, THEME, theme_count_per_pid

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not listeners.REUSE_PORT_BALANCES, reason="workers share connections on Linux only"),
]

TTL = 1.0
TOKENS = {"foundation": {"color.brand.primary": "#123456", "color.brand.on-primary": "#FFFFFF"}}


def read_versions(base_url: str, count: int) -> list[str]:
    """``count`` theme GETs, each on a new connection, so the kernel spreads them over the workers."""
    with httpx.Client(base_url=base_url, limits=httpx.Limits(max_keepalive_connections=0)) as client:
        return [client.get(THEME, headers=HEADERS).json()["version"] for _ in range(count)]


def feed_env(database_url: str, tmp_path: Path, max_age_seconds: float = 300) -> tuple[dict[str, str], Path]:
    """A two-worker server's environment with the 1 s bound and its multiprocess metrics directory."""
    multiproc = tmp_path / "multiproc"
    env = server_env(
        database_url,
        tmp_path / "var",
        FOUNDATION_TRACING_ENABLED="false",
        FOUNDATION_READ_CACHE_SECONDS=str(TTL),
        FOUNDATION_READ_CACHE_MAX_AGE_SECONDS=str(max_age_seconds),
        PROMETHEUS_MULTIPROC_DIR=str(multiproc),
    )
    return env, multiproc


def cache_results(base_url: str) -> dict[str, float]:
    """Both workers' hit / refresh / miss counts of the theme GET (one scrape merges the workers)."""
    families = scrape(base_url)
    return {
        result: sample_value(families, "foundation_response_cache_total", route=THEME_ROUTE, result=result)
        for result in ("hit", "refresh", "miss")
    }


def assert_feed_keeps_answers_and_carries_writes(
    base_url: str, multiproc: Path, headers: dict[str, str]
) -> None:
    """Kept answers outlive the bound without a database read, and a write on one worker still reaches every
    worker's readers within the bound: only the change feed can do both."""
    assert set(read_versions(base_url, 30)) == {"1.0.0"}
    warmed = theme_count_per_pid(multiproc)
    assert len(warmed) == 2, warmed

    time.sleep(2 * TTL)  # every kept answer is now older than the bound
    before = cache_results(base_url)
    assert set(read_versions(base_url, 30)) == {"1.0.0"}
    after = cache_results(base_url)
    assert after["miss"] == before["miss"] and after["refresh"] == before["refresh"], (before, after)
    assert after["hit"] - before["hit"] == 30, (before, after)

    published = httpx.put(
        f"{base_url}/api/v1/tenants/tenant-alfa/themes/3.0.0",
        json={"categories": TOKENS, "makeCurrent": True},
        headers=headers,
    )
    assert published.status_code == 201 and published.json()["current"] is True, published.text
    acknowledged = time.monotonic()
    time.sleep(max(0.0, acknowledged + TTL - time.monotonic()))
    versions = read_versions(base_url, 30)
    answered = theme_count_per_pid(multiproc)
    assert set(versions) == {"3.0.0"}, versions
    assert all(answered[pid] > warmed[pid] for pid in warmed), "both workers answered reads after the write"


def assert_replays_follow_an_event_on_any_worker(base_url: str) -> None:
    """Both workers answer replays of a key from memory; an event recorded by either changes what both
    replay within the bound (scaffolds/kept_keys.py)."""
    key, slug = f"feed-{uuid.uuid4()}", f"feed-{uuid.uuid4().hex[:8]}"
    headers = scaffold_headers(key=key)

    def replay_statuses(count: int) -> set[tuple[int, str]]:
        with httpx.Client(base_url=base_url, limits=httpx.Limits(max_keepalive_connections=0)) as client:
            answers = [
                client.post(scaffold_path(), json=scaffold_body(slug), headers=headers) for _ in range(count)
            ]
        return {(answer.status_code, answer.json()["status"]) for answer in answers}

    created = httpx.post(f"{base_url}{scaffold_path()}", json=scaffold_body(slug), headers=headers)
    assert created.status_code == 201, created.text
    assert replay_statuses(20) == {(200, "initiated")}
    published = httpx.post(
        f"{base_url}{scaffold_path()}/{slug}/events",
        json={"type": "published"},
        headers=scaffold_headers(key=f"event-{uuid.uuid4()}"),
    )
    assert published.status_code == 201, published.text
    acknowledged = time.monotonic()
    time.sleep(max(0.0, acknowledged + TTL - time.monotonic()))
    assert replay_statuses(20) == {(200, "published")}


def test_answers_outlive_the_bound_and_a_write_still_reaches_every_worker_within_it(tmp_path: Path) -> None:
    env, multiproc = feed_env(seeded_database(tmp_path / "db"), tmp_path)
    with running_server(env, tmp_path / "logs", workers=2) as server:
        assert_feed_keeps_answers_and_carries_writes(server.url, multiproc, HEADERS)
        assert_replays_follow_an_event_on_any_worker(server.url)


def test_without_the_feed_answers_live_only_the_bound(tmp_path: Path) -> None:
    """FOUNDATION_READ_CACHE_MAX_AGE_SECONDS at the bound turns the feed off: an answer older than the bound
    is recomputed (the control for the test above)."""
    env, _ = feed_env(seeded_database(tmp_path / "db"), tmp_path, max_age_seconds=TTL)
    with running_server(env, tmp_path / "logs", workers=2) as server:
        read_versions(server.url, 10)
        time.sleep(2 * TTL)
        before = cache_results(server.url)
        read_versions(server.url, 10)
        after = cache_results(server.url)
    assert after["miss"] > before["miss"], (before, after)
