"""Scaffold registrations with IETF-style idempotency stored in the database.

For (tenant, Idempotency-Key): same fingerprint within the TTL → replay; different fingerprint → 422;
a new key for an already registered featureSlug → 409. Concurrent duplicates race on the unique
constraints; the loser re-reads and is classified like any later request, so no race ends in a 5xx.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from foundation.db import Database, utcnow
from foundation.http.etag import weak_etag
from foundation.http.responses import canonical_json, rfc3339
from foundation.problems import Kinds, ProblemError
from foundation.scaffolds.models import IdempotencyRecord, ScaffoldRegistration
from foundation.scaffolds.schemas import ScaffoldRequest
from foundation.success_metrics.service import NewSample, record_samples, sample_document, samples_changed
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


def location_of(tenant_id: uuid.UUID, feature_slug: str) -> str:
    return f"/api/v1/tenants/{tenant_id}/features/scaffold/{feature_slug}"


async def register(
    db: Database, tenant: TenantRef, key: str, request: ScaffoldRequest, fingerprint: str, ttl: timedelta
) -> Registration:
    for _attempt in range(MAX_ATTEMPTS):
        try:
            async with db.write(tenant.id) as connection:
                registration = await _register_once(connection, tenant, key, request, fingerprint, ttl)
            if registration.outcome is Outcome.created and request.durationMs is not None:
                samples_changed(db, tenant.id)
            return registration
        except IntegrityError:
            continue  # a concurrent request committed first: classify against what it wrote
    raise ProblemError(
        Kinds.idempotency_conflict, "A request with this Idempotency-Key is still being processed; retry."
    )


async def _register_once(
    connection: AsyncConnection,
    tenant: TenantRef,
    key: str,
    request: ScaffoldRequest,
    fingerprint: str,
    ttl: timedelta,
) -> Registration:
    now = utcnow()
    # The slug is read before the key: under READ COMMITTED a concurrent duplicate that commits between the
    # two reads is then seen by the second one (its key), and answers as a replay rather than a 409.
    slug_taken = (
        await connection.execute(
            select(ScaffoldRegistration.id).where(
                ScaffoldRegistration.tenant_id == tenant.id,
                ScaffoldRegistration.feature_slug == request.featureSlug,
            )
        )
    ).first() is not None
    this_key = (IdempotencyRecord.tenant_id == tenant.id, IdempotencyRecord.idempotency_key == key)
    record = (
        await connection.execute(
            select(
                IdempotencyRecord.fingerprint, IdempotencyRecord.scaffold_id, IdempotencyRecord.expires_at
            ).where(*this_key)
        )
    ).first()
    if record is not None and record.expires_at <= now:
        await connection.execute(delete(IdempotencyRecord).where(*this_key))
        record = None
    if record is not None:
        if record.fingerprint != fingerprint:
            raise ProblemError(
                Kinds.idempotency_mismatch,
                "This Idempotency-Key was already used with a different payload.",
            )
        stored = (
            await connection.execute(
                select(
                    ScaffoldRegistration.document,
                    ScaffoldRegistration.etag,
                    ScaffoldRegistration.feature_slug,
                ).where(ScaffoldRegistration.id == record.scaffold_id)
            )
        ).first()
        if stored is None:  # cannot happen with the foreign key, but never answer 500 for it
            raise ProblemError(Kinds.idempotency_conflict, "The original registration is missing.")
        return Registration(
            Outcome.replayed,
            stored.document.encode(),
            stored.etag,
            location_of(tenant.id, stored.feature_slug),
        )
    if slug_taken:
        raise ProblemError(
            Kinds.feature_conflict,
            f"Feature {request.featureSlug!r} is already registered for {tenant.slug} under another key.",
            headers={"Location": location_of(tenant.id, request.featureSlug)},
        )
    return await _create(connection, tenant, key, request, fingerprint, now + ttl)


async def _create(
    connection: AsyncConnection,
    tenant: TenantRef,
    key: str,
    request: ScaffoldRequest,
    fingerprint: str,
    expires_at: Any,
) -> Registration:
    scaffold_id = uuid.uuid4()
    recorded_at = utcnow()
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
        await record_samples(connection, tenant.id, [sample])
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
    }
    etag = weak_etag(representation)
    # Core inserts: the ORM unit of work cost ~2 ms per object here, for rows never read back.
    await connection.execute(
        insert(ScaffoldRegistration),
        {
            "id": scaffold_id,
            "tenant_id": tenant.id,
            "feature_slug": request.featureSlug,
            "status": "initiated",
            "initiated_by": request.initiatedBy,
            "payload": request.normalised(),
            "duration_ms": request.durationMs,
            "recorded_at": recorded_at,
            "document": canonical_json(representation),
            "etag": etag,
        },
    )
    await connection.execute(
        insert(IdempotencyRecord),
        {
            "tenant_id": tenant.id,
            "idempotency_key": key,
            "fingerprint": fingerprint,
            "scaffold_id": scaffold_id,
            "created_at": recorded_at,
            "expires_at": expires_at,
        },
    )
    return Registration(
        Outcome.created,
        canonical_json(representation).encode(),
        etag,
        location_of(tenant.id, request.featureSlug),
    )


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
        raise ProblemError(Kinds.not_found, f"No scaffold registration {feature_slug!r} for {tenant.slug}.")
    return row.document.encode(), row.etag


def decode(document: bytes) -> dict[str, Any]:
    return json.loads(document)  # type: ignore[no-any-return]
