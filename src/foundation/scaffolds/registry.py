"""The feature-scaffold registry as the HTTP layer uses it: registrations go through the group-commit queue
(scaffolds/batching.py), reads straight to the database."""

from __future__ import annotations

from datetime import timedelta

from foundation.db import Database
from foundation.scaffolds import service
from foundation.scaffolds.batching import RegistrationQueue
from foundation.scaffolds.schemas import ScaffoldRequest
from foundation.success_metrics.service import SampleService
from foundation.tenancy.service import TenantRef


class ScaffoldService:
    def __init__(self, db: Database, samples: SampleService, *, idempotency_ttl: timedelta) -> None:
        self.db = db
        self.queue = RegistrationQueue(db, idempotency_ttl, samples_changed=samples.changed)

    async def register(self, tenant: TenantRef, key: str, request: ScaffoldRequest) -> service.Registration:
        """Created or replayed; refusals (409, 422) are raised as domain errors."""
        return await self.queue.register(tenant, service.Attempt.of(key, request))

    async def get(self, tenant: TenantRef, feature_slug: str) -> tuple[bytes, str]:
        """The stored representation and its ETag."""
        return await service.get_registration(self.db, tenant, feature_slug)
