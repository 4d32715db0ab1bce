"""Event-loop lag: how late a timer set every 0.25 s fires, in ``foundation_event_loop_lag_seconds``.

Every request of a worker runs on its one event loop, so the time a ready request waits before the worker
gets to it is this lag: a few milliseconds when the worker keeps up, tens of milliseconds when it is
saturated (each loop iteration then runs the callbacks of many requests), and a stall when something
blocks the loop (CPU-bound work, a synchronous call, a long garbage collection). A stall of
``warn_after_seconds`` or more also logs one ``event_loop_stalled`` warning. The timer costs four wake-ups a
second.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from foundation.observability import metrics

INTERVAL_SECONDS = 0.25
WARN_AFTER_SECONDS = 0.5
log = structlog.get_logger(component="foundation.loop_lag")


async def watch(
    interval: float = INTERVAL_SECONDS,
    warn_after_seconds: float = WARN_AFTER_SECONDS,
    *,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> None:
    """Runs until cancelled. ``clock`` (the loop's clock by default) and ``sleep`` are injectable so the
    measurement is tested on a scripted clock rather than on a real stall."""
    clock = clock or asyncio.get_running_loop().time
    while True:
        due = clock() + interval
        await sleep(interval)
        lag = max(clock() - due, 0.0)
        metrics.event_loop_lag.observe(lag)
        if lag >= warn_after_seconds:
            log.warning("event_loop_stalled", lag_ms=round(lag * 1000))
