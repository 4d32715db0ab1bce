"""Replays answered from memory (scaffolds/kept_keys.py) answer exactly what the database would: the stored
representation, updated by lifecycle events; 422 for another payload; nothing once the key has expired. The
suite also runs with the cache off (FOUNDATION_TEST_SHORTCUTS=off), where every replay reads the database."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pytest

from foundation.db import utcnow
from foundation.http.read_cache import ReadCache
from foundation.scaffolds.kept_keys import KeptKeys
from foundation.scaffolds.schemas import ScaffoldRequest
from foundation.scaffolds.service import Attempt, Outcome, Registration
from foundation.tenancy.service import TenantRef
from tests.api.helpers import assert_problem, register, scaffold_body
from tests.api.test_lifecycle import event


async def test_a_replay_after_an_event_answers_the_new_representation(client: httpx.AsyncClient) -> None:
    key = f"kept-{uuid.uuid4()}"
    created = await register(client, "kept-replay", key=key)
    assert created.status_code == 201, created.text
    replayed = await register(client, "kept-replay", key=key)
    assert replayed.status_code == 200 and replayed.json() == created.json()

    published = await event(client, "kept-replay", "published")
    assert published.status_code == 201, published.text

    after = await register(client, "kept-replay", key=key)
    assert after.status_code == 200, after.text
    assert after.json()["status"] == "published" == published.json()["status"]
    assert after.json() == published.json()
    assert after.headers["etag"] == published.headers["etag"] != created.headers["etag"]


async def test_another_payload_under_a_known_key_is_refused(client: httpx.AsyncClient) -> None:
    key = f"kept-{uuid.uuid4()}"
    assert (await register(client, "kept-refusal", key=key)).status_code == 201
    assert (await register(client, "kept-refusal", key=key)).status_code == 200  # kept now
    refused = await register(client, "kept-refusal", key=key, lintCommitHash="0" * 40)
    assert_problem(refused, 422, "idempotency_payload_mismatch")


def test_an_expired_key_is_left_to_the_database() -> None:
    kept = KeptKeys(ReadCache(1.0))
    tenant = TenantRef(uuid.uuid4(), "tenant-x", "Tenant X", "active")
    attempt = Attempt.of("key-1", ScaffoldRequest.model_validate(scaffold_body("expiring")))
    ticket = kept.ticket()
    registration = Registration(Outcome.created, b"{}", 'W/"x"', "/x", utcnow() - timedelta(seconds=1))
    kept.keep(tenant, attempt, registration, ticket)
    assert kept.answer(tenant, attempt) is None

    live = Registration(Outcome.created, b"{}", 'W/"x"', "/x", utcnow() + timedelta(hours=1))
    kept.keep(tenant, attempt, live, kept.ticket())
    answered = kept.answer(tenant, attempt)
    assert isinstance(answered, Registration) and answered.outcome is Outcome.replayed


async def test_keys_are_kept_from_their_first_replay_not_at_creation(client: httpx.AsyncClient) -> None:
    """New registrations share the bounded cache with the cached reads: only a replayed key takes a place."""
    cache = client.app.state.services[ReadCache]  # type: ignore[attr-defined]
    if not cache.enabled:
        pytest.skip("the read cache is off in this run (FOUNDATION_TEST_SHORTCUTS=off)")
    before = len(cache)
    created = [await register(client, f"burst-{i}", key=f"burst-{uuid.uuid4()}") for i in range(5)]
    assert [r.status_code for r in created] == [201] * 5
    assert len(cache) == before
    replay = await register(client, "burst-0", key=created[0].request.headers["Idempotency-Key"])
    assert replay.status_code == 200
    assert len(cache) == before + 1
