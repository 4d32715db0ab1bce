"""The feature lifecycle of a scaffold registration (api.md §3): events, transitions, lead time, SC-001.

A registration moves forward only — ``initiated`` → ``linted`` → ``tested`` → ``published``, skipping forward
allowed. An event of the current status is recorded again (a pipeline re-run) and leaves the status as it is;
``failed`` is recorded and never moves it; nothing is accepted after ``published`` except a replay. SC-001 is
the lead time from ``initiatedAt`` to the ``published`` event; a registration contributes exactly one SC-001
sample: the one its ``durationMs`` gave at registration, else the lead time recorded at publish.

Concurrency without locks in the process (several workers, several instances): each event's transaction
updates the registration only if its ``event_count`` is still the one it read, and inserts the event with
``seq = event_count + 1`` (unique per registration), its key (unique per tenant) and at most one sample
(``sc_samples.scaffold_id`` is unique). Whatever loses a race rolls back and is classified again against what
the winner wrote: a replay, a 409, a 422 — never a 5xx and never a second sample.
"""

from __future__ import annotations

import bisect
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from foundation.db import Database, utcnow
from foundation.errors import (
    FieldError,
    IdempotencyInProgress,
    IdempotencyKeyReused,
    InvalidInput,
    InvalidTransition,
    NotFound,
)
from foundation.http.idempotency import fingerprint
from foundation.http.json_encoding import canonical_json, rfc3339, weak_etag_of_canonical
from foundation.read_changes import record_change
from foundation.scaffolds.models import EventIdempotencyRecord, ScaffoldEvent, ScaffoldRegistration
from foundation.scaffolds.schemas import EventType, ScaffoldEventRequest
from foundation.success_metrics.service import NewSample, record_samples, sample_document
from foundation.tenancy.service import TenantRef

# Read-cache kind told when an event changes registrations' representations (scaffolds/kept_keys.py).
REPRESENTATION_CHANGED = "scaffold-keys"
STATUSES = ("initiated", "linted", "tested", "published")
_RANK = {status: rank for rank, status in enumerate(STATUSES)}
MAX_CLOCK_SKEW = timedelta(minutes=5)  # how far a client's clock may run ahead of the server's
MAX_STARTED_AGE = timedelta(hours=24)  # how long before its registration a scaffolding may have started
MAX_ATTEMPTS = 5


class _Raced(Exception):
    """Another transaction recorded an event of this registration first: classify again."""


def to_millisecond(value: datetime) -> datetime:
    """The precision the representation shows (and lead times are computed at)."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def minutes_between(start: datetime, end: datetime) -> float:
    milliseconds = (to_millisecond(end) - to_millisecond(start)) // timedelta(milliseconds=1)
    return milliseconds / 60000


def started_at_problem(started_at: datetime | None, now: datetime) -> InvalidInput | None:
    """The clock-skew bounds of ``startedAt`` for a new registration (replays are answered before this)."""
    if started_at is None:
        return None
    if started_at > now + MAX_CLOCK_SKEW:
        message = f"must not be more than 5 minutes after the server's time ({rfc3339(now)})"
    elif started_at < now - MAX_STARTED_AGE:
        message = f"must not be more than 24 hours before the server's time ({rfc3339(now)})"
    else:
        return None
    return InvalidInput(f"startedAt {message}.", errors=[FieldError("startedAt", message)])


def initial_fields(initiated_at: datetime) -> dict[str, Any]:
    """The lifecycle part of a new registration's representation."""
    return {"initiatedAt": rfc3339(initiated_at), "events": [], "leadTimeMinutes": None}


def location_of(tenant_id: uuid.UUID, feature_slug: str) -> str:
    return f"/api/v1/tenants/{tenant_id}/features/scaffold/{feature_slug}"


@dataclass(frozen=True)
class EventAttempt:
    """One events request: its key, the registration it names, the validated body and its fingerprint."""

    key: str
    feature_slug: str
    request: ScaffoldEventRequest
    fingerprint: str

    @classmethod
    def of(cls, key: str, feature_slug: str, request: ScaffoldEventRequest) -> EventAttempt:
        payload = {"featureSlug": feature_slug, **request.normalised()}
        return cls(key, feature_slug, request, fingerprint(payload))


