"""`foundation metrics ingest` retries transient failures (the rule of foundation.client.retrying, shared with
the scaffolding client), proven through the CLI as a process against a real API:

- a real 429 of the API's per-tenant write budget (1 per minute here): with retries off, one `error:` line
  naming the 429 and what was written; with the default budget, the minute-long ``Retry-After`` is longer
  than the budget, so it gives up at once instead of sleeping;
- a proxy in front of the real API answers 429/503 with ``Retry-After: 1`` or loses an applied write's
  answer (502): the CLI waits, retries, completes, and the API holds everything exactly once;
- other 4xx are final at once; an unreachable API is retried until the budget is spent.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.client.conftest import (
    Site,
    axe_copy,
    error_line,
    ingest,
    own_stories,
    recent,
    stamp,
    start_site,
    storybook_copy,
)
from tests.client.proxy import Lost, flaky_proxy
from tests.client.scripted import Reply
from tests.observability.servers import free_port

pytestmark = pytest.mark.integration

RETRY_ENV = "FOUNDATION_INGEST_RETRY_SECONDS"
STORIES = "/api/v1/design-system/stories"
PROBLEM = {"Content-Type": "application/problem+json"}


def problem(status: int, title: str, **headers: str) -> Reply:
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": "try later"})
    return Reply(status, body.encode(), {**PROBLEM, **headers})


RATE_LIMITED = problem(
    429, "rate_limit_exceeded", **{"Retry-After": "1", "RateLimit-Limit": "1", "RateLimit-Remaining": "0",
                                   "RateLimit-Reset": "1"}
)  # fmt: skip
RESTARTING = problem(503, "service_unavailable", **{"Retry-After": "1"})


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A real API whose tenants may write once a minute (stories and samples spend the same budget)."""
    yield from start_site(
        tmp_path_factory.mktemp("ingest-limited"),
        FOUNDATION_RATE_LIMIT_ENABLED="true",
        FOUNDATION_RATE_LIMIT_WRITE_PER_MINUTE="1",
    )


def storybook_args(tenant: str, tmp_path: Path) -> list[str | Path]:
    path = storybook_copy("index-v5.json", tmp_path, {"tenant-alfa": tenant})
    return ["storybook", path, "--tenant", tenant, "--collected-at", stamp(recent(3))]


def retry_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("retrying ")]


def test_a_real_429_with_retries_off_is_one_error_line_naming_it_and_what_was_written(
    limited: Site, tmp_path: Path
) -> None:
    tenant = limited.new_tenant()
    result = ingest(
        *storybook_args(tenant, tmp_path), api=limited.url, env={RETRY_ENV: "0"}, in_subprocess=True
    )
    line = error_line(result)  # exactly one stderr line: no retry
    assert result.returncode == 1
    assert f"POST /api/v1/tenant-metrics/{tenant}/sc: HTTP 429 rate_limit_exceeded" in line, line
    assert (
        "gave up after 1 attempt: retries are off (--retry-seconds, FOUNDATION_INGEST_RETRY_SECONDS is 0)"
        in line
    )
    assert f"written before the failure: PUT {STORIES} (5 stories)" in line, line
    assert limited.samples(tenant) == [] and len(own_stories(limited, tenant)) == 5


def test_a_real_429_whose_retry_after_exceeds_the_budget_gives_up_at_once(
    limited: Site, tmp_path: Path
) -> None:
    """The API's window is a minute: its Retry-After (~60 s) is longer than the default 30 s budget, so the
    CLI does not wait for nothing; it says so at once."""
    tenant = limited.new_tenant()
    started = time.monotonic()
    result = ingest(*storybook_args(tenant, tmp_path), api=limited.url, in_subprocess=True)
    elapsed = time.monotonic() - started
    line = error_line(result)
    assert result.returncode == 1
    assert "HTTP 429 rate_limit_exceeded" in line, line
    found = re.search(
        r"gave up after 1 attempt: its Retry-After of (\d+) s is longer than the ([\d.]+) s", line
    )
    assert found, line
    assert 30 < int(found[1]) <= 60 and float(found[2]) <= 30, line
    assert "of the 30 s retry budget (--retry-seconds, FOUNDATION_INGEST_RETRY_SECONDS)" in line, line
    assert f"written before the failure: PUT {STORIES} (5 stories)" in line, line
    assert elapsed < 25, elapsed  # a process start and two requests; no pause of 30+ s
    assert limited.samples(tenant) == [] and len(own_stories(limited, tenant)) == 5


