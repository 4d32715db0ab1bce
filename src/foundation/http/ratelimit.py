"""Per-tenant, per-endpoint-class rate limits through the ``limits`` library.

One fixed-window counter per (tenant, endpoint class) drives both enforcement and the ``RateLimit-*``
headers. With ``FOUNDATION_REDIS_URL`` set, the counters live in Redis (a ``limits`` storage), shared by
every worker and instance; when Redis fails, the configured policy applies: ``open`` lets the request
through (counted in ``foundation_rate_limit_store_errors_total`` and logged), ``closed`` answers 503.
Otherwise they live in this process's memory: in :class:`WindowCounters` by default, or in the library's
``MemoryStorage`` with ``FOUNDATION_RATE_LIMIT_MEMORY_STORE=limits`` (the same windows; the library costs
~15 µs per request against ~1 µs, a tenth of a cached read: docs/benchmarks.md).
"""

from __future__ import annotations

import math
import time
from collections.abc import Hashable
from enum import StrEnum
from typing import NamedTuple

import structlog
from limits import RateLimitItem, RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, Storage
from limits.storage import storage_from_string

from foundation.http.problem_kinds import Kinds, ProblemError
from foundation.observability import metrics
from foundation.settings import Settings

log = structlog.get_logger(component="foundation.ratelimit")


class EndpointClass(StrEnum):
    scaffold = "scaffold"
    scaffold_read = "scaffold_read"
    theme_read = "theme_read"
    metrics_read = "metrics_read"
    stories_read = "stories_read"
    write = "write"


def limits_from_settings(settings: Settings) -> dict[EndpointClass, int]:
    return {
        EndpointClass.scaffold: settings.rate_limit_scaffold_per_minute,
        EndpointClass.scaffold_read: settings.rate_limit_scaffold_read_per_minute,
        EndpointClass.theme_read: settings.rate_limit_theme_read_per_minute,
        EndpointClass.metrics_read: settings.rate_limit_metrics_read_per_minute,
        EndpointClass.stories_read: settings.rate_limit_stories_read_per_minute,
        EndpointClass.write: settings.rate_limit_write_per_minute,
    }


class Decision(NamedTuple):  # one per request: a named tuple is built faster than a frozen dataclass
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }

    def encoded_headers(self) -> tuple[tuple[bytes, bytes], ...]:
        """The same headers as ASGI pairs, added to every answer of the request (http/response_headers.py)."""
        return (
            (b"ratelimit-limit", b"%d" % self.limit),
            (b"ratelimit-remaining", b"%d" % self.remaining),
            (b"ratelimit-reset", b"%d" % self.reset_seconds),
        )


# How often the in-memory store looks for expired counters to free (BoundedMemoryStorage).
SWEEP_SECONDS = 5.0


class BoundedMemoryStorage(MemoryStorage):
    """``limits``' in-memory storage holding at most ``max_keys`` counters.

    The library's own keeps a counter until its window ends and a lock per key for ever, so its memory grows
    with every tenant seen. Here a new counter beyond the limit first evicts the counter whose window started
    first (the expirations dict is in window-start order); that tenant's next request starts a new window,
    i.e. it may get up to one extra budget in that minute. Locks of counters that are gone are dropped too.
    """

    def __init__(self, max_keys: int, sweep_seconds: float = SWEEP_SECONDS) -> None:
        super().__init__()
        self.max_keys = max_keys
        self.sweep_seconds = sweep_seconds
        self._next_sweep = 0.0

    async def _MemoryStorage__schedule_expiry(self) -> None:
        """The library sweeps every counter for expired ones after *each* increment: with 5,000 tenants
        that scan was 15 % of a cached read's CPU. Counters expire lazily on read anyway (``get``) and the
        key bound caps memory, so the sweep runs at most once per ``sweep_seconds``."""
        now = time.monotonic()
        if now < self._next_sweep:
            return
        self._next_sweep = now + self.sweep_seconds
        await super()._MemoryStorage__schedule_expiry()  # type: ignore[misc]

    async def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        if key not in self.expirations and len(self.expirations) >= self.max_keys:
            oldest = next(iter(self.expirations))
            self.expirations.pop(oldest)
            self.storage.pop(oldest, None)
        if len(self.locks) > 2 * self.max_keys:  # no lock is held across an await in incr/get
            for stale in [k for k in self.locks if k not in self.expirations and k != key]:
                del self.locks[stale]
        return await super().incr(key, expiry, amount)


