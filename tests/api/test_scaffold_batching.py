"""Group commit of scaffold registrations (foundation.scaffolds.batching): concurrent registrations share
transactions, yet every answer is the one registering them one at a time would give."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from foundation.db import Database
from foundation.scaffolds import service
from foundation.scaffolds.batching import RegistrationQueue
from foundation.scaffolds.schemas import ScaffoldRequest
from foundation.scaffolds.service import Attempt
from foundation.tenancy.service import TenantDirectory
from tests.api.helpers import ALFA, BETA, metrics_path, scaffold_body, scaffold_headers, scaffold_path


@pytest.fixture
async def free_client(make_client: Callable[..., httpx.AsyncClient]) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(rate_limit_enabled=False) as http:
        yield http


async def post(client: httpx.AsyncClient, tenant: str, body: Any, key: str) -> httpx.Response:
    return await client.post(scaffold_path(tenant), json=body, headers=scaffold_headers(tenant, key))


async def test_many_concurrent_registrations_are_all_stored(free_client: httpx.AsyncClient) -> None:
    count = 120  # more than one batch
    responses = await asyncio.gather(
        *(
            post(free_client, ALFA, scaffold_body(f"feature-{i}", durationMs=60000 * (i % 5 + 1)), f"k-{i}")
            for i in range(count)
        )
    )
    assert [r.status_code for r in responses] == [201] * count
    assert len({r.json()["scaffoldId"] for r in responses}) == count
    for i in (0, count // 2, count - 1):
        stored = await free_client.get(f"{scaffold_path()}/feature-{i}", headers={"X-Tenant-Id": ALFA})
        assert stored.status_code == 200 and stored.json() == responses[i].json()
    samples = await free_client.get(metrics_path() + "?code=SC-001&per_page=1", headers={"X-Tenant-Id": ALFA})
    assert samples.json()["pagination"]["totalItems"] == count


async def test_a_mixed_burst_answers_as_if_sequential(free_client: httpx.AsyncClient) -> None:
    """Same key + same body (replays), other keys for one slug (409), a key reused with another body (422),
    another tenant's registrations: all in flight at once."""
    requests = (
        [(ALFA, scaffold_body("dup"), "dup-key")] * 6
        + [(ALFA, scaffold_body("contested"), f"contest-{i}") for i in range(6)]
        + [(ALFA, scaffold_body("reused"), "reused-key"), (ALFA, scaffold_body("reused-other"), "reused-key")]
        + [(BETA, scaffold_body("dup"), "dup-key")] * 3
        + [(ALFA, scaffold_body(f"plain-{i}"), f"plain-{i}") for i in range(10)]
    )
    responses = await asyncio.gather(*(post(free_client, *request) for request in requests))
    by_group: dict[str, Counter[int]] = {}
    for (tenant, body, _key), response in zip(requests, responses, strict=True):
        group = f"{tenant[-1]}:{body['featureSlug'].split('-')[0]}"
        by_group.setdefault(group, Counter())[response.status_code] += 1
        assert response.status_code < 500, response.text
    assert by_group["1:dup"] == Counter({201: 1, 200: 5})
    assert by_group["2:dup"] == Counter({201: 1, 200: 2})
    assert by_group["1:contested"] == Counter({201: 1, 409: 5})
    assert by_group["1:reused"] == Counter({201: 1, 422: 1})
    assert by_group["1:plain"] == Counter({201: 10})
    replayed = [r for (t, b, k), r in zip(requests, responses, strict=True) if k == "dup-key" and t == ALFA]
    assert len({r.json()["scaffoldId"] for r in replayed}) == 1


async def test_a_caller_gone_before_its_batch_registers_nothing(database_url: str) -> None:
    db = Database(database_url)
    try:
        tenant = await TenantDirectory(db).find("tenant-alfa")
        assert tenant is not None
        queue = RegistrationQueue(db, timedelta(hours=24))

        def attempt(slug: str) -> Attempt:
            return Attempt.of(f"key-{slug}", ScaffoldRequest.model_validate(scaffold_body(slug)))

        first = asyncio.create_task(queue.register(tenant, attempt("kept")))
        gone = asyncio.create_task(queue.register(tenant, attempt("abandoned")))
        await asyncio.sleep(0)  # both are queued; the first batch has not started
        gone.cancel()
        assert (await first).outcome.value == "created"
        with pytest.raises(asyncio.CancelledError):
            await gone
        again = await queue.register(tenant, attempt("abandoned"))
        assert again.outcome.value == "created", "the abandoned attempt had left nothing behind"
    finally:
        await db.dispose()


