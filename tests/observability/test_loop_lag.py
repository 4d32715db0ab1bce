"""foundation_event_loop_lag_seconds: a blocked event loop shows up in /metrics and as one warning."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import structlog
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


async def test_a_stall_past_the_threshold_logs_one_warning() -> None:
    with structlog.testing.capture_logs() as logs:
        watch = asyncio.create_task(loop_lag.watch(interval=0.05, warn_after_seconds=0.2))
        await asyncio.sleep(0.12)
        time.sleep(0.3)
        await asyncio.sleep(0.12)
        watch.cancel()
    stalls = [entry for entry in logs if entry["event"] == "event_loop_stalled"]
    assert len(stalls) == 1 and stalls[0]["log_level"] == "warning", logs
    assert 200 <= stalls[0]["lag_ms"] < 1000
