"""The ``/metrics`` answer: assembled from independent parts, cached briefly, rendered once at a time.

Parts, each failing on its own: ``sc_001`` (the database read of :class:`Sc001Source`, bounded by a timeout),
``scorecard`` (every tenant's success criteria, success_metrics/scorecard_metrics.py, optional: a snapshot
rendered by a background task, one of the ``background`` coroutines run from :meth:`MetricsEndpoint.start` to
:meth:`MetricsEndpoint.close`),
``tenant_series`` (the tenant-labelled counters of every worker, folded) and ``registry`` (prometheus_client:
the duration histogram, process collector, …). A failed part is left out, counted in
``foundation_metrics_scrape_errors_total{part}`` and logged; the other parts are served with status 200.

Freshness: a rendered answer is reused for ``FOUNDATION_METRICS_CACHE_SECONDS`` (1 s by default) by the
worker that rendered it, and scrapes that arrive while a render is running wait for that render instead of
starting their own (single flight), so 50 concurrent scrapes cost one render, one database read.

Compression: a scraper that accepts gzip (Prometheus always does) gets the answer gzipped, compressed once per
render in the render's thread, so a 5,000-tenant answer crosses the socket as ~5 % of its bytes
(docs/benchmarks.md, "/metrics compressed").
"""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, NamedTuple, Protocol

import structlog

from foundation.observability import metrics, tenant_series

log = structlog.get_logger(component="foundation.metrics")
CLOSE_RETRY_SECONDS = 1.0  # how long close() waits for cancelled background work before cancelling it again
GZIP_LEVEL = 6  # zlib's default: 5.4 % of the bytes of a 5,000-tenant answer, once per render, in a thread


class Exposition(NamedTuple):
    """One rendered answer, as is and gzipped."""

    plain: bytes
    gzipped: bytes


class Sc001Source(Protocol):
    async def read(self) -> Sc001SnapshotLike: ...

    async def dispose(self) -> None: ...


class Sc001SnapshotLike(Protocol):
    @property
    def tenants(self) -> list[metrics.Sc001Distribution]: ...

    @property
    def recent(self) -> list[metrics.Sc001Distribution]: ...


class MetricsEndpoint:
    def __init__(
        self,
        *,
        max_tenants: int,
        cache_seconds: float,
        sc001: Sc001Source | None,
        scorecard: Callable[[], Awaitable[bytes]] | None = None,
        background: Sequence[Callable[[], Coroutine[Any, Any, None]]] = (),
        disposables: Sequence[Callable[[], Awaitable[None]]] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_tenants = max_tenants
        self.cache_seconds = cache_seconds
        self.sc001 = sc001
        self.scorecard = scorecard
        self.clock = clock
        self.background = list(background)
        self.disposables = list(disposables)
        self._tasks: list[asyncio.Task[None]] = []
        self.reader = tenant_series.SeriesReader(ranking=metrics.http_requests.name)
        self.renders = 0  # how many answers were rendered (not served from the cache)
        self._body: Exposition | None = None
        self._expires = 0.0
        self._inflight: asyncio.Future[Exposition] | None = None

    async def exposition(self) -> Exposition:
        if self._body is not None and self.clock() < self._expires:
            return self._body
        if self._inflight is None:
            self._inflight = asyncio.ensure_future(self._render())
            self._inflight.add_done_callback(self._forget)
        # shield: a scrape that disconnects must not cancel the render the others wait for.
        return await asyncio.shield(self._inflight)

    def start(self) -> None:
        """Start the parts' background work (the scorecard's refresh) for the life of the app."""
        if not self._tasks:
            self._tasks = [asyncio.create_task(work()) for work in self.background]

    async def close(self) -> None:
        """Stop the background work and release the engines (no connection stays open between uses)."""
        pending, self._tasks = set(self._tasks), []
        while pending:
            # Cancelled again until done: awaited library code may swallow a cancellation (Python 3.11's
            # asyncio.wait_for does when it arrives as the awaited work completes), and one lost cancel must
            # not hang the shutdown.
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=CLOSE_RETRY_SECONDS)
        if self.sc001 is not None:
            await self.sc001.dispose()
        for dispose in self.disposables:
            await dispose()

    def _forget(self, future: asyncio.Future[Exposition]) -> None:
        if self._inflight is future:
            self._inflight = None
        if not future.cancelled() and future.exception() is None:
            self._body = future.result()
            self._expires = self.clock() + self.cache_seconds

    async def _render(self) -> Exposition:
        self.renders += 1
        sc001 = await self._part("sc_001", self._sc001)
        scorecard = await self._part("scorecard", self.scorecard) if self.scorecard is not None else b""
        # CPU-bound (file merge, formatting): off the event loop, so requests keep being served meanwhile.
        counters = await self._part("tenant_series", lambda: asyncio.to_thread(self._counters))
        # Last: it includes foundation_metrics_scrape_errors_total, incremented above when a part failed.
        registry = await self._part("registry", lambda: asyncio.to_thread(metrics.render_registry))
        plain = registry + counters + sc001 + scorecard
        return Exposition(plain, await asyncio.to_thread(gzip.compress, plain, GZIP_LEVEL))

    async def _part(self, name: str, render: Callable[[], Awaitable[bytes]]) -> bytes:
        try:
            return await render()
        except Exception as exc:
            metrics.scrape_errors.labels(name).inc()
            log.warning("metrics_part_failed", part=name, error_type=type(exc).__name__, error=str(exc)[:300])
            return b""

    async def _sc001(self) -> bytes:
        if self.sc001 is None:
            return b""
        snapshot = await self.sc001.read()  # the tenant series come folded (max_tenants) from the database
        return metrics.render_sc001([*snapshot.tenants, *sorted(snapshot.recent, key=_by_labels)])

    def _counters(self) -> bytes:
        snapshot = self.reader.read(tenant_series.STORE)
        return metrics.render_counters(snapshot.fold(self.max_tenants))


def _by_labels(item: metrics.Sc001Distribution) -> tuple[str, str]:
    return item.tenant_slug, item.feature_slug
