"""The feature-scaffold registry as the HTTP layer uses it: registrations go through the group-commit queue
(scaffolds/batching.py), lifecycle events (scaffolds/lifecycle.py) and reads straight to the database."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from foundation.db import Database
from foundation.http.pagination import Page
from foundation.http.read_cache import ReadCache
from foundation.scaffolds import lifecycle, listing, service
from foundation.scaffolds.batching import RegistrationQueue
from foundation.scaffolds.kept_keys import KeptKeys
from foundation.scaffolds.schemas import ScaffoldEventRequest, ScaffoldRequest
from foundation.success_metrics.service import SampleService
from foundation.tenancy.service import TenantRef


class ScaffoldService:
    def __init__(
        self,
        db: Database,
        samples: SampleService,
        *,
        idempotency_ttl: timedelta,
        cache: ReadCache | None = None,
    ) -> None:
        self.db = db
        self.samples = samples
        self.idempotency_ttl = idempotency_ttl
        self.kept = KeptKeys(cache if cache is not None else ReadCache(0))
        self.queue = RegistrationQueue(db, idempotency_ttl, samples_changed=samples.changed, kept=self.kept)

    async def register(self, tenant: TenantRef, key: str, request: ScaffoldRequest) -> service.Registration:
        """Created or replayed; refusals (409, 422) are raised as domain errors."""
        return await self.queue.register(tenant, service.Attempt.of(key, request))

    async def get(self, tenant: TenantRef, feature_slug: str) -> tuple[bytes, str]:
        """The stored representation and its ETag."""
        return await service.get_registration(self.db, tenant, feature_slug)

    async def record_event(
        self, tenant: TenantRef, key: str, feature_slug: str, request: ScaffoldEventRequest
    ) -> lifecycle.EventResult:
        """Recorded or replayed; refusals (404, 409 invalid_transition, 422, 400) are domain errors."""
        attempt = lifecycle.EventAttempt.of(key, feature_slug, request)
        return await lifecycle.record_event(
            self.db, tenant, attempt, self.idempotency_ttl, self.samples.changed, self.kept.forget
        )

    async def list(self, tenant: TenantRef, page: Page, *, status: str | None) -> dict[str, Any]:
        """One page of the tenant's registrations, newest first."""
        return await listing.list_registrations(self.db, tenant, page, status=status)
