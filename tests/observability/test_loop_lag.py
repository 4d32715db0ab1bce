"""foundation_event_loop_lag_seconds: a blocked event loop shows in /metrics and as one warning per stall."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import pytest
import structlog
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from foundation.observability import loop_lag


async def lag_buckets(client: httpx.AsyncClient) -> dict[str, float]:
    response = await client.get("/metrics")
    assert response.status_code == 200
    for family in text_string_to_metric_families(response.text):
        if family.name == "foundation_event_loop_lag_seconds":
            return {
                sample.labels.get("le", sample.name): sample.value
                for sample in family.samples
                if sample.name.endswith(("_bucket", "_count"))
            }
    raise AssertionError("foundation_event_loop_lag_seconds is not exposed")


@pytest.mark.timing  # a real 0.4 s block against real 0.25 s ticks: a loaded machine adds lag of its own
async def test_a_blocked_loop_is_observed_as_lag_over_a_tenth_of_a_second(
    make_client: Callable[..., httpx.AsyncClient],
) -> None:
    async with make_client() as client:
        app = client.app  # type: ignore[attr-defined]
        async with app.router.lifespan_context(app):
            await asyncio.sleep(loop_lag.INTERVAL_SECONDS * 3)  # the watch has run
            before = await lag_buckets(client)
            time.sleep(0.4)  # blocks this event loop, as CPU-bound work in a handler would
            await asyncio.sleep(loop_lag.INTERVAL_SECONDS * 2)
            after = await lag_buckets(client)
    slow_before = before["foundation_event_loop_lag_seconds_count"] - before["0.1"]
    slow_after = after["foundation_event_loop_lag_seconds_count"] - after["0.1"]
    assert slow_after - slow_before >= 1, (before, after)
    assert after["0.1"] > 0  # the unblocked ticks are there too, at under 0.1 s


async def test_each_stall_past_the_threshold_logs_one_warning_and_every_tick_is_observed() -> None:
    """A scripted clock: each sleep of the watch returns ``interval + lag`` later, for the lags below."""
    lags = iter([0.0, 0.05, 0.3, 0.0, 0.6, 0.199])
    now = [1000.0]

    async def sleep(seconds: float) -> None:
        lag = next(lags, None)
        if lag is None:
            raise asyncio.CancelledError  # the script is over: stop as the app's shutdown does
        now[0] += seconds + lag

    histogram = "foundation_event_loop_lag_seconds"
    count_before = REGISTRY.get_sample_value(f"{histogram}_count") or 0.0
    fast_before = REGISTRY.get_sample_value(f"{histogram}_bucket", {"le": "0.1"}) or 0.0
    with structlog.testing.capture_logs() as logs, pytest.raises(asyncio.CancelledError):
        await loop_lag.watch(interval=0.25, warn_after_seconds=0.2, clock=lambda: now[0], sleep=sleep)
    stalls = [entry for entry in logs if entry["event"] == "event_loop_stalled"]
    assert [(entry["lag_ms"], entry["log_level"]) for entry in stalls] == [(300, "warning"), (600, "warning")]
    assert (REGISTRY.get_sample_value(f"{histogram}_count") or 0.0) - count_before == 6
    assert (REGISTRY.get_sample_value(f"{histogram}_bucket", {"le": "0.1"}) or 0.0) - fast_before == 3