def test_a_second_batch_meeting_429_is_retried_after_retry_after_and_written_once(
    site: Site, tmp_path: Path
) -> None:
    tenant = site.new_tenant()
    start = recent(600)
    pages = [
        {
            "timestamp": stamp(start + timedelta(seconds=i)),
            "url": f"http://127.0.0.1/page/{i}",
            "violations": [],
            "incomplete": [],
            "passes": [{"id": "image-alt", "tags": ["wcag2a"], "nodes": []}],
        }
        for i in range(501)
    ]
    path = tmp_path / "many.axe.json"
    path.write_text(json.dumps(pages))
    sc = f"POST /api/v1/tenant-metrics/{tenant}/sc"
    with flaky_proxy(site.url, {sc: [None, RATE_LIMITED, RATE_LIMITED]}) as proxy:
        result = ingest("axe", path, "--tenant", tenant, "--json", api=proxy.url, in_subprocess=True)
    assert result.returncode == 0, result.stderr
    assert retry_lines(result.stderr) == [f"retrying {sc} in 1.0 s (HTTP 429)"] * 2, result.stderr
    written = json.loads(result.stdout)["written"]
    assert written["samples"] == {"accepted": 501, "duplicates": 0}
    assert written["requests"] == [f"{sc} (500 samples)", f"{sc} (1 samples)"]
    posts = proxy.of("POST")
    assert [(p.status, p.forwarded) for p in posts] == [(201, True), (429, False), (429, False), (201, True)]
    assert posts[2].at - posts[1].at >= 0.95 and posts[3].at - posts[2].at >= 0.95
    assert site.criterion(tenant, "SC-004")["samples"] == 501


def test_a_rolling_restart_and_a_lost_answer_are_retried_without_duplicates(
    site: Site, tmp_path: Path
) -> None:
    """The stories PUT meets two 503s of a restarting instance; the sample POST reaches the API but its answer
    is lost (502): the retry is answered as a duplicate, and the API holds one sample and 5 stories."""
    tenant = site.new_tenant()
    sc = f"POST /api/v1/tenant-metrics/{tenant}/sc"
    steps = {f"PUT {STORIES}": [RESTARTING, RESTARTING], sc: [Lost(Reply(502, b"bad gateway"))]}
    with flaky_proxy(site.url, steps) as proxy:
        result = ingest(*storybook_args(tenant, tmp_path), "--json", api=proxy.url, in_subprocess=True)
    assert result.returncode == 0, result.stderr
    lines = retry_lines(result.stderr)
    assert lines[:2] == [f"retrying PUT {STORIES} in 1.0 s (HTTP 503)"] * 2, result.stderr
    assert len(lines) == 3 and re.fullmatch(rf"retrying {sc} in 0\.\d s \(HTTP 502\)", lines[2]), lines
    written = json.loads(result.stdout)["written"]
    assert written["samples"] == {"accepted": 0, "duplicates": 1}  # the lost attempt had written it
    assert written["stories"] == {"upserted": 5}
    assert [(p.status, p.forwarded) for p in proxy.of("PUT")] == [(503, False), (503, False), (200, True)]
    assert [(p.status, p.forwarded) for p in proxy.of("POST")] == [(502, True), (201, True)]
    assert len(site.samples(tenant)) == 1 and len(own_stories(site, tenant)) == 5
    assert site.criterion(tenant, "SC-002")["value"] == 66.666667


@pytest.mark.parametrize(
    ("status", "title"), [(400, "bad_request"), (409, "conflict"), (422, "validation_failed")]
)
def test_other_4xx_are_final_at_once(site: Site, tmp_path: Path, status: int, title: str) -> None:
    tenant = site.new_tenant()
    sc = f"POST /api/v1/tenant-metrics/{tenant}/sc"
    with flaky_proxy(site.url, {sc: [problem(status, title)]}) as proxy:
        result = ingest(*storybook_args(tenant, tmp_path), api=proxy.url)
    line = error_line(result)  # no retry line
    assert result.returncode == 1
    assert f"{sc}: HTTP {status} {title}" in line and "gave up" not in line, line
    assert f"written before the failure: PUT {STORIES} (5 stories)" in line, line
    assert len(proxy.of("POST")) == 1
    assert site.samples(tenant) == []


def test_an_unreachable_api_is_retried_until_the_budget_is_spent(site: Site, tmp_path: Path) -> None:
    tenant = site.new_tenant()
    closed = f"http://127.0.0.1:{free_port()}"
    path = axe_copy("pages.axe.json", tmp_path)
    started = time.monotonic()
    result = ingest("axe", path, "--tenant", tenant, api=closed, env={RETRY_ENV: "1.5"}, in_subprocess=True)
    elapsed = time.monotonic() - started
    assert result.returncode == 1 and "Traceback" not in result.stderr
    *retries, last = result.stderr.strip().splitlines()
    assert retries and all(
        re.fullmatch(r"retrying GET /health in [\d.]+ s \(ConnectError: .+\)", r) for r in retries
    )
    assert last.startswith(f"error: API unreachable at {closed}: ConnectError"), last
    assert f"gave up after {len(retries) + 1} attempts: the 1.5 s retry budget" in last, last
    assert "is spent (nothing was written;" in last, last
    assert elapsed < 20, elapsed
    assert site.samples(tenant) == []


@pytest.mark.parametrize("value", ["soon", "-1", "nan", "inf"])
def test_a_budget_that_is_not_seconds_is_bad_input(site: Site, tmp_path: Path, value: str) -> None:
    tenant = site.new_tenant()
    result = ingest("axe", axe_copy("pages.axe.json", tmp_path), "--tenant", tenant, api=site.url,
                    env={RETRY_ENV: value})  # fmt: skip
    line = error_line(result)
    assert result.returncode == 2 and f"FOUNDATION_INGEST_RETRY_SECONDS): {value!r}" in line, line
    assert site.samples(tenant) == []
