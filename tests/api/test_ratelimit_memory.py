"""The in-memory rate-limit store is bounded by configuration, not by tenants (issue #18): with more tenants
than FOUNDATION_RATE_LIMIT_MEMORY_KEYS, the counter whose window started first is forgotten, and budgets of
the tenants still held are exact."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from foundation.http.ratelimit import BoundedMemoryStorage, EndpointClass, RateLimiter, WindowCounters
from foundation.settings import Settings

LIMIT = 10


def limiter(store: str) -> RateLimiter:
    return RateLimiter(
        Settings(
            rate_limit_memory_keys=LIMIT, rate_limit_theme_read_per_minute=5, rate_limit_memory_store=store
        )
    )


def held_counters(rate: RateLimiter) -> int:
    if rate.counters is not None:
        return len(rate.counters.windows)
    storage = rate.storage
    assert isinstance(storage, BoundedMemoryStorage)
    assert len(storage.expirations) <= LIMIT and len(storage.locks) <= 2 * LIMIT + 1
    return len(storage.storage)


@pytest.mark.parametrize("store", ["native", "limits"])
def test_more_tenants_than_the_limit_keep_memory_bounded_and_recent_budgets_exact(store: str) -> None:
    async def scenario() -> None:
        rate = limiter(store)
        assert (rate.counters is not None) == (store == "native")
        for tenant in range(5 * LIMIT):
            decision = await rate.hit(f"tenant-{tenant}", EndpointClass.theme_read)
            assert decision is not None and decision.allowed and decision.remaining == 4
            assert held_counters(rate) <= LIMIT
        # The most recent tenants kept their counters: a second request spends from the same window.
        recent = await rate.hit(f"tenant-{5 * LIMIT - 1}", EndpointClass.theme_read)
        assert recent is not None and recent.remaining == 3
        # The first tenant's counter was forgotten: its next request starts a new window.
        evicted = await rate.hit("tenant-0", EndpointClass.theme_read)
        assert evicted is not None and evicted.remaining == 4
        # A tenant within the limit is still refused past its budget.
        for _ in range(3):
            await rate.hit("tenant-0", EndpointClass.theme_read)
        last = await rate.hit("tenant-0", EndpointClass.theme_read)
        refused = await rate.hit("tenant-0", EndpointClass.theme_read)
        assert last is not None and last.allowed and last.remaining == 0
        assert refused is not None and not refused.allowed

    asyncio.run(scenario())


def test_expired_counters_are_swept_at_most_once_per_interval_and_still_expire_on_read() -> None:
    """The library sweeps all counters after every increment (15 % of a cached read's CPU with 5,000
    tenants); here at most once per sweep interval, while an expired window still restarts at once."""

    async def scenario() -> None:
        storage = BoundedMemoryStorage(max_keys=1000, sweep_seconds=3600)
        sweeps = 0
        real_sweep = storage._MemoryStorage__expire_events  # type: ignore[attr-defined]

        async def counted() -> None:
            nonlocal sweeps
            sweeps += 1
            await real_sweep()

        storage._MemoryStorage__expire_events = counted  # type: ignore[attr-defined]
        for tenant in range(200):
            assert await storage.incr(f"tenant-{tenant}", expiry=0.05) == 1
            await asyncio.sleep(0)  # as between requests: a sweep task started by the increment runs
        await asyncio.sleep(0.1)  # every window above has ended
        assert sweeps == 1, "one sweep per interval, not one per increment"
        assert await storage.incr("tenant-0", expiry=60) == 1, "an ended window restarts on the next hit"

    asyncio.run(scenario())


def test_native_counters_count_exactly_as_the_librarys_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """Same keys in the same order, including ended windows and evictions: the same counts and window ends.

    Both stores read ``time.time()``; a manual clock makes the comparison exact instead of racing the wall
    clock (on a loaded CI machine two stores' hits of one step were 12 ms apart)."""
    now = [1_000_000.0]
    monkeypatch.setattr(time, "time", lambda: now[0])

    async def scenario() -> None:
        native, library = WindowCounters(max_keys=20), BoundedMemoryStorage(max_keys=20, sweep_seconds=3600)
        picks = random.Random(7)  # noqa: S311  # a reproducible key order, not a secret
        for step in range(400):
            key = f"tenant-{picks.randrange(30)}"
            expiry = 0.25 if key.endswith("7") else 60  # some windows end between blocks of 100 hits
            count, ends = native.hit(key, expiry)
            assert count == await library.incr(key, expiry), (step, key)
            assert ends == await library.get_expiry(key), (step, key)
            now[0] += 0.001
            if step % 100 == 99:
                now[0] += 0.3
        assert len(native.windows) <= 20

    asyncio.run(scenario())


def test_a_native_window_ends_on_time_and_restarts_at_the_next_hit(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1_000_000.0]
    monkeypatch.setattr(time, "time", lambda: now[0])
    counters = WindowCounters(max_keys=10)
    assert counters.hit("a", 0.05) == (1, now[0] + 0.05)
    now[0] += 0.049
    assert counters.hit("a", 0.05)[0] == 2, "still inside the window"
    now[0] += 0.001  # the window's end
    count, ends = counters.hit("a", 0.05)
    assert count == 1 and ends == now[0] + 0.05
