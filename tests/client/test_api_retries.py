"""Retries of the scaffolding client against a scripted server: backoff, Retry-After, a bounded budget, the
same Idempotency-Key on every attempt, and the spool when nothing confirms."""

from __future__ import annotations

import json
import time
from email.utils import formatdate
from pathlib import Path

import pytest

from foundation.client.scaffold.api import Api, Unconfirmed
from foundation.seed import demo_theme
from foundation.themes.css import render_css
from tests.client.scaffolding import scaffold
from tests.client.scripted import Reply, scripted
from tests.observability.servers import free_port

CREATED = Reply(201, b'{"scaffoldId": "x"}', {"Content-Type": "application/json"})
UNAVAILABLE = Reply(503, b'{"title": "service_unavailable"}', {"Content-Type": "application/problem+json"})


def test_retry_after_is_honoured() -> None:
    with (
        scripted({"POST /r": [Reply(503, b"", {"Retry-After": "1"}), CREATED]}) as script,
        Api(script.url, budget=10) as api,
    ):
        answer = api.request("POST", "/r", json={})
    assert answer.status == 201 and answer.attempts == 2
    first, second = script.seen
    assert second.at - first.at >= 0.95


def test_http_date_retry_after_and_429() -> None:
    soon = formatdate(time.time() + 1, usegmt=True)
    with (
        scripted({"POST /r": [Reply(429, b"", {"Retry-After": soon}), Reply(200, b"{}")]}) as script,
        Api(script.url, budget=10) as api,
    ):
        assert api.request("POST", "/r", json={}).status == 200
    assert len(script.seen) == 2


@pytest.mark.parametrize("status", [400, 401, 404, 409, 422])
def test_final_answers_are_not_retried(status: int) -> None:
    with scripted({"POST /r": [Reply(status, b"{}"), CREATED]}) as script, Api(script.url, budget=10) as api:
        assert api.request("POST", "/r", json={}).status == status
    assert len(script.seen) == 1


def test_budget_bounds_the_retries() -> None:
    started = time.monotonic()
    with (
        scripted({"POST /r": [UNAVAILABLE]}) as script,
        Api(script.url, budget=1.5) as api,
        pytest.raises(Unconfirmed) as caught,
    ):
        api.request("POST", "/r", json={})
    assert caught.value.last_status == 503 and caught.value.attempts == len(script.seen) >= 3
    assert time.monotonic() - started < 10


def test_retry_after_beyond_the_budget_stops_at_once() -> None:
    with (
        scripted({"POST /r": [Reply(503, b"", {"Retry-After": "120"})]}) as script,
        Api(script.url, budget=5) as api,
        pytest.raises(Unconfirmed),
    ):
        api.request("POST", "/r", json={})
    assert len(script.seen) == 1


def test_connection_refused_is_retried_then_unconfirmed() -> None:
    with (
        Api(f"http://127.0.0.1:{free_port()}", budget=1, timeout=1) as api,
        pytest.raises(Unconfirmed) as caught,
    ):
        api.request("GET", "/")
    assert caught.value.attempts >= 2 and "ConnectError" in caught.value.reason


def test_new_retries_with_one_key_then_spools(repo: Path) -> None:
    css = render_css("tenant-alfa", "1.0.0", demo_theme("#0F5132"), root=False)
    replies = {
        "GET /api/v1/tenants/tenant-alfa/themes/current.css": [Reply(200, css, {"Content-Type": "text/css"})],
        "POST /api/v1/tenants/tenant-alfa/features/scaffold": [UNAVAILABLE],
    }
    with scripted(replies) as script:
        run = scaffold(
            "new",
            "retried",
            "--tenant",
            "tenant-alfa",
            "--root",
            str(repo),
            "--json",
            api_url=script.url,
            FOUNDATION_SCAFFOLD_RETRY_SECONDS="1.5",
        )
    assert run.exit_code == 3, run.stderr
    posts = [seen for seen in script.seen if seen.method == "POST"]
    assert len(posts) >= 2
    assert len({p.headers["Idempotency-Key"] for p in posts}) == 1
    assert all(p.headers["traceparent"].startswith("00-") for p in posts)
    report = run.json()
    entry = json.loads((repo / report["spooledTo"]).read_text())
    assert entry["headers"]["Idempotency-Key"] == posts[0].headers["Idempotency-Key"]
    assert json.loads(posts[0].body) == entry["body"]
    assert "spooled to .foundation/spool/" in run.stderr and "foundation scaffold sync" in run.stderr