async def test_tenants_share_transactions(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """One transaction, and one classification and write, hold several tenants' registrations (a random
    tenant per request still batches). On PostgreSQL the app role enters its batch role, whose policies admit
    the batch's tenants (RLS as the app role and as the batch role: tests/postgres). Every answer is right,
    including the same key and the same slug in both tenants at once."""
    calls = await _register_two_tenants_at_once(database_url, monkeypatch)
    assert any(len(slugs) == 2 for _, slugs in calls), calls
    transactions = [id(transaction) for transaction, _ in calls]  # kept alive by `calls`: distinct ids
    assert len(transactions) == len(set(transactions)), "one register_batch call per transaction"


async def test_without_a_batch_role_each_tenant_has_its_part(
    owner_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL, a role without a batch role (here the schema owner, under forced RLS): the transaction
    switches the tenant context before each tenant's part, and every answer is still right."""
    calls = await _register_two_tenants_at_once(owner_database_url, monkeypatch)
    tenants_per_transaction: dict[int, set[str]] = {}
    for transaction, slugs in calls:
        tenants_per_transaction.setdefault(id(transaction), set()).update(slugs)
    assert any(len(slugs) == 2 for slugs in tenants_per_transaction.values()), calls
    assert all(len(slugs) == 1 for _, slugs in calls), "each part is one tenant's, under its RLS context"


async def _register_two_tenants_at_once(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> list[tuple[Any, set[str]]]:
    """Ten registrations of each of two tenants, all at once, then their replays; the register_batch calls
    made, as (the transaction, the tenants of the call)."""
    calls: list[tuple[Any, set[str]]] = []
    real_register_batch = service.register_batch

    async def spy(connection: Any, items: Any, ttl: timedelta) -> Any:
        calls.append((connection.get_transaction(), {tenant.slug for tenant, _ in items}))
        return await real_register_batch(connection, items, ttl)

    monkeypatch.setattr(service, "register_batch", spy)
    db = Database(database_url)
    try:
        directory = TenantDirectory(db)
        alfa, beta = await directory.find("tenant-alfa"), await directory.find("tenant-beta")
        assert alfa is not None and beta is not None
        queue = RegistrationQueue(db, timedelta(hours=24))
        requests = [
            (tenant, Attempt.of(f"shared-{i}", ScaffoldRequest.model_validate(scaffold_body(f"shared-{i}"))))
            for i in range(10)
            for tenant in (alfa, beta)
        ]
        results = await asyncio.gather(*(queue.register(tenant, attempt) for tenant, attempt in requests))
        assert [r.outcome.value for r in results] == ["created"] * 20
        assert all(r.location.split("/")[4] == str(t.id) for r, (t, _) in zip(results, requests, strict=True))
        replays = await asyncio.gather(*(queue.register(tenant, attempt) for tenant, attempt in requests))
        assert [r.outcome.value for r in replays] == ["replayed"] * 20
    finally:
        await db.dispose()
    return calls


async def test_two_processes_batching_the_same_registrations_in_opposite_orders_never_fail(
    database_url: str,
) -> None:
    """Two processes (two engines, two queues) get the same registrations of two tenants at once, in
    opposite orders, as retries through a load balancer produce them. On PostgreSQL their batches share rows;
    locked in one order (tenant, then key) they wait for each other instead of deadlocking, and a lock
    conflict PostgreSQL breaks anyway is settled attempt by attempt: every registration is created once and
    every other answer is its replay, never an error."""
    first, second = Database(database_url), Database(database_url)
    try:
        directory = TenantDirectory(first)
        alfa, beta = await directory.find("tenant-alfa"), await directory.find("tenant-beta")
        assert alfa is not None and beta is not None
        attempts = [
            (tenant, Attempt.of(f"race-{i}", ScaffoldRequest.model_validate(scaffold_body(f"race-{i}"))))
            for i in range(24)
            for tenant in (alfa, beta)
        ]
        queues = [RegistrationQueue(db, timedelta(hours=24)) for db in (first, second)]
        rounds = []
        for _ in range(3):  # rounds of the same attempts: created once, replayed after
            results = await asyncio.gather(
                *(queues[0].register(tenant, attempt) for tenant, attempt in attempts),
                *(queues[1].register(tenant, attempt) for tenant, attempt in reversed(attempts)),
                return_exceptions=True,
            )
            errors = [result for result in results if isinstance(result, BaseException)]
            assert errors == [], errors[:3]
            rounds.append(Counter(result.outcome.value for result in results))  # type: ignore[union-attr]
        assert rounds[0] == {"created": len(attempts), "replayed": len(attempts)}
        assert rounds[1] == rounds[2] == {"replayed": 2 * len(attempts)}
    finally:
        await first.dispose()
        await second.dispose()