@dataclass(frozen=True)
class EventResult:
    created: bool  # False: a replay of an event already recorded under this key
    representation: bytes
    etag: str
    location: str


async def record_event(
    db: Database,
    tenant: TenantRef,
    attempt: EventAttempt,
    ttl: timedelta,
    samples_changed: Callable[[uuid.UUID], None],
    registration_changed: Callable[[TenantRef], None],
) -> EventResult:
    """Record one event in its own transaction; a race lost to another writer is classified again.
    ``samples_changed`` is told after an event committed the registration's SC-001 sample,
    ``registration_changed`` after it committed a new representation of the registration."""
    for _try in range(MAX_ATTEMPTS):
        try:
            async with db.write(tenant.id) as connection:
                result, sampled = await _record_once(connection, tenant, attempt, ttl)
        except (IntegrityError, _Raced):
            continue
        if sampled:
            samples_changed(tenant.id)
        if result.created:
            registration_changed(tenant)
        return result
    raise IdempotencyInProgress(
        "Other events of this registration are being recorded at the same moment; retry.", retry_after=1
    )


async def _record_once(
    connection: AsyncConnection, tenant: TenantRef, attempt: EventAttempt, ttl: timedelta
) -> tuple[EventResult, bool]:
    now = utcnow()
    # The registration is read before the key: under READ COMMITTED, an event of the same key that commits
    # between the two reads is then seen as a replay, not as a transition from a status that is gone.
    registration = (
        await connection.execute(
            select(
                ScaffoldRegistration.id,
                ScaffoldRegistration.status,
                ScaffoldRegistration.event_count,
                ScaffoldRegistration.document,
                ScaffoldRegistration.duration_ms,
                ScaffoldRegistration.initiated_at,
            ).where(
                ScaffoldRegistration.tenant_id == tenant.id,
                ScaffoldRegistration.feature_slug == attempt.feature_slug,
            )
        )
    ).first()
    replay = await _replay(connection, tenant, attempt, now)
    if replay is not None:
        return replay, False
    if registration is None:
        raise NotFound(f"No scaffold registration {attempt.feature_slug!r} for {tenant.slug}.")
    change = _apply(tenant, attempt, registration, now)
    updated = await connection.execute(
        update(ScaffoldRegistration)
        .where(
            ScaffoldRegistration.id == registration.id,
            ScaffoldRegistration.event_count == registration.event_count,
        )
        .values(
            status=change.status,
            document=change.document.decode(),
            etag=change.etag,
            event_count=change.event["seq"],
        )
    )
    if updated.rowcount != 1:
        raise _Raced()
    await connection.execute(insert(ScaffoldEvent), [change.event])
    await record_change(connection, REPRESENTATION_CHANGED, tenant.id)  # replays answer the new one
    key_row = {
        "tenant_id": tenant.id,
        "idempotency_key": attempt.key,
        "fingerprint": attempt.fingerprint,
        "scaffold_id": registration.id,
        "event_id": change.event["id"],
        "created_at": now,
        "expires_at": now + ttl,
    }
    await connection.execute(insert(EventIdempotencyRecord), [key_row])
    if change.sample is not None:
        await record_samples(connection, tenant.id, [change.sample], count=False)
    location = location_of(tenant.id, attempt.feature_slug)
    return EventResult(True, change.document, change.etag, location), change.sample is not None


@dataclass(frozen=True)
class _Change:
    status: str
    event: dict[str, Any]
    document: bytes
    etag: str
    sample: NewSample | None