class WindowCounters:
    """Fixed-window counters in this process's memory, with ``limits``' fixed-window semantics: a window
    starts at a key's first hit and lasts ``expiry`` seconds; a hit's count is its position in the window.

    Plain dictionary work, no lock (nothing awaits between reading and writing a counter). At most
    ``max_keys`` counters: a new one beyond evicts the one whose window started first (the dict is in
    window-start order: a restarted window moves to the end); that tenant's next request starts a new
    window, i.e. it may get up to one extra budget in that minute. Ended windows are replaced on their
    key's next hit or evicted, so nothing needs sweeping.
    """

    def __init__(self, max_keys: int) -> None:
        self.max_keys = max_keys
        self.windows: dict[Hashable, list[float]] = {}  # key → [window end (epoch seconds), count]

    def hit(self, key: Hashable, expiry: float) -> tuple[int, float]:
        """Count one request; returns its position in the window and the window's end."""
        now = time.time()
        window = self.windows.get(key)
        if window is None or window[0] <= now:
            if window is not None:
                del self.windows[key]
            elif len(self.windows) >= self.max_keys:
                del self.windows[next(iter(self.windows))]
            window = self.windows[key] = [now + expiry, 0]
        window[1] += 1
        return int(window[1]), window[0]


class RateLimiter:
    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.rate_limit_enabled
        self.fail_closed = settings.rate_limit_redis_failure == "closed"
        self.counters, self.storage = _stores(settings)
        self.items: dict[EndpointClass, RateLimitItem] = {
            cls: RateLimitItemPerMinute(amount) for cls, amount in limits_from_settings(settings).items()
        }

    async def spent(self, tenant_key: str, endpoint: EndpointClass) -> int:
        """Requests counted in the tenant's current window of ``endpoint`` (0 when none is open)."""
        if self.counters is not None:
            window = self.counters.windows.get((tenant_key, endpoint))
            return int(window[1]) if window is not None and window[0] > time.time() else 0
        assert self.storage is not None  # noqa: S101  # type narrowing: one of the two is set
        return await self.storage.get(self.items[endpoint].key_for(tenant_key, endpoint.value))

    def hit_in_process(self, tenant_key: str, endpoint: EndpointClass) -> Decision:
        """Spend one unit from the in-process counters (only when ``counters`` is set): nothing to await."""
        assert self.counters is not None  # noqa: S101  # the caller checked
        item = self.items[endpoint]
        count, reset_at = self.counters.hit((tenant_key, endpoint), item.get_expiry())
        return _decision(item, count, reset_at)

    async def hit(self, tenant_key: str, endpoint: EndpointClass) -> Decision | None:
        """Spend one unit; ``None`` when the store failed and the policy is fail-open."""
        if self.counters is not None:
            return self.hit_in_process(tenant_key, endpoint)
        item = self.items[endpoint]
        assert self.storage is not None  # noqa: S101  # type narrowing: one of the two is set
        key = item.key_for(tenant_key, endpoint.value)
        try:
            # The fixed-window strategy's hit + get_window_stats, in two storage calls instead of three:
            # the count returned by the increment is this request's position in the window.
            count = await self.storage.incr(key, item.get_expiry())
            reset_at = await self.storage.get_expiry(key)
        except Exception as exc:  # the store is a network dependency when Redis is configured
            policy = "closed" if self.fail_closed else "open"
            metrics.rate_limit_store_errors.labels(policy).inc()
            log.warning("rate_limit_store_unavailable", policy=policy, error_type=type(exc).__name__)
            if self.fail_closed:
                raise ProblemError(
                    Kinds.unavailable,
                    "Rate limiting is unavailable; retry later.",
                    headers={"Retry-After": "5"},
                ) from exc
            return None
        return _decision(item, count, reset_at)


def _decision(item: RateLimitItem, count: int, reset_at: float) -> Decision:
    reset = max(0, math.ceil(reset_at - time.time()))
    return Decision(count <= item.amount, item.amount, max(0, item.amount - count), reset)


def _stores(settings: Settings) -> tuple[WindowCounters | None, Storage | None]:
    """Where the counters live: exactly one of the two is set."""
    if settings.redis_url:
        # redis-py (already a dependency) rather than coredis; short timeouts so an unreachable Redis costs
        # one second at most before the failure policy applies.
        redis = storage_from_string(
            _async_redis_uri(settings.redis_url),
            implementation="redispy",
            key_prefix=settings.rate_limit_key_prefix,
            socket_timeout=1.0,
            socket_connect_timeout=1.0,
        )
        return None, redis  # type: ignore[return-value]
    if settings.rate_limit_memory_store == "limits":
        return None, BoundedMemoryStorage(settings.rate_limit_memory_keys)
    return WindowCounters(settings.rate_limit_memory_keys), None


def _async_redis_uri(url: str | None) -> str:
    assert url is not None  # noqa: S101  # type narrowing, checked by the caller
    return url if url.startswith("async+") else f"async+{url}"
