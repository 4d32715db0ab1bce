"""Bounded HTTP load that records every answer: scaffold registrations (unique key and slug each) and
current-theme reads, over a fixed number of keep-alive connections, in a background thread.

Chosen over the perf smoke (locust) for the rehearsal because each registration's answer must be kept to
prove afterwards that nothing acknowledged was lost, and each failure must be classified (status, Problem
title, ``Retry-After``, or no answer at all). It is bounded twice: by the caller stopping it and by
``max_seconds``.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType

import httpx


@dataclass(frozen=True)
class Outcome:
    kind: str  # "scaffold" or "theme"
    tenant: str
    slug: str | None
    started: float  # time.monotonic()
    elapsed: float
    status: int | None  # None: no HTTP answer (connection reset, timeout)
    error: str | None = None
    scaffold_id: str | None = None
    content_type: str | None = None
    title: str | None = None
    retry_after: str | None = None

    @property
    def acknowledged(self) -> bool:
        """A registration the API confirmed (201 created, 200 replayed): it must stay readable."""
        return self.kind == "scaffold" and self.status in (200, 201)

    def label(self) -> str:
        if self.status is None:
            return f"no answer ({self.error})"
        return f"{self.status} {self.title}" if self.title else str(self.status)


def scaffold_body(slug: str) -> dict[str, object]:
    return {
        "featureSlug": slug,
        "initiatedBy": "8a0b5f0e-8c55-4c5e-9a43-3f1c2f0d0a11",
        "slices": [
            {"slice": "features", "files": [{"path": f"src/features/{slug}/index.ts", "checksum": "a" * 64}]}
        ],
        "lintCommitHash": "b" * 40,
        "scReferences": ["@SC-001"],
        "durationMs": 90000,
    }


class Load:
    """``with Load(url, tenants) as load: ...`` — ``concurrency`` connections, each sending requests back to
    back; ``read_share`` of them theme GETs, the rest scaffold POSTs."""

    def __init__(
        self,
        base_url: str,
        tenants: Sequence[str],
        *,
        concurrency: int = 16,
        read_share: float = 0.3,
        timeout: float = 40.0,
        max_seconds: float = 300.0,
    ) -> None:
        self.base_url = base_url
        self.tenants = list(tenants)
        self.concurrency = concurrency
        self.read_share = read_share
        self.timeout = timeout
        self.max_seconds = max_seconds
        self.run_id = uuid.uuid4().hex[:8]
        self.outcomes: list[Outcome] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rehearsal-load", daemon=True)
        self._error: BaseException | None = None

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    def stop(self) -> list[Outcome]:
        self._stop.set()
        self._thread.join(timeout=self.timeout + 10)
        if self._error is not None:
            raise RuntimeError("the load generator failed") from self._error
        return self.outcomes

    def wait_for(self, answers: int, timeout: float = 60.0) -> None:
        """Until at least ``answers`` more requests have been answered (any outcome)."""
        target = len(self.outcomes) + answers
        deadline = time.monotonic() + timeout
        while len(self.outcomes) < target:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise TimeoutError(f"only {len(self.outcomes)} of {target} answers after {timeout}s")
            time.sleep(0.05)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported by stop()
            self._error = exc

    async def _main(self) -> None:
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        async with httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout, limits=limits) as client:
            await asyncio.gather(*(self._worker(client, n) for n in range(self.concurrency)))

    async def _worker(self, client: httpx.AsyncClient, number: int) -> None:
        rng = random.Random(f"{self.run_id}-{number}")  # noqa: S311  # which request to send, not security
        deadline = time.monotonic() + self.max_seconds
        count = 0
        while not self._stop.is_set() and time.monotonic() < deadline:
            tenant = rng.choice(self.tenants)
            if rng.random() < self.read_share:
                self.outcomes.append(await self._request(client, "theme", tenant, None))
            else:
                count += 1
                self.outcomes.append(
                    await self._request(client, "scaffold", tenant, f"r-{self.run_id}-{number}-{count}")
                )

    async def _request(self, client: httpx.AsyncClient, kind: str, tenant: str, slug: str | None) -> Outcome:
        headers = {"X-Tenant-Id": tenant}
        started = time.monotonic()
        try:
            if slug is None:
                response = await client.get(f"/api/v1/tenants/{tenant}/themes/current", headers=headers)
            else:
                response = await client.post(
                    f"/api/v1/tenants/{tenant}/features/scaffold",
                    json=scaffold_body(slug),
                    headers={**headers, "Idempotency-Key": slug},
                )
        except httpx.HTTPError as exc:
            return Outcome(kind, tenant, slug, started, time.monotonic() - started, None, type(exc).__name__)
        elapsed = time.monotonic() - started
        content_type = response.headers.get("content-type")
        body = response.json() if content_type and "json" in content_type and response.content else {}
        return Outcome(
            kind,
            tenant,
            slug,
            started,
            elapsed,
            response.status_code,
            scaffold_id=body.get("scaffoldId") if kind == "scaffold" else None,
            content_type=content_type,
            title=body.get("title") if response.status_code >= 400 else None,
            retry_after=response.headers.get("retry-after"),
        )


def tally(outcomes: Sequence[Outcome]) -> Counter[str]:
    """How many answers of each kind: ``{"200": 812, "201": 1544, "503 service_unavailable": 97, ...}``."""
    return Counter(outcome.label() for outcome in outcomes)


def unreadable(base_url: str, outcomes: Sequence[Outcome], concurrency: int = 32) -> list[Outcome]:
    """The acknowledged registrations that cannot be read back (GET answers other than 200 with the same
    ``scaffoldId``): must be empty."""
    return asyncio.run(_unreadable(base_url, [o for o in outcomes if o.acknowledged], concurrency))


async def _unreadable(base_url: str, acknowledged: list[Outcome], concurrency: int) -> list[Outcome]:
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:

        async def lost(outcome: Outcome) -> bool:
            async with gate:
                path = f"/api/v1/tenants/{outcome.tenant}/features/scaffold/{outcome.slug}"
                for _attempt in range(3):  # a read during a restart may meet a 503; the data is what counts
                    response = await client.get(path, headers={"X-Tenant-Id": outcome.tenant})
                    if response.status_code != 503:
                        break
                return response.status_code != 200 or response.json().get("scaffoldId") != outcome.scaffold_id

        flags = await asyncio.gather(*(lost(outcome) for outcome in acknowledged))
    return [outcome for outcome, missing in zip(acknowledged, flags, strict=True) if missing]