def _apply(tenant: TenantRef, attempt: EventAttempt, registration: Any, now: datetime) -> _Change:
    """The event's row, the registration's new status and representation, and the SC-001 sample at publish
    (or the refusal: InvalidInput for occurredAt, InvalidTransition)."""
    request = attempt.request
    occurred_at = to_millisecond(request.occurredAt or now)
    _check_occurred_at(occurred_at, registration.initiated_at, now)
    status = next_status(registration.status, request.type, attempt.feature_slug)
    event = {
        "id": uuid.uuid4(),
        "tenant_id": tenant.id,
        "scaffold_id": registration.id,
        "seq": registration.event_count + 1,
        "type": request.type.value,
        "occurred_at": occurred_at,
        "recorded_at": now,
        "commit_hash": request.commitHash,
        "pipeline_url": request.pipelineUrl,
        "stage": request.stage.value if request.stage else None,
        "detail": request.detail,
    }
    representation = json.loads(registration.document)
    _append_event(representation, event)
    representation["status"] = status
    sample = None
    if request.type is EventType.published:
        lead_time = minutes_between(registration.initiated_at, occurred_at)
        representation["leadTimeMinutes"] = lead_time
        if registration.duration_ms is None:  # else the registration's own sample is SC-001's
            slug = attempt.feature_slug
            sample = NewSample("SC-001", lead_time, occurred_at, "ci", slug, registration.id)
            representation["metrics"] = [sample_document("SC-001", lead_time, occurred_at, "ci", slug)]
    document = canonical_json(representation).encode()
    return _Change(status, event, document, weak_etag_of_canonical(document), sample)


async def _replay(
    connection: AsyncConnection, tenant: TenantRef, attempt: EventAttempt, now: datetime
) -> EventResult | None:
    """The stored registration when this key was already used with this payload; 422 with another one."""
    record = (
        await connection.execute(
            select(
                EventIdempotencyRecord.fingerprint,
                EventIdempotencyRecord.expires_at,
                ScaffoldRegistration.document,
                ScaffoldRegistration.etag,
                ScaffoldRegistration.feature_slug,
            )
            .join(ScaffoldRegistration, ScaffoldRegistration.id == EventIdempotencyRecord.scaffold_id)
            .where(
                EventIdempotencyRecord.tenant_id == tenant.id,
                EventIdempotencyRecord.idempotency_key == attempt.key,
            )
        )
    ).first()
    if record is None:
        return None
    if record.expires_at <= now:
        await connection.execute(
            delete(EventIdempotencyRecord).where(
                EventIdempotencyRecord.tenant_id == tenant.id,
                EventIdempotencyRecord.idempotency_key == attempt.key,
            )
        )
        return None
    if record.fingerprint != attempt.fingerprint:
        raise IdempotencyKeyReused("This Idempotency-Key was already used with a different payload.")
    location = location_of(tenant.id, record.feature_slug)
    return EventResult(False, record.document.encode(), record.etag, location)


def _check_occurred_at(occurred_at: datetime, initiated_at: datetime, now: datetime) -> None:
    if occurred_at > now + MAX_CLOCK_SKEW:
        message = f"must not be more than 5 minutes after the server's time ({rfc3339(now)})"
    elif occurred_at < to_millisecond(initiated_at):
        message = f"must not be before the registration's initiatedAt ({rfc3339(initiated_at)})"
    else:
        return
    raise InvalidInput(f"occurredAt {message}.", errors=[FieldError("occurredAt", message)])


def next_status(current: str, event: EventType, feature_slug: str) -> str:
    """The status after ``event``; InvalidTransition when it would go backwards or follow publication."""
    if current == "published":
        raise InvalidTransition(
            f"Feature {feature_slug!r} is already published; no event is accepted after publication.",
        )
    if event is EventType.failed:
        return current
    if _RANK[event.value] < _RANK[current]:
        raise InvalidTransition(
            f"Feature {feature_slug!r} is {current}; a {event.value} event would move it backwards.",
        )
    return event.value


def event_document(event: dict[str, Any]) -> dict[str, Any]:
    document: dict[str, Any] = {
        "type": event["type"],
        "occurredAt": rfc3339(event["occurred_at"]),
        "recordedAt": rfc3339(event["recorded_at"]),
    }
    for name, column in (
        ("commitHash", "commit_hash"),
        ("pipelineUrl", "pipeline_url"),
        ("stage", "stage"),
        ("detail", "detail"),
    ):
        if event[column] is not None:
            document[name] = event[column]
    return document


def _append_event(representation: dict[str, Any], event: dict[str, Any]) -> None:
    """Keep events ordered by ``occurredAt`` (RFC 3339 UTC strings sort as instants), ties by arrival."""
    events: list[dict[str, Any]] = representation.setdefault("events", [])
    document = event_document(event)
    position = bisect.bisect_right([e["occurredAt"] for e in events], document["occurredAt"])
    events.insert(position, document)
