"""The shared retry rule (foundation.client.retrying) against a scripted server on 127.0.0.1: what each retry
is told to the callback, what the Unconfirmed carries for the message the clients print, a budget of 0.
The scaffolding client's behaviour through it: test_api_retries.py; the ingestion's:
test_ingest_retries.py."""

from __future__ import annotations

import time
from email.utils import formatdate

import httpx
import pytest

from foundation.client.retrying import Unconfirmed, retry_after, send
from tests.client.scripted import Reply, scripted
from tests.observability.servers import free_port


def test_each_retry_is_told_with_its_reason_and_pause() -> None:
    told: list[tuple[str, float]] = []
    replies = [Reply(503, b"", {"Retry-After": "1"}), Reply(502), Reply(200, b"{}")]
    with scripted({"GET /r": replies}) as script, httpx.Client(base_url=script.url) as client:
        response, attempts = send(lambda: client.get("/r"), budget=10, on_retry=lambda *a: told.append(a))
    assert (response.status_code, attempts, len(script.seen)) == (200, 3, 3)
    assert told[0] == ("HTTP 503", 1.0)
    assert told[1][0] == "HTTP 502" and 0.125 <= told[1][1] <= 0.5  # 0.25 s doubled, with jitter


def test_a_retry_after_of_zero_still_waits_the_backoff() -> None:
    """A server answering 503 with ``Retry-After: 0`` (or a past date) is not hammered: the pauses grow as
    the backoff does, so a 1.5 s budget holds a handful of attempts, not hundreds."""
    told: list[tuple[str, float]] = []
    replies = [
        Reply(503, b"", {"Retry-After": "0"}),
        Reply(503, b"", {"Retry-After": formatdate(0, usegmt=True)}),
    ]
    with (
        scripted({"GET /r": replies * 20}) as script,
        httpx.Client(base_url=script.url) as client,
        pytest.raises(Unconfirmed),
    ):
        send(lambda: client.get("/r"), budget=1.5, on_retry=lambda *a: told.append(a))
    assert 2 <= len(script.seen) <= 6, len(script.seen)
    assert told[0][1] >= 0.125 and told[1][1] >= 0.25, told  # 0.25 s and 0.5 s with jitter, not 0


def test_a_retry_after_beyond_the_budget_carries_the_answer_and_what_was_left() -> None:
    with (
        scripted({"POST /r": [Reply(429, b"{}", {"Retry-After": "60"})]}) as script,
        httpx.Client(base_url=script.url) as client,
        pytest.raises(Unconfirmed) as caught,
    ):
        send(lambda: client.post("/r"), budget=5)
    gave_up = caught.value
    assert (gave_up.attempts, gave_up.last_status, gave_up.reason) == (1, 429, "HTTP 429")
    assert gave_up.response is not None and gave_up.response.status_code == 429 and gave_up.error is None
    assert gave_up.from_retry_after and gave_up.pause == 60 and 4 < gave_up.left <= 5


def test_a_budget_of_zero_sends_once() -> None:
    with (
        httpx.Client(base_url=f"http://127.0.0.1:{free_port()}") as client,
        pytest.raises(Unconfirmed) as caught,
    ):
        send(lambda: client.get("/"), budget=0, on_retry=lambda *a: pytest.fail("no retry"))
    assert caught.value.attempts == 1 and isinstance(caught.value.error, httpx.ConnectError)
    assert caught.value.response is None and not caught.value.from_retry_after


def test_retry_after_values() -> None:
    assert retry_after("7") == 7.0
    assert retry_after(formatdate(0, usegmt=True)) == 0.0  # a date in the past: now
    assert 28 < (retry_after(formatdate(time.time() + 30, usegmt=True)) or 0) <= 30
    assert retry_after(None) is None and retry_after("soon") is None and retry_after("-1") is None
