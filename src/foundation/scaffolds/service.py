"""Scaffold registrations with IETF-style idempotency stored in the database.

For (tenant, Idempotency-Key): same fingerprint within the TTL → replay; different fingerprint → 422;
a new key for an already registered featureSlug → 409. Concurrent duplicates race on the unique
constraints; the loser re-reads and is classified like any later request, so no race ends in a 5xx.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, insert, literal, null, select, union_all
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from foundation.db import Database, utcnow
from foundation.errors import (
    DomainError,
    FeatureAlreadyRegistered,
    IdempotencyInProgress,
    IdempotencyKeyReused,
    NotFound,
)
from foundation.http.idempotency import fingerprint
from foundation.http.json_encoding import canonical_json, rfc3339, weak_etag_of_canonical
from foundation.scaffolds.lifecycle import initial_fields, location_of, started_at_problem, to_millisecond
from foundation.scaffolds.models import IdempotencyRecord, ScaffoldRegistration
from foundation.scaffolds.schemas import ScaffoldRequest
from foundation.success_metrics.service import NewSample, record_samples_of_tenants, sample_document
from foundation.tenancy.service import TenantRef

MAX_ATTEMPTS = 4


class Outcome(StrEnum):
    created = "created"
    replayed = "replayed"


@dataclass(frozen=True)
class Registration:
    outcome: Outcome
    representation: bytes
    etag: str
    location: str
    key_expires_at: datetime  # when its Idempotency-Key stops answering replays


@dataclass(frozen=True)
class Attempt:
    """One registration request: the key, the validated body, its normalised payload and fingerprint."""

    key: str
    request: ScaffoldRequest
    payload: dict[str, Any]
    fingerprint: str

    @classmethod
    def of(cls, key: str, request: ScaffoldRequest) -> Attempt:
        payload = request.normalised()
        return cls(key, request, payload, fingerprint(payload))


# What an attempt ends in: the registration (created or replayed) or the refusal.
Result = Registration | DomainError


async def register(db: Database, tenant: TenantRef, attempt: Attempt, ttl: timedelta) -> Registration:
    """One registration in its own transaction; a race lost to a concurrent writer is re-classified."""
    for _try in range(MAX_ATTEMPTS):
        try:
            async with db.write(tenant.id) as connection:
                [result] = await register_batch(connection, [(tenant, attempt)], ttl)
        except IntegrityError:
            continue  # a concurrent request committed first: classify against what it wrote
        if isinstance(result, DomainError):
            raise result
        return result
    raise IdempotencyInProgress("A request with this Idempotency-Key is still being processed; retry.")


Item = tuple[TenantRef, Attempt]


async def register_batch(connection: AsyncConnection, items: Sequence[Item], ttl: timedelta) -> list[Result]:
    """Classify and register attempts in the caller's transaction, one result per attempt.

    The attempts of one tenant must have distinct keys and distinct feature slugs (the caller defers
    duplicates to a later transaction, where they are classified against the first); attempts of several
    tenants may share the call where the transaction admits them all (SQLite; PostgreSQL's batch role,
    :meth:`foundation.db.Database.open_batch`). A key already stored
    answers a replay (same fingerprint) or 422; a slug registered under another key answers 409; the rest are
    created together. A concurrent writer of the same key or slug makes the transaction fail with
    IntegrityError.
    """
    now = utcnow()
    records, slugs_taken = await _read_keys_and_slugs(connection, items)
    await _forget_expired(connection, records, now)
    stored = await _replayed_registrations(connection, items, records)
    results: list[Result] = []
    creations: list[_Creation] = []
    for tenant, attempt in items:
        record = records.get((tenant.id, attempt.key))
        if record is not None:
            results.append(_replay(tenant, attempt, record, stored))
        elif (tenant.id, attempt.request.featureSlug) in slugs_taken:
            results.append(
                FeatureAlreadyRegistered(
                    f"Feature {attempt.request.featureSlug!r} is already registered for {tenant.slug} "
                    "under another key.",
                    location=location_of(tenant.id, attempt.request.featureSlug),
                )
            )
        elif (problem := started_at_problem(attempt.request.startedAt, now)) is not None:
            results.append(problem)
        else:
            creation = _prepare(tenant, attempt, now + ttl)
            creations.append(creation)
            results.append(creation.registration)
    if creations:
        await _insert(connection, creations)
    return results


async def _read_keys_and_slugs(
    connection: AsyncConnection, items: Sequence[Item]
) -> tuple[dict[tuple[uuid.UUID, str], Any], set[tuple[uuid.UUID, str]]]:
    """The stored idempotency records of the batch's (tenant, key) pairs, and which (tenant, slug) pairs are
    registered.

    One statement (one round trip, one snapshot): a concurrent duplicate that committed is seen with both its
    key and its slug (a replay), one that has not is not seen at all (its unique constraints then fail this
    transaction, and the caller re-classifies one by one). Tenants IN (…) and keys IN (…) are point lookups on
    the unique indexes; pairs the batch does not hold are dropped here."""
    tenant_ids = list({tenant.id for tenant, _ in items})
    keys_read = select(
        literal(False).label("is_slug"),
        IdempotencyRecord.tenant_id,
        IdempotencyRecord.idempotency_key.label("value"),
        IdempotencyRecord.fingerprint,
        IdempotencyRecord.scaffold_id,
        IdempotencyRecord.expires_at,
    ).where(
        IdempotencyRecord.tenant_id.in_(tenant_ids),
        IdempotencyRecord.idempotency_key.in_({attempt.key for _, attempt in items}),
    )
    slugs_read = select(
        literal(True),
        ScaffoldRegistration.tenant_id,
        ScaffoldRegistration.feature_slug,
        null(),
        null(),
        null(),
    ).where(
        ScaffoldRegistration.tenant_id.in_(tenant_ids),
        ScaffoldRegistration.feature_slug.in_({attempt.request.featureSlug for _, attempt in items}),
    )
    wanted_keys = {(tenant.id, attempt.key) for tenant, attempt in items}
    wanted_slugs = {(tenant.id, attempt.request.featureSlug) for tenant, attempt in items}
    slugs_taken: set[tuple[uuid.UUID, str]] = set()
    records: dict[tuple[uuid.UUID, str], Any] = {}
    read: Any = await connection.execute(union_all(keys_read, slugs_read))
    for row in read:
        pair = (row.tenant_id, row.value)
        if row.is_slug:
            if pair in wanted_slugs:
                slugs_taken.add(pair)
        elif pair in wanted_keys:
            records[pair] = row
    return records, slugs_taken


async def _forget_expired(
    connection: AsyncConnection, records: dict[tuple[uuid.UUID, str], Any], now: datetime
) -> None:
    """Delete the expired records among ``records`` (and drop them from it): their keys are free again."""
    expired = [pair for pair, record in records.items() if record.expires_at <= now]
    if not expired:
        return
    for tenant_id in {tenant_id for tenant_id, _ in expired}:
        await connection.execute(
            delete(IdempotencyRecord).where(
                IdempotencyRecord.tenant_id == tenant_id,
                IdempotencyRecord.idempotency_key.in_([key for owner, key in expired if owner == tenant_id]),
            )
        )
    for pair in expired:
        del records[pair]


async def _replayed_registrations(
    connection: AsyncConnection, items: Sequence[Item], records: dict[tuple[uuid.UUID, str], Any]
) -> dict[Any, Any]:
    """The stored registrations that replays of this batch answer with, by id."""
    replayed_ids = [
        record.scaffold_id
        for tenant, attempt in items
        if (record := records.get((tenant.id, attempt.key))) is not None
        and record.fingerprint == attempt.fingerprint
    ]
    if not replayed_ids:
        return {}
    rows = await connection.execute(
        select(
            ScaffoldRegistration.id,
            ScaffoldRegistration.document,
            ScaffoldRegistration.etag,
            ScaffoldRegistration.feature_slug,
        ).where(ScaffoldRegistration.id.in_(replayed_ids))
    )
    return {row.id: row for row in rows}


def key_reused(attempt: Attempt, stored_fingerprint: str) -> IdempotencyKeyReused | None:
    """The one rule for a key seen before: the same payload replays, another one is refused (422)."""
    if stored_fingerprint != attempt.fingerprint:
        return IdempotencyKeyReused("This Idempotency-Key was already used with a different payload.")
    return None


def _replay(tenant: TenantRef, attempt: Attempt, record: Any, stored: dict[Any, Any]) -> Result:
    if (refusal := key_reused(attempt, record.fingerprint)) is not None:
        return refusal
    row = stored.get(record.scaffold_id)
    if row is None:  # cannot happen with the foreign key, but never answer 500 for it
        return IdempotencyInProgress("The original registration is missing.")
    location = location_of(tenant.id, row.feature_slug)
    return Registration(Outcome.replayed, row.document.encode(), row.etag, location, record.expires_at)


@dataclass(frozen=True)
class _Creation:
    registration: Registration
    registration_row: dict[str, Any]
    key_row: dict[str, Any]
    sample: NewSample | None


def _prepare(tenant: TenantRef, attempt: Attempt, expires_at: datetime) -> _Creation:
    request = attempt.request
    scaffold_id = uuid.uuid4()
    recorded_at = utcnow()
    initiated_at = to_millisecond(request.startedAt or recorded_at)
    sample = None
    metrics: list[dict[str, Any]] = []
    if request.durationMs is not None:
        sample = NewSample(
            code="SC-001",
            value=request.durationMs / 60000,
            collected_at=recorded_at,
            source="ci",
            feature_slug=request.featureSlug,
            scaffold_id=scaffold_id,
        )
        metrics.append(
            sample_document(sample.code, sample.value, recorded_at, sample.source, sample.feature_slug)
        )
    representation = {
        "scaffoldId": str(scaffold_id),
        "tenantId": str(tenant.id),
        "featureSlug": request.featureSlug,
        "status": "initiated",
        "recordedAt": rfc3339(recorded_at),
        "metrics": metrics,
        **initial_fields(initiated_at),
    }
    document = canonical_json(representation).encode()
    etag = weak_etag_of_canonical(document)
    return _Creation(
        Registration(
            Outcome.created, document, etag, location_of(tenant.id, request.featureSlug), expires_at
        ),
        {
            "id": scaffold_id,
            "tenant_id": tenant.id,
            "feature_slug": request.featureSlug,
            "status": "initiated",
            "initiated_by": request.initiatedBy,
            "payload": attempt.payload,
            "duration_ms": request.durationMs,
            "recorded_at": recorded_at,
            "document": document.decode(),
            "etag": etag,
            "initiated_at": initiated_at,
            "event_count": 0,
        },
        {
            "tenant_id": tenant.id,
            "idempotency_key": attempt.key,
            "fingerprint": attempt.fingerprint,
            "scaffold_id": scaffold_id,
            "created_at": recorded_at,
            "expires_at": expires_at,
        },
        sample,
    )


async def _insert(connection: AsyncConnection, creations: Sequence[_Creation]) -> None:
    # Core inserts with many parameter sets: the ORM unit of work cost ~2 ms per object here, for rows
    # never read back.
    samples: dict[uuid.UUID, list[NewSample]] = {}
    for creation in creations:
        if creation.sample is not None:
            samples.setdefault(creation.key_row["tenant_id"], []).append(creation.sample)
    if samples:  # a sample per new registration
        await record_samples_of_tenants(connection, samples, count=False)
    await connection.execute(insert(ScaffoldRegistration), [c.registration_row for c in creations])
    await connection.execute(insert(IdempotencyRecord), [c.key_row for c in creations])


async def get_registration(db: Database, tenant: TenantRef, feature_slug: str) -> tuple[bytes, str]:
    async with db.read(tenant.id) as connection:
        row = (
            await connection.execute(
                select(ScaffoldRegistration.document, ScaffoldRegistration.etag).where(
                    ScaffoldRegistration.tenant_id == tenant.id,
                    ScaffoldRegistration.feature_slug == feature_slug,
                )
            )
        ).first()
    if row is None:
        raise NotFound(f"No scaffold registration {feature_slug!r} for {tenant.slug}.")
    return row.document.encode(), row.etag


def decode(document: bytes) -> dict[str, Any]:
    return json.loads(document)  # type: ignore[no-any-return]
