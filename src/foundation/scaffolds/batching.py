"""Group commit for scaffold registrations.

Concurrent registrations in this process are classified and written together, in one transaction
(:func:`service.register_batch`): one read, the inserts as many-row statements, one commit — instead of five
statements and a commit each. Under load this is what lets registrations keep up: the per-statement cost of
the async database stack, not the database, bounded a lone registration at ~4 ms.

Registrations of any tenants share a batch (with a random tenant per request, batches of one tenant were
batches of one), and are classified and written together: one statement per table for the whole batch. On
PostgreSQL the transaction first enters the batch role with the batch's tenants (:meth:`Database.open_batch`;
its policies admit the tenants listed, and only in that role: foundation.migrations.roles). Without that role
(an older schema, a role created by hand) the transaction switches ``app.tenant_id`` before each tenant's part
(:meth:`Database.switch_tenant`), six statements per tenant: ~2 ms of a worker's CPU per registration
(docs/benchmarks.md). Either way the tenants share one transaction and one commit.

Semantics are those of registering one at a time in arrival order:

* a batch never holds two attempts of one tenant with the same key or the same slug — the later ones wait for
  the next batch, where they see the first one committed (replay, 409 or 422 as usual);
* if another process wrote one of the batch's keys or slugs meanwhile (the transaction fails on a unique
  constraint), every attempt of the batch is settled alone through :func:`service.register`, which
  re-classifies it;
* an attempt whose caller has gone (timeout, disconnect) before its batch starts is dropped; one that was
  already in a running batch is registered, and a retry with the same key answers as a replay.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from foundation.db import Database
from foundation.db_failures import is_lock_conflict
from foundation.errors import DomainError
from foundation.http.read_cache import ReadCache
from foundation.scaffolds import service
from foundation.scaffolds.kept_keys import KeptKeys
from foundation.tenancy.service import TenantRef

# Largest batch per backend, measured with wrk at 50 connections. SQLite (a batch runs on the event loop):
# 64 vs 32 gave 934-944 vs 816-840 req/s and p99 84-88 vs 99-103 ms (two alternating runs each). PostgreSQL,
# 2 workers: similar req/s, median p99 87 ms with 32 (6 runs: 82-104, one 246) vs 103 ms with 64 (5 runs:
# 78-113, one 326).
MAX_BATCH = {"sqlite": 64, "postgresql": 32}
DEFAULT_MAX_BATCH = 32


@dataclass(frozen=True)
class _Waiting:
    tenant: TenantRef
    attempt: service.Attempt
    answer: asyncio.Future[service.Registration]


class RegistrationQueue:
    def __init__(
        self,
        db: Database,
        ttl: timedelta,
        *,
        max_batch: int | None = None,
        samples_changed: Callable[[uuid.UUID], None] = lambda tenant_id: None,
        kept: KeptKeys | None = None,
    ) -> None:
        self.db = db
        self.ttl = ttl
        self.samples_changed = samples_changed  # told after a batch committed SC-001 samples
        self.kept = kept if kept is not None else KeptKeys(ReadCache(0))
        self.max_batch = max_batch or MAX_BATCH.get(db.engine.dialect.name, DEFAULT_MAX_BATCH)
        self._waiting: deque[_Waiting] = deque()
        self._worker: asyncio.Task[None] | None = None

    async def register(self, tenant: TenantRef, attempt: service.Attempt) -> service.Registration:
        known = self.kept.answer(tenant, attempt)
        if isinstance(known, DomainError):
            raise known
        if known is not None:
            return known
        answer: asyncio.Future[service.Registration] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(tenant, attempt, answer))
        if self._worker is None:
            self._worker = asyncio.create_task(self._drain())
        return await answer

    async def _drain(self) -> None:
        """Runs batches until nobody is waiting (one worker at a time)."""
        try:
            while self._waiting:
                batch = self._next_batch(self._waiting)
                if batch:
                    await self._run(batch)
        finally:
            self._worker = None

    def _next_batch(self, queue: deque[_Waiting]) -> list[_Waiting]:
        batch: list[_Waiting] = []
        later: list[_Waiting] = []
        keys: set[tuple[uuid.UUID, str]] = set()
        slugs: set[tuple[uuid.UUID, str]] = set()
        while queue and len(batch) < self.max_batch:
            waiting = queue.popleft()
            if waiting.answer.done():
                continue  # its caller has gone: nothing was written for it
            key = (waiting.tenant.id, waiting.attempt.key)
            slug = (waiting.tenant.id, waiting.attempt.request.featureSlug)
            if key in keys or slug in slugs:
                later.append(waiting)
                continue
            keys.add(key)
            slugs.add(slug)
            batch.append(waiting)
        queue.extendleft(reversed(later))
        return batch

    async def _run(self, batch: list[_Waiting]) -> None:
        ticket = self.kept.ticket()
        try:
            async with self.db.write() as connection:
                results = await self._register(connection, batch)
        except Exception as exc:
            if isinstance(exc, IntegrityError) or is_lock_conflict(exc):
                # Another process wrote one of the batch's keys or slugs, or its batch held rows this one
                # needed (a deadlock PostgreSQL broke): each attempt alone is classified again.
                await self._settle_one_by_one(batch)
            else:  # the database is down or timed out: every caller gets the error
                for waiting in batch:
                    _fail(waiting.answer, exc)
            return
        sampled: set[uuid.UUID] = set()
        for waiting, result in zip(batch, results, strict=True):
            if isinstance(result, DomainError):
                _fail(waiting.answer, result)
                continue
            if result.outcome is service.Outcome.created and waiting.attempt.request.durationMs is not None:
                sampled.add(waiting.tenant.id)
            if result.outcome is service.Outcome.replayed:
                # Kept from its first replay, not at creation: a burst of new registrations would otherwise
                # push the cached reads out of the one bounded cache they share.
                self.kept.keep(waiting.tenant, waiting.attempt, result, ticket)
            if not waiting.answer.done():
                waiting.answer.set_result(result)
        for tenant_id in sampled:
            self.samples_changed(tenant_id)

    async def _register(self, connection: AsyncConnection, batch: list[_Waiting]) -> list[service.Result]:
        """The batch's results in its order, its attempts written in lock order: all tenants at once where the
        transaction may admit them together (:meth:`Database.open_batch`), else tenant by tenant."""
        items = [(waiting.tenant, waiting.attempt) for waiting in batch]
        order = sorted(range(len(items)), key=lambda position: _lock_order(items[position]))
        together = await self.db.open_batch(connection, {tenant.id for tenant, _ in items})
        if together:
            parts = [order]
        else:
            by_tenant: dict[uuid.UUID, list[int]] = {}
            for position in order:
                by_tenant.setdefault(items[position][0].id, []).append(position)
            parts = list(by_tenant.values())
        results: dict[int, service.Result] = {}
        for part in parts:
            if not together:
                await self.db.switch_tenant(connection, items[part[0]][0].id)
            part_items = [items[position] for position in part]
            written = await service.register_batch(connection, part_items, self.ttl)
            results.update(zip(part, written, strict=True))
        return [results[position] for position in range(len(items))]

    async def _settle_one_by_one(self, batch: list[_Waiting]) -> None:
        for waiting in batch:
            if waiting.answer.done():
                continue
            try:
                result = await service.register(self.db, waiting.tenant, waiting.attempt, self.ttl)
            except Exception as exc:
                _fail(waiting.answer, exc)
                continue
            if result.outcome is service.Outcome.created and waiting.attempt.request.durationMs is not None:
                self.samples_changed(waiting.tenant.id)
            if not waiting.answer.done():
                waiting.answer.set_result(result)


def _lock_order(item: service.Item) -> tuple[str, str]:
    """Concurrent batches (other processes) lock rows in one order, by tenant then key, so the same
    registrations racing in two batches wait for each other instead of deadlocking."""
    tenant, attempt = item
    return tenant.key, attempt.key


def _fail(answer: asyncio.Future[service.Registration], exc: BaseException) -> None:
    if not answer.done():
        answer.set_exception(exc)
